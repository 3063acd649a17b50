//! The retained state: running totals and zone occupancy as last heard from the frame loop
//! (or the store), which of them the broker has not been sent yet, and the control messages
//! of a connect (availability, Home Assistant discovery). No client inside: the MQTT thread
//! takes the messages in order with [`Retained::next`] and [`Retained::pop`].

use super::discovery::Discovery;
use super::topics::Topics;
use super::CountKeys;
use crate::count::TotalKey;
use rumqttc::QoS;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One publish, formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

impl Message {
    fn retained(topic: String, payload: Vec<u8>) -> Self {
        Message {
            topic,
            payload,
            qos: QoS::AtLeastOnce,
            retain: true,
        }
    }
}

pub(super) struct Retained {
    totals: BTreeMap<TotalKey, u64>,
    occupancy: BTreeMap<(String, String), u32>,
    /// Changed since they were last handed to the client (or the connection is new).
    dirty_totals: BTreeSet<TotalKey>,
    dirty_occupancy: BTreeSet<(String, String)>,
    discovery: Option<Discovery>,
    /// Retained and QoS 0 messages to send, in order (availability, discovery).
    control: VecDeque<Message>,
}

impl Retained {
    pub fn new(keys: CountKeys, discovery: Option<Discovery>) -> Self {
        Retained {
            totals: keys.totals.into_iter().collect(),
            occupancy: keys.occupancy.into_iter().map(|k| (k, 0)).collect(),
            dirty_totals: BTreeSet::new(),
            dirty_occupancy: BTreeSet::new(),
            discovery,
            control: VecDeque::new(),
        }
    }

    pub fn set_total(&mut self, key: TotalKey, count: u64) {
        let t = self.totals.entry(key.clone()).or_insert(0);
        // Totals only grow; a smaller value is an older message.
        if count > *t {
            *t = count;
            self.dirty_totals.insert(key);
        }
    }

    pub fn set_occupancy(&mut self, key: (String, String), count: u32) {
        if self.occupancy.get(&key) != Some(&count) {
            self.occupancy.insert(key.clone(), count);
            self.dirty_occupancy.insert(key);
        }
    }

    /// Totals from the store: never lower than what was published, never lower than the
    /// database (it may know more than the queue brought here).
    pub fn stored_totals(&mut self, totals: Vec<(TotalKey, u64)>) {
        for (k, n) in totals {
            // Keys this configuration no longer has stay as they are.
            if self.totals.contains_key(&k) {
                self.set_total(k, n);
            }
        }
    }

    /// On every connect: `online`, the discovery configs, and every retained value again
    /// (the broker may have restarted without its retained messages).
    pub fn announce(&mut self, topics: &Topics) {
        self.control.clear();
        self.control
            .push_back(Message::retained(topics.availability(), b"online".to_vec()));
        if let Some(d) = &self.discovery {
            for k in self.totals.keys() {
                let (t, p) = d.total(topics, k);
                self.control.push_back(Message::retained(t, p));
            }
            for (zone, label) in self.occupancy.keys() {
                let (t, p) = d.occupancy(topics, zone, label);
                self.control.push_back(Message::retained(t, p));
            }
            for (t, p) in d.stats(topics) {
                self.control.push_back(Message::retained(t, p));
            }
        }
        self.dirty_totals = self.totals.keys().cloned().collect();
        self.dirty_occupancy = self.occupancy.keys().cloned().collect();
    }

    /// The connection is lost: its control messages are not sent (the next connect announces
    /// again).
    pub fn lost(&mut self) {
        self.control.clear();
    }

    /// The next message to send, in order of importance: control messages, then totals, then
    /// occupancy.
    pub fn next(&self, topics: &Topics) -> Option<Message> {
        if let Some(m) = self.control.front() {
            return Some(m.clone());
        }
        let value = |topic: String, n: String| Message::retained(topic, n.into_bytes());
        if let Some(k) = self.dirty_totals.first() {
            let n = self.totals.get(k).copied().unwrap_or(0);
            return Some(value(topics.total(k), n.to_string()));
        }
        let (zone, label) = self.dirty_occupancy.first()?;
        let n = self.occupancy.get(&(zone.clone(), label.clone()));
        Some(value(
            topics.occupancy(zone, label),
            n.copied().unwrap_or(0).to_string(),
        ))
    }

