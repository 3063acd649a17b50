//! The MQTT thread and its network thread.
//!
//! The network thread owns rumqttc's connection and does nothing but drive it: it forwards
//! connects, losses, packet ids and acknowledgements, and waits out the back-off between
//! attempts. The MQTT thread ([`Worker`]) owns everything else and is the wiring between its
//! parts: the [`Outbox`] of events not yet acknowledged (at-least-once: an event leaves it
//! only on its PubAck, and what a lost connection leaves unacknowledged is sent again, in
//! order, after the next connect), the [`Retained`] state (totals, occupancy, availability,
//! discovery), the [`Gaps`] read back from the store, and the [`Session`] (connection state,
//! link counters, stats). It publishes only while connected, so a request never waits in
//! rumqttc across a reconnect.

use super::config::MqttConfig;
use super::discovery::Discovery;
use super::gaps::Gaps;
use super::outbox::Outbox;
use super::retained::{Message, Retained};
use super::session::{Session, StatsClock};
use super::topics::{event_json, stats_json, LinkStats, Topics};
use super::{CountKeys, Gap, Msg, StoreLink};
use crate::sink::{RunStats, SinkError};
use rumqttc::{
    Client, ClientError, Connection, Event as MqttEvent, Incoming, LastWill, MqttOptions,
    MqttState, Outgoing, QoS, Transport,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Publish requests rumqttc holds before `try_publish` says "full" (the MQTT thread then
/// waits for the network).
const REQUESTS: usize = 512;
/// Packets sent and not yet acknowledged.
const INFLIGHT: u16 = 100;
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the network thread tells the MQTT thread.
enum Net {
    Connected,
    /// The connection failed or dropped; `was_connected` says it had been up (the network
    /// thread then waits for `resume` before trying again).
    Lost {
        error: String,
        was_connected: bool,
    },
    Published(u16),
    AwaitAck,
    Acked(u16),
}

pub(super) fn spawn(
    cfg: &MqttConfig,
    keys: CountKeys,
    store: Option<StoreLink>,
    model: &str,
    rx: Receiver<Msg>,
    link: Arc<Mutex<LinkStats>>,
) -> Result<JoinHandle<()>, SinkError> {
    let failed = |message: String| SinkError::Failed {
        sink: "mqtt",
        message,
    };
    let device = cfg.device();
    let topics = Topics::new(&cfg.topic_prefix, &device);
    let mut opts = MqttOptions::new(cfg.client_id(), cfg.host.clone(), cfg.port());
    opts.set_keep_alive(Duration::from_secs(cfg.keep_alive))
        .set_clean_session(true)
        .set_inflight(INFLIGHT)
        .set_max_packet_size(1 << 16, 1 << 16)
        .set_last_will(LastWill::new(
            topics.availability(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(u) = &cfg.username {
        opts.set_credentials(u.clone(), cfg.password.clone().unwrap_or_default());
    }
    if cfg.tls {
        let ca = cfg
            .ca_file
            .as_deref()
            .expect("validated: tls needs ca_file");
        opts.set_transport(Transport::tls_with_config(
            tls_config(ca).map_err(|m| failed(format!("mqtt.ca_file {}: {m}", ca.display())))?,
        ));
    }
    let (client, mut connection) = Client::new(opts, REQUESTS);
    connection
        .eventloop
        .network_options
        .set_connection_timeout(cfg.keep_alive.clamp(1, 10));

    let (net_tx, net_rx) = channel();
    let (resume_tx, resume_rx) = channel();
    let (done_tx, done_rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let net_stop = stop.clone();
    std::thread::Builder::new()
        .name("mqtt-net".into())
        .spawn(move || net_loop(connection, net_tx, resume_rx, net_stop, done_tx))
        .map_err(|e| failed(format!("cannot start the MQTT network thread: {e}")))?;

    let discovery = cfg
        .discovery
        .then(|| Discovery::new(&cfg.discovery_prefix, &device, &topics, model));
    let worker = Worker {
        linger: Duration::from_secs_f64(cfg.linger),
        run: crate::wall_clock::unix_ms(),
        outbox: Outbox::new(cfg.outbox),
        retained: Retained::new(keys, discovery),
        gaps: Gaps::new(store),
        session: Session::new(format!("{}:{}", cfg.host, cfg.port()), link),
        clock: StatsClock::new(Duration::from_secs_f64(cfg.stats_interval)),
        topics,
        client,
        rx,
        net_rx,
        resume_tx,
        stop,
        done_rx,
    };
    std::thread::Builder::new()
        .name("mqtt".into())
        .spawn(move || worker.run())
        .map_err(|e| failed(format!("cannot start the MQTT thread: {e}")))
}

/// rustls with the ring provider, trusting the certificates of `ca` (PEM).
fn tls_config(ca: &std::path::Path) -> Result<rumqttc::TlsConfiguration, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let pem = crate::limits::read_bounded(ca, crate::limits::MAX_TEXT_FILE_BYTES)
        .map_err(|e| crate::limits::io_problem(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    // rustls' own PEM parser (rustls-pki-types), not the unmaintained rustls-pemfile
    // (RUSTSEC-2025-0134); sections other than certificates are skipped, as before.
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate file: {e}"))?;
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    if roots.is_empty() {
        return Err("no certificate in the file".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(rumqttc::TlsConfiguration::Rustls(Arc::new(config)))
}

/// The packets the MQTT thread tracks; None for the rest.
fn translate(ev: &MqttEvent) -> Option<Net> {
    match ev {
        MqttEvent::Incoming(Incoming::PubAck(a)) => Some(Net::Acked(a.pkid)),
        MqttEvent::Outgoing(Outgoing::Publish(p)) => Some(Net::Published(*p)),
        MqttEvent::Outgoing(Outgoing::AwaitAck(_)) => Some(Net::AwaitAck),
        _ => None,
    }
}

fn net_loop(
    mut conn: Connection,
    tx: Sender<Net>,
    resume: Receiver<()>,
    stop: Arc<AtomicBool>,
    done: Sender<()>,
) {
    let mut backoff = BACKOFF_FIRST;
    let mut was_connected = false;
    loop {
        let msg = match conn.recv() {
            Err(_) => break,
            Ok(Ok(MqttEvent::Incoming(Incoming::ConnAck(_)))) => {
                was_connected = true;
                backoff = BACKOFF_FIRST;
                Net::Connected
            }
            Ok(Ok(MqttEvent::Outgoing(Outgoing::Disconnect))) => break,
            Ok(Ok(ev)) => match translate(&ev) {
                Some(n) => n,
                None => continue,
            },
            Ok(Err(e)) => {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                // What rumqttc read before the error (acknowledgements above all) belongs
                // to the old connection and comes first.
                let buffered: Vec<MqttEvent> = conn.eventloop.state.events.drain(..).collect();
                for n in buffered.iter().filter_map(translate) {
                    let _ = tx.send(n);
                }
                let lost = Net::Lost {
                    error: e.to_string(),
                    was_connected,
                };
                if tx.send(lost).is_err() {
                    break;
                }
                if was_connected {
                    // Publishes the MQTT thread queued before it heard of the loss must not
                    // go out on the next connection (it resends them itself): wait until it
                    // has stopped publishing, then drop what rumqttc still holds and start
                    // from a fresh state, as a clean session should.
                    let _ = resume.recv_timeout(Duration::from_secs(2));
                    conn.eventloop.clean();
                    conn.eventloop.pending.clear();
                    conn.eventloop.state = MqttState::new(INFLIGHT, false);
                    was_connected = false;
                }
                let until = Instant::now() + backoff;
                while Instant::now() < until {
                    if stop.load(Ordering::Acquire) {
                        let _ = done.send(());
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if tx.send(msg).is_err() {
            break;
        }
    }
    let _ = done.send(());
}

struct Worker {
    linger: Duration,
    /// The run's start, Unix ms: with `seq`, an event's identity.
    run: i64,
    topics: Topics,
    client: Client,
    rx: Receiver<Msg>,
    net_rx: Receiver<Net>,
    resume_tx: Sender<()>,
    stop: Arc<AtomicBool>,
    done_rx: Receiver<()>,
    outbox: Outbox,
    retained: Retained,
    gaps: Gaps,
    session: Session,
    clock: StatsClock,
}

impl Worker {
    fn run(mut self) {
        log::info!(
            "mqtt: publishing to {} under {}/",
            self.session.addr(),
            self.topics.base
        );
        loop {
            self.net(Duration::from_millis(10));
            let ended = self.frames();
            if self.session.is_connected() {
                self.pump(false);
            }
            if let Some(s) = self.clock.stalled() {
                self.on_stats(&s);
            }
            self.publish_link();
            if ended {
                break;
            }
        }
        self.finish();
    }

    /// Handles what the network thread said, waiting up to `wait` for the first message.
    fn net(&mut self, wait: Duration) {
        match self.net_rx.recv_timeout(wait) {
            Ok(n) => self.on_net(n),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(wait);
                return;
            }
        }
        while let Ok(n) = self.net_rx.try_recv() {
            self.on_net(n);
        }
    }

    /// Takes what the frame loop queued; true once the queue is closed (the run ended).
    fn frames(&mut self) -> bool {
        for _ in 0..4096 {
            match self.rx.try_recv() {
                Ok(m) => self.on_msg(m),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
        false
    }

    /// Events not yet acknowledged: in the outbox and in the gaps.
    fn waiting(&self) -> u64 {
        self.outbox.len() as u64 + self.gaps.waiting()
    }

    fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Event {
                seq,
                pos,
                event,
                total,
            } => {
                if let Some(t) = total {
                    self.retained.set_total(event.total_key(), t);
                }
                if !self.outbox.offer(seq, event, total) {
                    self.gap(Gap::one(seq, pos));
                }
            }
            Msg::Total { key, count } => self.retained.set_total(key, count),
            Msg::Occupancy { zone, label, count } => self
                .retained
                .set_occupancy((zone.to_string(), label.to_string()), count),
            Msg::Stats(s) => self.on_stats(&s),
            Msg::Gap(g) => self.gap(g),
        }
    }

    /// Events that will not be in the outbox: kept for the store to fill in, or dropped.
    fn gap(&mut self, g: Gap) {
        let kept = self.gaps.keep(g);
        if !kept {
            self.session.stats.dropped += g.len();
        }
        self.session.overflowed(kept, self.outbox.cap());
    }

    fn totals_from_store(&mut self) {
        self.retained.stored_totals(self.gaps.totals());
    }

    fn on_net(&mut self, n: Net) {
        match n {
            Net::Connected => {
                self.session.connected();
                self.announce();
            }
            Net::Lost {
                error,
                was_connected,
            } => {
                if self.session.lost(&error, was_connected) {
                    // Everything sent and not acknowledged goes back to the outbox, for the
                    // next connection.
                    self.outbox.requeue();
                    self.retained.lost();
                }
                if was_connected {
                    let _ = self.resume_tx.send(());
                }
            }
            Net::Published(pkid) => self.outbox.published(pkid),
            Net::AwaitAck => self.outbox.collided(),
            Net::Acked(pkid) => {
                if self.outbox.acked(pkid) {
                    self.session.stats.acked += 1;
                }
            }
        }
    }

    /// On every connect: `online`, the discovery configs, and every retained value again
    /// (the broker may have restarted without its retained messages), with the store's
    /// totals.
    fn announce(&mut self) {
        self.retained.announce(&self.topics);
        self.totals_from_store();
    }

    fn try_publish(&mut self, m: Message) -> bool {
        match self.client.try_publish(m.topic, m.qos, m.retain, m.payload) {
            Ok(()) => true,
            Err(ClientError::TryRequest(_)) | Err(ClientError::Request(_)) => false,
        }
    }

    /// Sends what waits, in order of importance, until rumqttc's queue is full.
    fn pump(&mut self, finishing: bool) {
        while let Some(m) = self.retained.next(&self.topics) {
            if !self.try_publish(m) {
                return;
            }
            self.retained.pop();
            self.outbox.sent_other();
        }
        self.gaps
            .refill(&mut self.outbox, finishing, &mut self.session.stats);
        let topic = self.topics.events();
        while let Some((seq, p)) = self.outbox.next_unsent() {
            let m = Message {
                topic: topic.clone(),
                payload: event_json(&p.event, self.run, seq, p.total, p.replayed),
                qos: QoS::AtLeastOnce,
                retain: false,
            };
            if !self.try_publish(m) {
                return;
            }
            self.outbox.sent_event();
            self.session.stats.published += 1;
        }
    }

    fn on_stats(&mut self, s: &RunStats) {
        let fps = self.clock.fps(s);
        if !self.session.is_connected() {
            return;
        }
        self.session.update_link(self.waiting());
        let m = Message {
            topic: self.topics.stats(),
            payload: stats_json(s, fps, &self.session.stats),
            qos: QoS::AtMostOnce,
            retain: false,
        };
        if self.try_publish(m) {
            self.outbox.sent_other();
        }
    }

    fn publish_link(&mut self) {
        self.session.publish_link(self.waiting());
    }

    fn settled(&self) -> bool {
        self.session.is_connected()
            && self.outbox.is_empty()
            && self.gaps.is_empty()
            && self.retained.is_settled()
    }

    /// The run has ended: final totals from the store (it has committed everything by now),
    /// the gaps read back, then up to `linger` for the broker to acknowledge the rest;
    /// `offline` and a clean disconnect.
    fn finish(&mut self) {
        self.totals_from_store();
        let deadline = Instant::now() + self.linger;
        // A stop signal that comes during the wait ends it: the events not acknowledged are in
        // the store (committed before this), and `systemctl stop` should not wait `linger` out.
        // A stop that ended the frames does not: the wait is what that stop asked for.
        let signalled_before = crate::shutdown::requested();
        let mut cut = false;
        if !self.settled() {
            log::info!(
                "mqtt: the run has ended; waiting up to {:.1} s for the broker (a stop signal \
                 ends the wait)",
                self.linger.as_secs_f64()
            );
        }
        while Instant::now() < deadline {
            if !signalled_before && crate::shutdown::requested() {
                log::warn!("mqtt: a stop signal ended the wait for the broker");
                cut = true;
                break;
            }
            if self.session.is_connected() {
                self.pump(true);
                if self.settled() {
                    break;
                }
            }
            self.net(Duration::from_millis(10));
        }
        if self.session.is_connected() {
            let offline = Message {
                topic: self.topics.availability(),
                payload: b"offline".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: true,
            };
            if self.try_publish(offline) {
                self.outbox.sent_other();
            }
        }
        self.stop.store(true, Ordering::Release);
        let _ = self.client.try_disconnect();
        // Wait for the disconnect to go out (or a pending connect attempt to give up).
        let until = Instant::now() + Duration::from_secs(if cut { 0 } else { 2 });
        while Instant::now() < until {
            if self.done_rx.try_recv().is_ok() {
                break;
            }
            self.net(Duration::from_millis(10));
        }
        let left = self.waiting();
        if left > 0 {
            log::warn!(
                "mqtt: {left} events were not acknowledged by the broker before the end \
                 (they are in the store, if there is one)"
            );
        }
        self.session.stats.dropped += left;
        self.publish_link();
        let s = self.session.stats;
        log::info!(
            "mqtt: {} published, {} acknowledged, {} replayed from the store, {} dropped, {} \
             reconnects",
            s.published,
            s.acked,
            s.replayed,
            s.dropped,
            s.reconnects
        );
    }
}

#[cfg(test)]
mod tests {
    use super::tls_config;

    fn ca_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// What the PEM parser (rustls-pki-types) makes of files that hold no usable CA: each an
    /// error with a reason, never a panic or an empty trust store.
    #[test]
    fn ca_files_without_a_certificate_are_errors() {
        let err = |text: &str| {
            let (_dir, path) = ca_file(text);
            match tls_config(&path) {
                Ok(_) => panic!("accepted {text:?}"),
                Err(e) => e,
            }
        };
        assert_eq!(err("not a certificate\n"), "no certificate in the file");
        // A private key alone: other sections are skipped.
        assert_eq!(
            err("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            "no certificate in the file"
        );
        let cut = err("-----BEGIN CERTIFICATE-----\nAAAA\n");
        assert!(cut.starts_with("not a PEM certificate file: "), "{cut}");
        // Well-formed PEM around bytes that are no X.509 certificate.
        let junk = err("-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n");
        // (rejected by the trust store: the section itself was read).
        assert!(
            !junk.is_empty() && !junk.starts_with("no certificate"),
            "{junk}"
        );
        assert!(!junk.starts_with("not a PEM"), "{junk}");
    }
}
