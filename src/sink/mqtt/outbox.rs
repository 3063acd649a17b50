//! The outbox: at-least-once bookkeeping for events, with no client inside.
//!
//! An event leaves the outbox only on its PubAck. rumqttc reports the packet id of each
//! publish (`Outgoing::Publish`) in the order the publishes were handed to it, which is how a
//! PubAck is matched to its event: every publish handed to rumqttc (events, and the retained,
//! control and stats messages, which take a place in that order too) waits in `awaiting`
//! until rumqttc names its packet id. On a lost connection every event sent but not
//! acknowledged goes back to `unsent` and is sent again, in order of `seq`, after the next
//! connect (clean session: the broker keeps nothing for us). A consumer can drop duplicates by
//! (`run`, `seq`).

use crate::count::Event;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// An event in the outbox.
pub(super) struct Pending {
    pub event: Event,
    /// The running total of the event's key after it (None for events read back from the
    /// store).
    pub total: Option<u64>,
    /// Read back from the store after an overflow.
    pub replayed: bool,
}

/// One publish handed to rumqttc, waiting for its packet id.
enum Tag {
    Event(u64, Pending),
    Other,
}

pub(super) struct Outbox {
    /// Events held at most (unsent, awaiting a packet id, in flight); past it new events are
    /// a gap for the store to fill in.
    cap: usize,
    /// Events not yet handed to rumqttc, by seq.
    unsent: BTreeMap<u64, Pending>,
    /// Publishes handed to rumqttc, in order, until rumqttc names their packet id.
    awaiting: VecDeque<Tag>,
    /// A publish rumqttc holds back on a packet-id collision; it is the next one sent.
    collided: Option<Tag>,
    /// Events sent, by packet id, until their PubAck.
    inflight: HashMap<u16, (u64, Pending)>,
}

