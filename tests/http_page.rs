//! The status page in a real headless Chromium, served by a real run (token-protected, the
//! token in the page's URL as a browser would have it): it renders with no console message,
//! and the counts it shows are `/api/counts`' (the query the page says it used). With
//! `SSD_EDGE_SCREENSHOT=docs/status-page.png` it also saves a screenshot there.

#[path = "support/board.rs"]
mod board;

use board::{Board, TOKEN};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in ["/usr/bin", "/usr/local/bin", "/snap/bin"] {
            let p = Path::new(dir).join(name);
            if p.exists() {
                return p;
            }
        }
    }
    panic!("chromium is not installed: `make setup` installs it (APT_PACKAGES)");
}

/// Chromium's flags for a root user in a container with no network but loopback.
fn browser(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=8000",
        "--window-size=1280,1120",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// `data-col="NAME"...>N<` of every count cell the page shows.
fn shown_counts(dom: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for part in dom.split("data-col=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        let text = rest.split_once('>').unwrap().1.split('<').next().unwrap();
        let n: u64 = text
            .replace(',', "")
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("count cell {name:?} shows {text:?}"));
        assert!(out.insert(name.to_string(), n).is_none(), "{name} twice");
    }
    out
}

fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect()
}

#[test]
fn the_status_page_renders_the_boards_counts_without_errors() {
    let browser_path = chromium();
    let board = Board::start(&board::config(
        240,
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\nserve_after_end = true"),
    ));
    board.wait_ended();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/?token={TOKEN}", board.addr);

    // Without the token the page itself is refused.
    let r = board::request(
        board.addr,
        "GET / HTTP/1.1\r\nHost: board\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 401);

    let out = browser(profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", browser_path.display()));
    let dom = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed:\n{stderr}");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page did not load its data:\n{dom}\n---\n{stderr}"
    );
    let console = console_lines(&stderr);
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );

    // The counts shown are the API's for the query the page names.
    let query = dom
        .split("data-counts-query=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page names its counts query")
        .replace("&amp;", "&");
    let api = board.get(&format!("/{query}")).json();
    let want: BTreeMap<String, u64> = api["columns"]
        .as_array()
        .unwrap()
        .iter()
        .zip(api["totals"].as_array().unwrap())
        .map(|(c, n)| (c["name"].as_str().unwrap().to_string(), n.as_u64().unwrap()))
        .collect();
    let shown = shown_counts(&dom);
    for col in [
        "middle in",
        "middle out",
        "left_kerb entries",
        "left_kerb exits",
        "left_kerb loitering",
    ] {
        assert!(shown.contains_key(col), "{col} not shown: {shown:?}");
    }
    for (col, n) in &shown {
        assert_eq!(want.get(col).copied().unwrap_or(0), *n, "{col}");
    }
    assert!(
        want.iter().all(|(c, n)| shown.get(c) == Some(n)),
        "api {want:?} page {shown:?}"
    );
    assert!(shown["middle in"] + shown["middle out"] > 0, "{shown:?}");
    // One chart bar group per hour of today, summing lines' crossings and zones' entries.
    let bars = dom.matches("data-hour=\"").count();
    assert!((23..=25).contains(&bars), "{bars} hour bars");
    let chart_total: u64 = dom
        .split("data-total=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        chart_total,
        shown["middle in"] + shown["middle out"] + shown["left_kerb entries"]
    );
    // The live view got its JPEG and the system card its camera state.
    assert!(dom.contains("id=\"snapshot\""));
    assert!(dom.contains("/snapshot.jpg?t="), "no snapshot loaded");
    assert!(
        dom.contains("data-state=\"ended\""),
        "camera state not shown"
    );

    // A screenshot of the same page.
    let shot = match std::env::var_os("SSD_EDGE_SCREENSHOT") {
        Some(p) => Path::new(env!("CARGO_MANIFEST_DIR")).join(p),
        None => profile.path().join("page.png"),
    };
    let out = browser(profile.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let console = console_lines(&stderr);
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
    assert!(board.stop().success());
}
