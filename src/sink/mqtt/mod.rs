//! The MQTT output: events, retained running totals and zone occupancy, periodic stats, an
//! availability topic with a last will, and Home Assistant discovery (docs/mqtt.md).
//!
//! - `config`: the `[mqtt]` table.
//! - `topics`: topic names and payloads.
//! - `discovery`: Home Assistant's retained sensor configs.
//! - `client`: the MQTT thread and its network thread; the thread's loop wires the parts below.
//! - `outbox`: at-least-once bookkeeping of events (packet ids, acknowledgements, resends after
//!   a lost connection).
//! - `retained`: totals, occupancy and the control messages of a connect (availability,
//!   discovery), and which of them the broker has yet to get.
//! - `session`: the connection's state, the link's counters, the stats message's clock.
//! - `gaps`: events that overflowed, read back from the store (nothing without a store).
//! - `replay` (with the store): the queries behind `gaps`: events and totals read back from
//!   the store after an overflow or a reconnect.
//!
//! The frame loop only copies small structs into a bounded queue ([`Msg`]); every topic and
//! payload is formatted on the MQTT thread, and the broker being down or slow never stalls
//! the loop. When the queue is full, the frame side keeps the range of events that did not
//! fit (a [`Gap`]) and re-sends the totals once there is room: totals are absolute values, so
//! a lost message cannot make them wrong, and with a store the gap's events are read back
//! from the database.

mod client;
pub mod config;
pub mod discovery;
mod gaps;
mod outbox;
#[cfg(feature = "store")]
mod replay;
mod retained;
mod session;
pub mod topics;

pub use config::MqttConfig;
pub use topics::LinkStats;

use super::{FrameReport, RunStats, Sink, SinkError};
use crate::count::{event::name, Counter, Event, EventKind, Name, TotalKey};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Messages the frame loop can queue before the MQTT thread takes them.
const QUEUE: usize = 2048;

/// A position in the run's event stream: the frame and the event's index among that frame's
/// events (the store keeps a frame's events together, in this order).
pub type Pos = (u64, u32);

/// What goes through the queue: plain values, no heap.
pub(crate) enum Msg {
    Event {
        seq: u64,
        pos: Pos,
        event: Event,
        /// The running total of the event's key after it.
        total: Option<u64>,
    },
    Total {
        key: TotalKey,
        count: u64,
    },
    Occupancy {
        zone: Name,
        label: Name,
        count: u32,
    },
    Stats(RunStats),
    /// Events that did not fit in the queue.
    Gap(Gap),
}

/// The events `first..=last` (at positions `from..=to`) that never reached the MQTT thread's
/// outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub first: u64,
    pub last: u64,
    pub from: Pos,
    pub to: Pos,
}

impl Gap {
    fn one(seq: u64, pos: Pos) -> Self {
        Gap {
            first: seq,
            last: seq,
            from: pos,
            to: pos,
        }
    }