impl Outbox {
    pub fn new(cap: usize) -> Self {
        Outbox {
            cap,
            unsent: BTreeMap::new(),
            awaiting: VecDeque::new(),
            collided: None,
            inflight: HashMap::new(),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Events not yet acknowledged: unsent, sent and waiting for a packet id, in flight.
    pub fn len(&self) -> usize {
        let awaiting = self
            .awaiting
            .iter()
            .chain(self.collided.iter())
            .filter(|t| matches!(t, Tag::Event(..)))
            .count();
        self.unsent.len() + self.inflight.len() + awaiting
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many more events fit.
    // Without the store nothing is read back (room and refill are for reading back).
    #[cfg_attr(not(feature = "store"), allow(dead_code))]
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.len())
    }

    /// Event `seq` from the frame loop; false (and nothing kept) when the outbox is full.
    pub fn offer(&mut self, seq: u64, event: Event, total: Option<u64>) -> bool {
        if self.len() >= self.cap {
            return false;
        }
        let p = Pending {
            event,
            total,
            replayed: false,
        };
        self.unsent.insert(seq, p);
        true
    }

    /// Events read back from the store: `events[i]` is event `first + i`. The caller asked
    /// the store for at most [`Outbox::room`] of them.
    #[cfg_attr(not(feature = "store"), allow(dead_code))]
    pub fn refill(&mut self, first: u64, events: Vec<Event>) {
        for (i, event) in events.into_iter().enumerate() {
            let p = Pending {
                event,
                total: None,
                replayed: true,
            };
            self.unsent.insert(first + i as u64, p);
        }
    }

    /// The next event to send: the lowest seq not yet handed to rumqttc.
    pub fn next_unsent(&self) -> Option<(u64, &Pending)> {
        self.unsent.first_key_value().map(|(s, p)| (*s, p))
    }

    /// The event [`Outbox::next_unsent`] named was handed to rumqttc.
    pub fn sent_event(&mut self) {
        if let Some((seq, p)) = self.unsent.pop_first() {
            self.awaiting.push_back(Tag::Event(seq, p));
        }
    }

    /// A publish other than an event (control, retained, stats) was handed to rumqttc: it
    /// gets a place in the order of packet ids too.
    pub fn sent_other(&mut self) {
        self.awaiting.push_back(Tag::Other);
    }

    /// rumqttc sent the next publish as packet `pkid` (`Outgoing::Publish`).
    pub fn published(&mut self, pkid: u16) {
        let tag = self.collided.take().or_else(|| self.awaiting.pop_front());
        if let Some(Tag::Event(seq, p)) = tag {
            self.inflight.insert(pkid, (seq, p));
        }
    }

    /// rumqttc held the next publish back: its packet id is still in flight
    /// (`Outgoing::AwaitAck`). It goes out, before any other, once that id is acknowledged.
    pub fn collided(&mut self) {
        self.collided = self.awaiting.pop_front();
    }

    /// The PubAck of packet `pkid`; true when it acknowledged an event.
    pub fn acked(&mut self, pkid: u16) -> bool {
        self.inflight.remove(&pkid).is_some()
    }

    /// The connection is lost: everything sent and not acknowledged goes back to the unsent
    /// events, for the next connection (packet ids of the old one mean nothing any more).
    pub fn requeue(&mut self) {
        let awaiting = std::mem::take(&mut self.awaiting);
        for t in awaiting.into_iter().chain(self.collided.take()) {
            if let Tag::Event(seq, p) = t {
                self.unsent.insert(seq, p);
            }
        }
        for (_, (seq, p)) in self.inflight.drain() {
            self.unsent.insert(seq, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(track_id: u32) -> Event {
        super::super::test_crossing(u64::from(track_id), track_id)
    }

    /// Hands every unsent event to "rumqttc", returning their seqs in order.
    fn send_all(o: &mut Outbox) -> Vec<u64> {
        let mut sent = Vec::new();
        while let Some((seq, _)) = o.next_unsent() {
            o.sent_event();
            sent.push(seq);
        }
        sent
    }

    fn unsent(o: &Outbox) -> Vec<(u64, u32, bool)> {
        o.unsent
            .iter()
            .map(|(s, p)| (*s, p.event.track_id, p.replayed))
            .collect()
    }

    #[test]
    fn a_puback_is_matched_to_its_event_by_packet_id() {
        let mut o = Outbox::new(10);
        assert!(o.offer(1, ev(1), Some(1)));
        assert_eq!(send_all(&mut o), [1]);
        o.sent_other(); // a retained total between the two events
        assert!(o.offer(2, ev(2), Some(2)));
        assert_eq!(send_all(&mut o), [2]);
        assert_eq!(o.len(), 2);
        // Packet ids in the order the publishes were handed over.
        o.published(7);
        o.published(8);
        o.published(9);
        assert_eq!(o.len(), 2);
        // 8 was the retained total: no event.
        assert!(!o.acked(8));
        assert!(o.acked(9));
        assert_eq!(o.inflight.get(&7).map(|(s, _)| *s), Some(1));
        // An ack twice, or for an id never seen, changes nothing.
        assert!(!o.acked(9));
        assert!(!o.acked(3));
        assert!(o.acked(7));
        assert!(o.is_empty());
    }

    #[test]
    fn a_collided_publish_takes_the_next_packet_id() {
        let mut o = Outbox::new(10);
        for s in 1..=3 {
            assert!(o.offer(s, ev(s as u32), None));
        }
        assert_eq!(send_all(&mut o), [1, 2, 3]);
        o.published(1);
        // Event 2 drew id 1 again, still in flight: rumqttc holds it back.
        o.collided();
        assert_eq!(o.len(), 3);
        assert!(o.acked(1));
        // The ack freed id 1: the held-back publish goes out first, then event 3.
        o.published(1);
        o.published(2);
        assert_eq!(o.inflight[&1].0, 2);
        assert_eq!(o.inflight[&2].0, 3);
        assert!(o.acked(2));
        assert!(o.acked(1));
        assert!(o.is_empty());
    }

    #[test]
    fn a_lost_connection_requeues_everything_unacknowledged_in_seq_order() {
        let mut o = Outbox::new(10);
        for s in 1..=6 {
            assert!(o.offer(s, ev(s as u32), Some(s)));
        }
        assert_eq!(send_all(&mut o), [1, 2, 3, 4, 5, 6]);
        o.published(10); // 1: acknowledged below
        o.published(11); // 2: in flight
        o.published(12); // 3: in flight
        o.collided(); // 4: held back
                      // 5 and 6 still wait for a packet id; 7 is not sent yet.
        assert!(o.offer(7, ev(7), Some(7)));
        o.sent_other();
        assert!(o.acked(10));
        assert_eq!(o.len(), 6);

        o.requeue();
        assert_eq!(o.len(), 6);
        assert_eq!(unsent(&o), [2, 3, 4, 5, 6, 7].map(|s| (s, s as u32, false)));
        // The old connection's ids are gone: a late ack matches nothing.
        assert!(!o.acked(11));
        // Sent again in order; the new connection's ids match the resends.
        assert_eq!(send_all(&mut o), [2, 3, 4, 5, 6, 7]);
        for pkid in 1..=6 {
            o.published(pkid);
        }
        assert_eq!(o.inflight[&1].0, 2);
        assert_eq!(o.inflight[&6].0, 7);
        for pkid in 1..=6 {
            assert!(o.acked(pkid));
        }
        assert!(o.is_empty());
    }

    #[test]
    fn the_capacity_counts_every_event_not_yet_acknowledged() {
        let mut o = Outbox::new(3);
        assert_eq!(o.cap(), 3);
        assert!(o.offer(1, ev(1), None));
        assert_eq!(send_all(&mut o), [1]);
        o.sent_other(); // other publishes take no room
        assert!(o.offer(2, ev(2), None));
        assert_eq!(send_all(&mut o), [2]);
        o.published(1);
        assert!(o.offer(3, ev(3), None));
        assert_eq!(o.room(), 0);
        // Full: unsent 3, awaiting 2, in flight 1.
        assert!(!o.offer(4, ev(4), None));
        assert_eq!(o.len(), 3);
        o.published(2);
        o.published(3);
        assert!(!o.offer(4, ev(4), None));
        assert!(!o.acked(2));
        assert!(o.acked(1));
        assert_eq!(o.room(), 1);
        assert!(o.offer(5, ev(5), None));
        assert!(!o.offer(6, ev(6), None));
        // Events read back from the store go in by seq, marked as replayed, without a total.
        assert!(o.acked(3));
        o.refill(4, vec![ev(40)]);
        assert_eq!(unsent(&o), [(3, 3, false), (4, 40, true), (5, 5, false)]);
        assert!(o.unsent[&4].total.is_none());
        assert_eq!(o.room(), 0);
    }
}
