//! TLS (rustls with the ring provider) to a real Mosquitto with a test CA made by the
//! `openssl` command: the right CA connects and publishes; another CA is refused, and the
//! run still completes.
#![cfg(feature = "mqtt")]

mod mqtt_support;

use mqtt_support::*;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (`make setup` installs it)");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA named `name` in `dir/<name>.pem` (key `<name>.key`).
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// A server certificate for localhost signed by CA `ca`: `server.pem`, `server.key`.
fn server_cert(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

fn tls_broker(dir: &Path) -> Broker {
    let bdir = dir.join("broker");
    std::fs::create_dir(&bdir).unwrap();
    ca(dir, "ca");
    ca(dir, "other-ca");
    server_cert(dir, "ca");
    let d = dir.display();
    Broker::start_with(
        &bdir,
        free_port(),
        &format!("cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n"),
    )
}

#[test]
fn tls_with_the_brokers_ca_publishes_and_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = tls_broker(dir.path());
    let ca = dir.path().join("ca.pem");

    let cfg = config(
        dir.path(),
        broker.port,
        &format!("tls = true\nca_file = \"{}\"", ca.display()),
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("host = \"127.0.0.1\"", "host = \"localhost\"");
    std::fs::write(&cfg, text).unwrap();
    let s = Run::start(&cfg, 150).summary();
    let m = &s["mqtt"];
    eprintln!("TLS: mqtt {m}");
    let n: u64 = store_totals(&dir.path().join("counts.db")).values().sum();
    assert!(n >= 1);
    assert_eq!(m["acked"], n, "{m}");
    // what it left retained, read back over TLS by Mosquitto's own client
    let o = Command::new("mosquitto_sub")
        .args([
            "-h",
            "localhost",
            "-p",
            &broker.port.to_string(),
            "--cafile",
        ])
        .arg(&ca)
        .args([
            "-t",
            &format!("ssd-edge/{DEVICE}/availability"),
            "-C",
            "1",
            "-W",
            "10",
        ])
        .output()
        .expect("mosquitto_sub (`make setup` installs mosquitto-clients)");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "offline");

    // a CA that did not sign the broker's certificate: refused, the run completes anyway
    let other = dir.path().join("other-ca.pem");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&ca.display().to_string(), &other.display().to_string())
        .replace("linger = 2", "linger = 0.5");
    std::fs::write(&cfg, text).unwrap();
    let run = Run::start(&cfg, 30);
    let log_run = run.stderr.clone();
    let s = run.summary();
    let log = log_run.lock().unwrap().join("\n");
    assert_eq!(s["mqtt"]["connected"], false, "{}", s["mqtt"]);
    assert_eq!(s["mqtt"]["published"], 0);
    assert!(log.contains("TLS") || log.contains("certificate"), "{log}");
}
