//! The event store as a sink: the frame loop hands each frame's events to the store's writer
//! thread without waiting. The queue is allocated at start-up; if the writer falls behind
//! (a commit stuck on a slow card) events wait in a buffer of the same size, and past that
//! only their counts are kept, so totals stay exact and the frame loop never blocks.

use super::{FrameReport, Sink, SinkError};
use crate::count::{Event, TotalKey};
use crate::store::{RunInfo, StatusHandle, Store, StoreError, StoreStatus, Writer, WriterMsg};
use std::sync::mpsc::TrySendError;

pub struct StoreSink {
    writer: Option<Writer>,
    handle: StatusHandle,
    overflow: Vec<Event>,
    /// (key, UTC hour, count) of events that found both the queue and `overflow` full.
    tally: Vec<(TotalKey, i64, u64)>,
    warned: bool,
    final_status: StoreStatus,
    path: std::path::PathBuf,
}

impl StoreSink {
    /// Starts the writer thread on `store` for a run described by `run`.
    pub fn start(store: Store, run: RunInfo) -> Result<StoreSink, StoreError> {
        let capacity = store.config().queue_capacity;
        let path = store.path().to_owned();
        let writer = Writer::spawn(store, run)?;
        Ok(StoreSink {
            path,
            handle: writer.status_handle(),
            writer: Some(writer),
            overflow: Vec::with_capacity(capacity),
            tally: Vec::with_capacity(64),
            warned: false,
            final_status: StoreStatus::default(),
        })
    }

    /// The writer's progress (after `finish`, its final state).
    pub fn status(&self) -> StoreStatus {
        self.writer
            .as_ref()
            .map_or(self.final_status, Writer::status)
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// This run's id in the database, when known at start-up ([`Writer::run_id`]).
    pub fn run_id(&self) -> Option<i64> {
        self.writer.as_ref().and_then(Writer::run_id)
    }

    /// The writer's status for another thread (`/metrics`, `/status`).
    pub fn status_handle(&self) -> StatusHandle {
        self.handle.clone()
    }

    fn writer(&self) -> Result<&Writer, SinkError> {
        self.writer
            .as_ref()
            .ok_or_else(|| failed("used after finish".into()))
    }

    /// Moves what waits in `overflow` and `tally` into the queue while it has room.
    fn drain(&mut self) -> Result<(), SinkError> {
        let tx = self.writer()?.sender().clone();
        while let Some((key, hour_ms, count)) = self.tally.pop() {
            match tx.try_send(WriterMsg::Tally {
                key,
                hour_ms,
                count,
            }) {
                Ok(()) => {}
                Err(TrySendError::Full(WriterMsg::Tally {
                    key,
                    hour_ms,
                    count,
                })) => {
                    self.tally.push((key, hour_ms, count));
                    return Ok(());
                }
                Err(_) => return Err(failed("the writer thread has stopped".into())),
            }
        }
        let mut sent = 0;
        for e in &self.overflow {
            match tx.try_send(WriterMsg::Event(e.clone())) {
                Ok(()) => sent += 1,
                Err(TrySendError::Full(_)) => break,
                Err(TrySendError::Disconnected(_)) => {
                    return Err(failed("the writer thread has stopped".into()))
                }
            }
        }
        self.overflow.drain(..sent);
        Ok(())
    }

    fn hand(&mut self, e: &Event) -> Result<(), SinkError> {
        if self.overflow.is_empty() && self.tally.is_empty() {
            match self
                .writer()?
                .sender()
                .try_send(WriterMsg::Event(e.clone()))
            {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => {
                    return Err(failed("the writer thread has stopped".into()))
                }
            }
        }
        if self.overflow.len() < self.overflow.capacity() {
            self.overflow.push(e.clone());
            return Ok(());
        }
        if !self.warned {
            self.warned = true;
            log::error!(
                "store: the writer is {} events behind; keeping counts only until it catches up",
                self.overflow.len()
            );
        }
        let key = e.total_key();
        let hour = crate::store::hour_of_ms(e.time.wall_ms);
        match self
            .tally
            .iter_mut()
            .find(|(k, h, _)| *h == hour && *k == key)
        {
            Some((_, _, n)) => *n += 1,
            None => self.tally.push((key, hour, 1)),
        }
        Ok(())
    }
}

fn failed(message: String) -> SinkError {
    SinkError::Failed {
        sink: "store",
        message,
    }
}

impl Sink for StoreSink {
    fn frame(&mut self, report: &FrameReport<'_>) -> Result<(), SinkError> {
        if !self.overflow.is_empty() || !self.tally.is_empty() {
            self.drain()?;
        }
        for e in report.events {
            self.hand(e)?;
        }
        Ok(())
    }

    fn summary(&self) -> Option<(&'static str, serde_json::Value)> {
        let s = self.status();
        Some((
            "store",
            serde_json::json!({
                "path": self.path.display().to_string(),
                "committed": s.committed,
                "pending": s.pending,
                "dropped_details": s.dropped_details,
                "commits": s.commits,
                "failing": s.failing,
            }),
        ))
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        // The run is over: waiting on the queue is fine now.
        let tx = writer.sender().clone();
        for (key, hour_ms, count) in self.tally.drain(..) {
            let _ = tx.send(WriterMsg::Tally {
                key,
                hour_ms,
                count,
            });
        }
        for e in self.overflow.drain(..) {
            let _ = tx.send(WriterMsg::Event(e));
        }
        drop(tx);
        match writer.finish() {
            Ok(status) => {
                self.final_status = status;
                Ok(())
            }
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

impl Drop for StoreSink {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            log::error!("{e}");
        }
    }
}