    /// The message [`Retained::next`] named was handed to the client.
    pub fn pop(&mut self) {
        if self.control.pop_front().is_none() && self.dirty_totals.pop_first().is_none() {
            self.dirty_occupancy.pop_first();
        }
    }

    /// Nothing left to send.
    pub fn is_settled(&self) -> bool {
        self.control.is_empty() && self.dirty_totals.is_empty() && self.dirty_occupancy.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::event::name;
    use crate::count::{Direction, EventKind};

    fn key(place: &str) -> TotalKey {
        TotalKey {
            place: name(place),
            kind: EventKind::Crossing,
            label: name("person"),
            direction: Some(Direction::In),
        }
    }

    fn zone(z: &str) -> (String, String) {
        (z.to_string(), "person".to_string())
    }

    fn retained(discovery: bool) -> (Retained, Topics) {
        let topics = Topics::new("ssd", "cam");
        let keys = CountKeys {
            totals: vec![(key("door"), 5), (key("gate"), 0)],
            occupancy: vec![zone("hall")],
        };
        let d = discovery.then(|| Discovery::new("homeassistant", "cam", &topics, "m.onnx"));
        (Retained::new(keys, d), topics)
    }

    /// Every message in order, as the MQTT thread takes them.
    fn drain(r: &mut Retained, topics: &Topics) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Some(m) = r.next(topics) {
            r.pop();
            assert!(m.retain && m.qos == QoS::AtLeastOnce, "{m:?}");
            out.push((m.topic, String::from_utf8(m.payload).unwrap()));
        }
        assert!(r.is_settled());
        out
    }

    fn pair(t: &str, p: &str) -> (String, String) {
        (t.to_string(), p.to_string())
    }

    #[test]
    fn totals_only_grow_and_changes_are_sent_once() {
        let (mut r, topics) = retained(false);
        assert!(r.is_settled());
        r.set_total(key("door"), 4); // older than the seed
        r.set_total(key("door"), 5); // the same
        assert!(r.is_settled());
        r.set_total(key("door"), 7);
        r.set_total(key("door"), 6);
        r.set_occupancy(zone("hall"), 0); // unchanged
        r.set_occupancy(zone("hall"), 2);
        assert_eq!(
            drain(&mut r, &topics),
            [
                pair("ssd/cam/totals/door/crossing/person/in", "7"),
                pair("ssd/cam/occupancy/hall/person", "2"),
            ]
        );
        // Occupancy goes down as well as up.
        r.set_occupancy(zone("hall"), 1);
        assert_eq!(
            drain(&mut r, &topics),
            [pair("ssd/cam/occupancy/hall/person", "1")]
        );
    }

    #[test]
    fn stored_totals_raise_known_keys_only() {
        let (mut r, topics) = retained(false);
        r.stored_totals(vec![(key("door"), 3), (key("gate"), 9), (key("old"), 50)]);
        assert_eq!(
            drain(&mut r, &topics),
            [pair("ssd/cam/totals/gate/crossing/person/in", "9")]
        );
        r.announce(&topics);
        let all = drain(&mut r, &topics);
        assert!(!all.iter().any(|(t, _)| t.contains("/old/")), "{all:?}");
    }

    #[test]
    fn a_connect_announces_control_then_every_value() {
        let (mut r, topics) = retained(true);
        r.announce(&topics);
        let all = drain(&mut r, &topics);
        assert_eq!(all[0], pair("ssd/cam/availability", "online"));
        let configs = all
            .iter()
            .skip(1)
            .take_while(|(t, _)| t.starts_with("homeassistant/"))
            .count();
        // A config per total and per occupancy, then the stats sensors.
        assert!(configs > 3, "{all:?}");
        assert_eq!(
            all[1 + configs..],
            [
                pair("ssd/cam/totals/door/crossing/person/in", "5"),
                pair("ssd/cam/totals/gate/crossing/person/in", "0"),
                pair("ssd/cam/occupancy/hall/person", "0"),
            ]
        );
    }

    #[test]
    fn a_lost_connection_drops_the_control_messages_not_the_values() {
        let (mut r, topics) = retained(true);
        r.announce(&topics);
        r.pop(); // `online` went out
        r.lost();
        assert_eq!(
            drain(&mut r, &topics),
            [
                pair("ssd/cam/totals/door/crossing/person/in", "5"),
                pair("ssd/cam/totals/gate/crossing/person/in", "0"),
                pair("ssd/cam/occupancy/hall/person", "0"),
            ]
        );
    }
}
