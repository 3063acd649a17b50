//! The listener against what a network sends: missing and wrong tokens, malformed requests,
//! a 1 MB header, a client sending one byte a second, more idle connections than the limit,
//! a burst of snapshot requests. Through all of it the frame loop keeps going (its stdout
//! frame lines keep coming), the process keeps a bounded number of threads, and the listener
//! answers again afterwards. Also: the token rules of `[http]` at start-up.

#[path = "support/board.rs"]
mod board;

use board::{request, Board, TOKEN};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A run that lasts longer than the test; stopped with SIGTERM.
fn long_board() -> Board {
    Board::start(&board::config(
        1_000_000,
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\""),
    ))
}

/// Waits (bounded) until the frame loop has printed `n` more frame lines.
fn frames_advance(board: &Board, n: u64, what: &str) {
    let start = board.frame_lines.load(Ordering::Relaxed);
    let t = Instant::now();
    while board.frame_lines.load(Ordering::Relaxed) < start + n {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the frame loop stalled {what}\n{}",
            board.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until `/status` answers 200 again.
fn answers_again(board: &Board, what: &str) {
    let t = Instant::now();
    loop {
        let raw = format!(
            "GET /status HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        if let Ok(r) = request(board.addr, &raw) {
            if r.status == 200 {
                return;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the listener does not answer {what}\n{}",
            board.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn raw_status(board: &Board, raw: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(board.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may close before taking everything: a write error is an answer too.
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    board::parse_response(&buf).ok().map(|r| r.status)
}

#[test]
fn tokens_are_required_and_checked() {
    let board = long_board();
    let get = |extra: &str, path: &str| {
        request(
            board.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: b\r\n{extra}Connection: close\r\n\r\n"),
        )
        .unwrap()
    };
    for path in ["/", "/status", "/metrics", "/snapshot.jpg", "/api/counts"] {
        let r = get("", path);
        assert_eq!(r.status, 401, "{path} without a token");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(
            get("Authorization: Bearer wrong-token-0123456789abc\r\n", path).status,
            401
        );
        assert_eq!(get("", &format!("{path}?token=wrong")).status, 401);
        // The token's length is no shortcut: a prefix is wrong too.
        assert_eq!(
            get("", &format!("{path}?token={}", &TOKEN[..10])).status,
            401
        );
    }
    let r = get(&format!("Authorization: Bearer {TOKEN}\r\n"), "/status");
    assert_eq!(r.status, 200);
    let r = get("", &format!("/status?token={TOKEN}"));
    assert_eq!(r.status, 200);
    let r = get("", &format!("/metrics?token={TOKEN}"));
    assert!(r.text().contains("ssd_edge_frames_total"));
    // The live frame, with its index.
    let r = get("", &format!("/snapshot.jpg?token={TOKEN}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    let img = image::load_from_memory(&r.body).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (300, 300));
    assert!(r.header("x-frame-index").is_some());
    // Unknown paths and methods.
    assert_eq!(
        get(&format!("Authorization: Bearer {TOKEN}\r\n"), "/nope").status,
        404
    );
    let r = request(
        board.addr,
        &format!("POST /status HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(r.status, 405);
    assert!(board.stop().success());
}

#[test]
fn malformed_huge_slow_and_idle_clients_do_not_stall_the_frame_loop() {
    let board = long_board();
    frames_advance(&board, 3, "at start");
    let threads_before = board.threads();

    // Malformed requests: a 4xx/5xx answer, never a crash.
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: b\r\nContent-Length: -1\r\n\r\n",
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
        b"GET /status?token=%ZZ HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: b\r\nBad Header Line\r\n\r\n",
    ] {
        let status = raw_status(&board, raw);
        assert!(
            status.is_some_and(|s| (400..600).contains(&s)),
            "{:?} -> {status:?}",
            String::from_utf8_lossy(raw)
        );
    }
    answers_again(&board, "after malformed requests");

    // A 1 MB header: refused (431) or cut off; the board goes on.
    let mut huge =
        format!("GET /status HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nX-Big: ");
    huge.push_str(&"a".repeat(1 << 20));
    huge.push_str("\r\n\r\n");
    let status = raw_status(&board, huge.as_bytes());
    assert!(status.is_none_or(|s| s == 431), "{status:?}");
    frames_advance(&board, 3, "after a 1 MB header");
    answers_again(&board, "after a 1 MB header");

    // One byte a second: the listener drops it once the head timeout passes, and serves
    // others meanwhile.
    let addr = board.addr;
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let head =
            format!("GET /status HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
        for b in head.bytes() {
            if s.write_all(&[b]).is_err() {
                return true; // closed on us
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        // Only a server with no head timeout answers a head that took a minute.
        !buf.starts_with(b"HTTP/1.1 200")
    });
    frames_advance(&board, 3, "with a slow client");
    answers_again(&board, "with a slow client");
    assert!(
        slow.join().unwrap(),
        "a one-byte-a-second client was served"
    );

    // Twice the connection limit, idle: the frame loop is unaffected, the thread count stays
    // bounded, and once the idle ones time out the listener answers again.
    let idle: Vec<TcpStream> = (0..64)
        .filter_map(|_| TcpStream::connect(board.addr).ok())
        .collect();
    frames_advance(&board, 3, "with 64 idle connections");
    let threads_idle = board.threads();
    assert!(
        threads_idle <= threads_before + 2,
        "threads {threads_before} -> {threads_idle} with idle connections"
    );
    answers_again(&board, "after idle connections");
    drop(idle);

    // A burst of snapshot requests: encoded on the bounded workers; frames go on.
    let burst: Vec<_> = (0..12)
        .map(|_| {
            std::thread::spawn(move || {
                request(
                    addr,
                    &format!("GET /snapshot.jpg HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"),
                )
                .map(|r| r.status)
            })
        })
        .collect();
    frames_advance(&board, 3, "during a snapshot burst");
    for t in burst {
        assert_eq!(t.join().unwrap(), Ok(200));
    }
    let threads_after = board.threads();
    assert!(
        threads_after <= threads_before + 2,
        "threads {threads_before} -> {threads_after}"
    );
    let log = board.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(board.stop().success());
}

#[test]
fn a_network_listener_without_a_token_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    for (http, needle) in [
        ("listen = \"0.0.0.0:0\"", "shows the camera to the network"),
        ("listen = \"0.0.0.0:0\"\ntoken = \"short\"", "at least 16"),
        ("listen = \"somewhere\"", "IP:PORT"),
        ("listen = \"127.0.0.1:0\"\nport = 80", "unknown field"),
    ] {
        let cfg = dir.path().join("edge.toml");
        std::fs::write(&cfg, board::config(10, http)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ssd-edge"))
            .args(["run", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{http}: started anyway\n{err}");
        assert!(err.contains(needle), "{http}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// DNS rebinding (issue 32): without a token, a request naming a foreign host is refused on
/// every endpoint with 421 and a body saying why; loopback names, IP literals and the names
/// in `allowed_hosts` are served.
#[test]
fn foreign_host_names_are_refused_without_a_token() {
    let board = Board::start(&board::config(
        1_000_000,
        "listen = \"127.0.0.1:0\"\nallowed_hosts = [\"cam.example\"]",
    ));
    let port = board.addr.port();
    let get = |host: &str, path: &str| {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        request(board.addr, &raw).unwrap_or_else(|e| panic!("{host} {path}: {e}"))
    };
    let served = [
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{port}"),
        "localhost".into(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "cam.example".into(),
        format!("CAM.EXAMPLE:{port}"),
    ];
    for host in &served {
        let r = get(host, "/status");
        assert_eq!(r.status, 200, "{host}: {}", r.text());
    }
    let refused = [
        "attacker.example".to_string(),
        format!("attacker.example:{port}"),
        "localhost.attacker.example".into(),
        "127.0.0.1.nip.io".into(),
        "cam.example.attacker.example".into(),
    ];
    for host in &refused {
        for path in ["/", "/status", "/metrics", "/snapshot.jpg", "/api/counts"] {
            let r = get(host, path);
            assert_eq!(r.status, 421, "{host} {path}: {}", r.text());
            let t = r.text();
            assert!(
                t.contains(host.as_str()) && t.contains("allowed_hosts"),
                "{t}"
            );
        }
    }
    // Absolute-form requests are judged by their authority, not a Host that disagrees.
    let raw = "GET http://attacker.example/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert_eq!(request(board.addr, raw).unwrap().status, 421);
    board.stop();
}

/// `/api/counts` is bounded per answer (rows, rows x columns: 413 beyond) and in all answers
/// together (one computed at a time: 503 with Retry-After for the others), and the frame loop
/// keeps counting through a burst of worst-case requests.
#[test]
fn counts_answers_are_bounded_alone_and_together() {
    let board = long_board();
    frames_advance(&board, 3, "at start");
    let raw = |q: &str| {
        format!(
            "GET /api/counts?{q} HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
    };
    // Eleven years by hour: ~98,000 rows.
    let worst = raw("from=2015-08-01&to=2026-12-04&by=hour");
    let r = request(board.addr, &worst).unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("over the bound of 10000 rows"),
        "{}",
        r.text()
    );
    let r = request(board.addr, &raw("from=2026-01-01&to=2026-01-02&by=minute")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // A burst of large but allowed answers and worst-case ones, all at once.
    let addr = board.addr;
    let big = raw("from=2025-01-01&to=2025-12-31&by=hour");
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let q = if i % 2 == 0 {
                big.clone()
            } else {
                worst.clone()
            };
            std::thread::spawn(move || request(addr, &q).map(|r| r.status))
        })
        .collect();
    for h in handles {
        let status = h.join().unwrap().expect("an answer");
        assert!([200, 413, 503].contains(&status), "status {status}");
    }
    frames_advance(&board, 3, "after the burst of /api/counts");
    answers_again(&board, "after the burst");
    board.stop();
}
