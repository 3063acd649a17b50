//! The MQTT thread and its network thread.
//!
//! The network thread owns rumqttc's connection and does nothing but drive it: it forwards
//! connects, losses, packet ids and acknowledgements, and waits out the back-off between
//! attempts. The MQTT thread owns everything else: the outbox of events not yet acknowledged,
//! the retained state (totals, occupancy), discovery, stats. It publishes only while
//! connected, so a request never waits in rumqttc across a reconnect.
//!
//! At-least-once for events: an event leaves the outbox only on its PubAck. rumqttc reports
//! the packet id of each publish (`Outgoing::Publish`) in the order the publishes were
//! handed to it, which is how a PubAck is matched to its event. On a lost connection every
//! event sent but not acknowledged goes back into the outbox and is sent again, in order,
//! after the next connect (clean session: the broker keeps nothing for us). A consumer can
//! drop duplicates by (`run`, `seq`).

use super::config::MqttConfig;
use super::discovery::Discovery;
use super::topics::{event_json, stats_json, LinkStats, Topics};
use super::{CountKeys, Gap, Msg, StoreLink};
use crate::count::{Event, TotalKey};
use crate::sink::{RunStats, SinkError};
use rumqttc::{
    Client, ClientError, Connection, Event as MqttEvent, Incoming, LastWill, MqttOptions,
    MqttState, Outgoing, QoS, Transport,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
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
/// Overflow ranges kept for reading back from the store; past this, the last one grows
/// (events between are then sent twice, never lost).
const MAX_GAPS: usize = 1024;
const REPLAY_EVERY: Duration = Duration::from_secs(1);

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

struct Pending {
    event: Event,
    total: Option<u64>,
    replayed: bool,
}

/// One publish handed to rumqttc, waiting for its packet id.
enum Tag {
    Event(u64, Pending),
    Other,
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
        addr: format!("{}:{}", cfg.host, cfg.port()),
        outbox_cap: cfg.outbox,
        linger: Duration::from_secs_f64(cfg.linger),
        run: crate::wall_clock::unix_ms(),
        totals: keys.totals.into_iter().collect(),
        occupancy: keys.occupancy.into_iter().map(|k| (k, 0)).collect(),
        dirty_totals: BTreeSet::new(),
        dirty_occupancy: BTreeSet::new(),
        topics,
        discovery,
        client,
        rx,
        net_rx,
        resume_tx,
        stop,
        done_rx,
        connected: false,
        connects: 0,
        unsent: BTreeMap::new(),
        awaiting: VecDeque::new(),
        collided: None,
        inflight: HashMap::new(),
        control: VecDeque::new(),
        gaps: VecDeque::new(),
        store,
        replay: None,
        last_replay: None,
        prev_stats: None,
        last_stats: None,
        stats_every: Duration::from_secs_f64(cfg.stats_interval),
        stats: LinkStats::default(),
        link,
        warned_down: false,
        warned_drop: false,
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
    addr: String,
    outbox_cap: usize,
    linger: Duration,
    /// The run's start, Unix ms: with `seq`, an event's identity.
    run: i64,
    totals: BTreeMap<TotalKey, u64>,
    occupancy: BTreeMap<(String, String), u32>,
    dirty_totals: BTreeSet<TotalKey>,
    dirty_occupancy: BTreeSet<(String, String)>,
    topics: Topics,
    discovery: Option<Discovery>,
    client: Client,
    rx: Receiver<Msg>,
    net_rx: Receiver<Net>,
    resume_tx: Sender<()>,
    stop: Arc<AtomicBool>,
    done_rx: Receiver<()>,
    connected: bool,
    connects: u64,
    /// Events not yet handed to rumqttc, by seq.
    unsent: BTreeMap<u64, Pending>,
    /// Publishes handed to rumqttc, in order, until rumqttc names their packet id.
    awaiting: VecDeque<Tag>,
    /// A publish rumqttc holds back on a packet-id collision; it is the next one sent.
    collided: Option<Tag>,
    /// Events sent, by packet id, until their PubAck.
    inflight: HashMap<u16, (u64, Pending)>,
    /// Retained and QoS 0 messages to send, in order (availability, discovery).
    control: VecDeque<(String, Vec<u8>, QoS, bool)>,
    /// Events that found the queue or the outbox full, to read back from the store.
    gaps: VecDeque<Gap>,
    // Without the store feature there is nothing to read back from.
    #[cfg_attr(not(feature = "store"), allow(dead_code))]
    store: Option<StoreLink>,
    #[cfg(feature = "store")]
    replay: Option<super::replay::Replay>,
    #[cfg(not(feature = "store"))]
    #[allow(dead_code)]
    replay: Option<()>,
    last_replay: Option<Instant>,
    /// (frames, uptime_ms) of the last stats message, for its fps.
    prev_stats: Option<(u64, u64)>,
    /// The last stats from the frame loop and when they came: a camera that sends nothing
    /// means no frames and so no stats, and the MQTT thread then repeats them (fps 0).
    last_stats: Option<(RunStats, Instant)>,
    stats_every: Duration,
    stats: LinkStats,
    link: Arc<Mutex<LinkStats>>,
    warned_down: bool,
    warned_drop: bool,
}

impl Worker {
    fn run(mut self) {
        log::info!(
            "mqtt: publishing to {} under {}/",
            self.addr,
            self.topics.base
        );
        loop {
            self.net(Duration::from_millis(10));
            let ended = self.frames();
            if self.connected {
                self.pump(false);
            }
            self.stalled_stats();
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

    fn outbox_len(&self) -> usize {
        let awaiting = self
            .awaiting
            .iter()
            .chain(self.collided.iter())
            .filter(|t| matches!(t, Tag::Event(..)))
            .count();
        self.unsent.len() + self.inflight.len() + awaiting
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
                    self.set_total(event.total_key(), t);
                }
                if self.outbox_len() >= self.outbox_cap {
                    self.gap(Gap::one(seq, pos));
                } else {
                    let p = Pending {
                        event,
                        total,
                        replayed: false,
                    };
                    self.unsent.insert(seq, p);
                }
            }
            Msg::Total { key, count } => self.set_total(key, count),
            Msg::Occupancy { zone, label, count } => {
                let key = (zone.to_string(), label.to_string());
                if self.occupancy.get(&key) != Some(&count) {
                    self.occupancy.insert(key.clone(), count);
                    self.dirty_occupancy.insert(key);
                }
            }
            Msg::Stats(s) => self.on_stats(&s),
            Msg::Gap(g) => self.gap(g),
        }
    }

    fn set_total(&mut self, key: TotalKey, count: u64) {
        let t = self.totals.entry(key.clone()).or_insert(0);
        // Totals only grow; a smaller value is an older message.
        if count > *t {
            *t = count;
            self.dirty_totals.insert(key);
        }
    }

    /// Events that will not be in the outbox: kept for the store to fill in, or dropped.
    fn gap(&mut self, g: Gap) {
        if !self.can_replay() {
            self.stats.dropped += g.len();
            if !self.warned_drop {
                self.warned_drop = true;
                log::warn!(
                    "mqtt: outbox full ({} events); new events are dropped until the broker \
                     takes them (totals stay exact)",
                    self.outbox_cap
                );
            }
            return;
        }
        if !self.warned_drop {
            self.warned_drop = true;
            log::warn!(
                "mqtt: outbox full ({} events); later events will be read back from the store",
                self.outbox_cap
            );
        }
        let full = self.gaps.len() >= MAX_GAPS;
        match self.gaps.back_mut() {
            Some(last) if last.last + 1 == g.first => {
                last.last = g.last;
                last.to = g.to;
            }
            Some(last) if full => {
                last.last = last.last.max(g.last);
                last.to = last.to.max(g.to);
            }
            _ => self.gaps.push_back(g),
        }
    }

    fn can_replay(&mut self) -> bool {
        #[cfg(feature = "store")]
        {
            self.open_replay();
            self.replay.as_ref().is_some_and(|r| r.can_replay())
        }
        #[cfg(not(feature = "store"))]
        false
    }

    #[cfg(feature = "store")]
    fn open_replay(&mut self) {
        if self.replay.is_some() {
            return;
        }
        if let Some(link) = &self.store {
            match super::replay::Replay::open(&link.path, link.run_id) {
                Ok(r) => self.replay = Some(r),
                Err(e) => {
                    log::warn!("mqtt: cannot read the store: {e}");
                    self.store = None;
                }
            }
        }
    }

    /// Totals from the store: never lower than what was published, never lower than the
    /// database (it may know more than the queue brought here).
    fn totals_from_store(&mut self) {
        #[cfg(feature = "store")]
        {
            self.open_replay();
            let Some(r) = &self.replay else { return };
            match r.totals() {
                Ok(totals) => {
                    for (k, n) in totals {
                        // Keys this configuration no longer has stay as they are.
                        if self.totals.contains_key(&k) {
                            self.set_total(k, n);
                        }
                    }
                }
                Err(e) => log::warn!("mqtt: reading the totals from the store: {e}"),
            }
        }
    }

    /// Reads back gap events while the outbox has room (once the store has committed them,
    /// or at the end of the run, when everything is committed).
    fn replay(&mut self, finishing: bool) {
        #[cfg(feature = "store")]
        {
            if self.gaps.is_empty() {
                return;
            }
            if !finishing && self.last_replay.is_some_and(|t| t.elapsed() < REPLAY_EVERY) {
                return;
            }
            self.last_replay = Some(Instant::now());
            let Some(r) = &self.replay else { return };
            let committed = match r.last_frame() {
                Ok(f) => f,
                Err(e) => {
                    log::warn!("mqtt: reading events back from the store: {e}");
                    return;
                }
            };
            while let Some(g) = self.gaps.front().copied() {
                if !finishing && committed.is_none_or(|f| f <= g.to.0) {
                    return;
                }
                let room = self.outbox_cap.saturating_sub(self.outbox_len());
                if room == 0 {
                    return;
                }
                let found = match r.gap(&g, room) {
                    Ok(f) => f,
                    Err(e) => {
                        log::warn!("mqtt: reading events back from the store: {e}");
                        return;
                    }
                };
                self.gaps.pop_front();
                if let Some(rest) = found.rest {
                    self.gaps.push_front(rest);
                }
                self.stats.dropped += found.missing;
                self.stats.replayed += found.events.len() as u64;
                for (i, event) in found.events.into_iter().enumerate() {
                    let p = Pending {
                        event,
                        total: None,
                        replayed: true,
                    };
                    self.unsent.insert(g.first + i as u64, p);
                }
            }
        }
        #[cfg(not(feature = "store"))]
        let _ = (finishing, REPLAY_EVERY, &self.last_replay);
    }

    fn on_net(&mut self, n: Net) {
        match n {
            Net::Connected => {
                self.connected = true;
                if self.connects > 0 {
                    self.stats.reconnects += 1;
                }
                self.connects += 1;
                self.warned_down = false;
                log::info!("mqtt: connected to {}", self.addr);
                self.announce();
            }
            Net::Lost {
                error,
                was_connected,
            } => {
                if was_connected || !self.warned_down {
                    log::warn!("mqtt: {}: {error}; retrying with back-off", self.addr);
                    self.warned_down = true;
                }
                if self.connected {
                    self.connected = false;
                    self.requeue();
                }
                if was_connected {
                    let _ = self.resume_tx.send(());
                }
            }
            Net::Published(pkid) => {
                let tag = self.collided.take().or_else(|| self.awaiting.pop_front());
                if let Some(Tag::Event(seq, p)) = tag {
                    self.inflight.insert(pkid, (seq, p));
                }
            }
            Net::AwaitAck => self.collided = self.awaiting.pop_front(),
            Net::Acked(pkid) => {
                if self.inflight.remove(&pkid).is_some() {
                    self.stats.acked += 1;
                }
            }
        }
    }

    /// Everything sent and not acknowledged goes back to the outbox, for the next connection.
    fn requeue(&mut self) {
        let awaiting = std::mem::take(&mut self.awaiting);
        for t in awaiting.into_iter().chain(self.collided.take()) {
            if let Tag::Event(seq, p) = t {
                self.unsent.insert(seq, p);
            }
        }
        for (_, (seq, p)) in self.inflight.drain() {
            self.unsent.insert(seq, p);
        }
        self.control.clear();
    }

    /// On every connect: `online`, the discovery configs, and every retained value again
    /// (the broker may have restarted without its retained messages).
    fn announce(&mut self) {
        self.control.clear();
        let retained = |t: String, p: Vec<u8>| (t, p, QoS::AtLeastOnce, true);
        self.control
            .push_back(retained(self.topics.availability(), b"online".to_vec()));
        if let Some(d) = &self.discovery {
            for k in self.totals.keys() {
                let (t, p) = d.total(&self.topics, k);
                self.control.push_back(retained(t, p));
            }
            for (zone, label) in self.occupancy.keys() {
                let (t, p) = d.occupancy(&self.topics, zone, label);
                self.control.push_back(retained(t, p));
            }
            for (t, p) in d.stats(&self.topics) {
                self.control.push_back(retained(t, p));
            }
        }
        self.totals_from_store();
        self.dirty_totals = self.totals.keys().cloned().collect();
        self.dirty_occupancy = self.occupancy.keys().cloned().collect();
    }

    fn try_publish(&mut self, topic: String, qos: QoS, retain: bool, payload: Vec<u8>) -> bool {
        match self.client.try_publish(topic, qos, retain, payload) {
            Ok(()) => true,
            Err(ClientError::TryRequest(_)) | Err(ClientError::Request(_)) => false,
        }
    }

    /// Sends what waits, in order of importance, until rumqttc's queue is full.
    fn pump(&mut self, finishing: bool) {
        while let Some((t, p, qos, retain)) = self.control.front().cloned() {
            if !self.try_publish(t, qos, retain, p) {
                return;
            }
            self.control.pop_front();
            self.awaiting.push_back(Tag::Other);
        }
        while let Some(k) = self.dirty_totals.first().cloned() {
            let n = self.totals.get(&k).copied().unwrap_or(0);
            let topic = self.topics.total(&k);
            if !self.try_publish(topic, QoS::AtLeastOnce, true, n.to_string().into_bytes()) {
                return;
            }
            self.dirty_totals.pop_first();
            self.awaiting.push_back(Tag::Other);
        }
        while let Some(k) = self.dirty_occupancy.first().cloned() {
            let n = self.occupancy.get(&k).copied().unwrap_or(0);
            let topic = self.topics.occupancy(&k.0, &k.1);
            if !self.try_publish(topic, QoS::AtLeastOnce, true, n.to_string().into_bytes()) {
                return;
            }
            self.dirty_occupancy.pop_first();
            self.awaiting.push_back(Tag::Other);
        }
        self.replay(finishing);
        let topic = self.topics.events();
        while let Some((seq, p)) = self.unsent.pop_first() {
            let payload = event_json(&p.event, self.run, seq, p.total, p.replayed);
            if !self.try_publish(topic.clone(), QoS::AtLeastOnce, false, payload) {
                self.unsent.insert(seq, p);
                return;
            }
            self.stats.published += 1;
            self.awaiting.push_back(Tag::Event(seq, p));
        }
    }

    fn stalled_stats(&mut self) {
        let Some((mut s, at)) = self.last_stats else {
            return;
        };
        let since = at.elapsed();
        if since >= 2 * self.stats_every {
            s.uptime_ms += since.as_millis() as u64;
            self.on_stats(&s);
        }
    }

    fn on_stats(&mut self, s: &RunStats) {
        self.last_stats = Some((*s, Instant::now()));
        let fps = match self.prev_stats {
            Some((f, t)) if s.uptime_ms > t => {
                (s.frames.saturating_sub(f)) as f64 * 1000.0 / (s.uptime_ms - t) as f64
            }
            _ if s.uptime_ms > 0 => s.frames as f64 * 1000.0 / s.uptime_ms as f64,
            _ => 0.0,
        };
        self.prev_stats = Some((s.frames, s.uptime_ms));
        if !self.connected {
            return;
        }
        self.update_link();
        let payload = stats_json(s, fps, &self.stats);
        if self.try_publish(self.topics.stats(), QoS::AtMostOnce, false, payload) {
            self.awaiting.push_back(Tag::Other);
        }
    }

    fn update_link(&mut self) {
        self.stats.connected = self.connected;
        self.stats.outbox =
            (self.outbox_len() + self.gaps.iter().map(|g| g.len() as usize).sum::<usize>()) as u64;
    }

    fn publish_link(&mut self) {
        self.update_link();
        if let Ok(mut l) = self.link.lock() {
            *l = self.stats;
        }
    }

    fn settled(&self) -> bool {
        self.connected
            && self.outbox_len() == 0
            && self.gaps.is_empty()
            && self.control.is_empty()
            && self.dirty_totals.is_empty()
            && self.dirty_occupancy.is_empty()
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
            if self.connected {
                self.pump(true);
                if self.settled() {
                    break;
                }
            }
            self.net(Duration::from_millis(10));
        }
        if self.connected {
            let offline = self.try_publish(
                self.topics.availability(),
                QoS::AtLeastOnce,
                true,
                b"offline".to_vec(),
            );
            if offline {
                self.awaiting.push_back(Tag::Other);
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
        let left = self.outbox_len() as u64 + self.gaps.iter().map(Gap::len).sum::<u64>();
        if left > 0 {
            log::warn!(
                "mqtt: {left} events were not acknowledged by the broker before the end \
                 (they are in the store, if there is one)"
            );
        }
        self.stats.dropped += left;
        self.publish_link();
        let s = self.stats;
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