    fn len(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// Where the store keeps this run's events, for reading them back.
#[derive(Clone, Debug)]
pub struct StoreLink {
    pub path: PathBuf,
    /// The run's row in `runs`; None when the disk refused it at start-up (then events that
    /// overflowed cannot be found again and are counted as dropped).
    pub run_id: Option<i64>,
}

/// What the MQTT thread needs to know about the counting set-up before the run starts.
#[derive(Clone, Debug, Default)]
pub struct CountKeys {
    /// Every total this configuration can produce, with its value at start (seeded from the
    /// store).
    pub totals: Vec<(TotalKey, u64)>,
    /// Every (zone, label) pair.
    pub occupancy: Vec<(String, String)>,
}

impl CountKeys {
    pub fn of(counter: &Counter) -> Self {
        CountKeys {
            totals: counter.totals().to_vec(),
            occupancy: counter
                .occupancy()
                // As the frame side names them (a `Name`: long labels are cut).
                .map(|o| (name(o.zone).to_string(), name(o.label).to_string()))
                .collect(),
        }
    }
}

pub struct MqttSink {
    tx: Option<SyncSender<Msg>>,
    worker: Option<JoinHandle<()>>,
    link: Arc<Mutex<LinkStats>>,
    seq: u64,
    gap: Option<Gap>,
    /// Re-sending every total and occupancy after a message was lost: the next index.
    resync: Option<usize>,
    next_stats_ms: u64,
    stats_every_ms: u64,
    warned: bool,
}

impl MqttSink {
    /// Starts the MQTT thread. `model` names the Home Assistant device's model.
    pub fn start(
        cfg: &MqttConfig,
        keys: CountKeys,
        store: Option<StoreLink>,
        model: &str,
    ) -> Result<MqttSink, SinkError> {
        let (tx, rx) = sync_channel(QUEUE);
        let link = Arc::new(Mutex::new(LinkStats::default()));
        let worker = client::spawn(cfg, keys, store, model, rx, link.clone())?;
        Ok(MqttSink {
            tx: Some(tx),
            worker: Some(worker),
            link,
            seq: 0,
            gap: None,
            resync: None,
            next_stats_ms: 0,
            stats_every_ms: (cfg.stats_interval * 1000.0) as u64,
            warned: false,
        })
    }

    /// The link's counters so far (after `finish`, the final ones).
    pub fn link_stats(&self) -> LinkStats {
        *self.link.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `m`; false when the queue is full (or the thread is gone, said once).
    fn send(&mut self, m: Msg) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(m) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => {
                if !self.warned {
                    self.warned = true;
                    log::error!("mqtt: the MQTT thread has stopped; nothing more is published");
                }
                false
            }
        }
    }

    /// Sends totals then occupancy from index `i` while the queue has room.
    fn resync(&mut self, counts: &Counter, mut i: usize) {
        let totals = counts.totals();
        while i < totals.len() {
            let (key, count) = (&totals[i].0, totals[i].1);
            if !self.send(Msg::Total {
                key: key.clone(),
                count,
            }) {
                self.resync = Some(i);
                return;
            }
            i += 1;
        }
        for o in counts.occupancy().skip(i - totals.len()) {
            let m = Msg::Occupancy {
                zone: name(o.zone),
                label: name(o.label),
                count: o.count,
            };
            if !self.send(m) {
                self.resync = Some(i);
                return;
            }
            i += 1;
        }
        self.resync = None;
    }
}

fn total_of(counts: Option<&Counter>, key: &TotalKey) -> Option<u64> {
    let totals = counts?.totals();
    let i = totals.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
    Some(totals[i].1)
}

impl Sink for MqttSink {
    fn frame(&mut self, report: &FrameReport<'_>) -> Result<(), SinkError> {
        if let Some(g) = self.gap {
            if self.send(Msg::Gap(g)) {
                self.gap = None;
            }
        }
        if let (Some(i), Some(c)) = (self.resync, report.counts) {
            self.resync(c, i);
        }
        for (k, e) in report.events.iter().enumerate() {
            self.seq += 1;
            let pos = (e.frame, k as u32);
            if let Some(g) = self.gap.as_mut() {
                // Once a gap is open every event joins it, so it stays one range.
                g.last = self.seq;
                g.to = pos;
                continue;
            }
            let total = total_of(report.counts, &e.total_key());
            let m = Msg::Event {
                seq: self.seq,
                pos,
                event: e.clone(),
                total,
            };
            if !self.send(m) {
                self.gap = Some(Gap::one(self.seq, pos));
                self.resync = Some(0);
            }
        }
        if let Some(c) = report.counts {
            for e in report.events {
                if !matches!(e.kind, EventKind::Entry | EventKind::Exit) {
                    continue;
                }
                let count = c
                    .occupancy()
                    .find(|o| name(o.zone) == e.place && name(o.label) == e.label)
                    .map_or(0, |o| o.count);
                let m = Msg::Occupancy {
                    zone: e.place.clone(),
                    label: e.label.clone(),
                    count,
                };
                if !self.send(m) {
                    self.resync = Some(0);
                }
            }
        }
        if report.stats.uptime_ms >= self.next_stats_ms && self.send(Msg::Stats(*report.stats)) {
            self.next_stats_ms = report.stats.uptime_ms + self.stats_every_ms;
        }
        Ok(())
    }

    fn source_state(&mut self, stats: &RunStats) {
        self.send(Msg::Stats(*stats));
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        // The run is over: waiting on the queue is fine now.
        if let Some(g) = self.gap.take() {
            let _ = tx.send(Msg::Gap(g));
        }
        drop(tx);
        if let Some(w) = self.worker.take() {
            if w.join().is_err() {
                return Err(SinkError::Failed {
                    sink: "mqtt",
                    message: "the MQTT thread panicked".into(),
                });
            }
        }
        Ok(())
    }

    fn summary(&self) -> Option<(&'static str, serde_json::Value)> {
        Some((
            "mqtt",
            serde_json::to_value(self.link_stats()).unwrap_or_default(),
        ))
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            log::error!("{e}");
        }
    }
}

/// A crossing of line `door` by `track_id` at `frame`, for the unit tests of the MQTT parts.
#[cfg(test)]
fn test_crossing(frame: u64, track_id: u32) -> Event {
    use crate::count::{Direction, EventTime};
    Event {
        kind: EventKind::Crossing,
        place: name("door"),
        label: name("person"),
        class_id: 1,
        direction: Some(Direction::In),
        track_id,
        score: 0.5,
        frame,
        time: EventTime {
            wall_ms: 1_800_000_000_000 + frame as i64,
            mono_ms: frame,
            clock_suspect: false,
        },
        dwell_ms: None,
    }
}
