//! The wall clock in Unix milliseconds: one definition for every timestamp ssd-edge writes
//! (events, the store, /status and /metrics, MQTT run ids, snapshots).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now in Unix milliseconds. A clock set before 1970 gives a negative value rather than a
/// made-up 0, so the pipeline's clock check can see how wrong it is.
pub fn unix_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// When this binary was built (Unix ms): a wall clock before it is certainly wrong.
pub fn build_epoch_ms() -> i64 {
    env!("SSD_EDGE_BUILD_EPOCH").parse::<i64>().unwrap_or(0) * 1000
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_after_2020_and_moves_forward() {
        let a = super::unix_ms();
        assert!(a > 1_577_836_800_000, "{a}");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(super::unix_ms() > a);
    }
}
