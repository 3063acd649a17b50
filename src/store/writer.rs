//! The writer thread: takes events from a bounded queue, commits them every commit interval,
//! prunes old events hourly. When a commit fails (disk full, read-only file system, I/O
//! error) it keeps everything in memory, says so loudly once, and retries at every interval
//! until the database takes it; nothing counted is lost while the process lives.

use super::write::Tallies;
use super::{hour_of, ClockWatch, RunInfo, Store, StoreError};
use crate::count::{Event, TotalKey};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What goes through the queue.
pub enum WriterMsg {
    Event(Event),
    /// `count` events of `key` in the UTC hour `hour_ms` whose details were dropped.
    Tally {
        key: TotalKey,
        hour_ms: i64,
        count: u64,
    },
    /// Commit what is pending and stop.
    Finish,
}

/// The writer's progress, readable at any time without waiting on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// Events in the database from this run (with or without their details).
    pub committed: u64,
    /// Events received and not yet committed.
    pub pending: u64,
    /// Events whose details were dropped (memory bound), counted in totals all the same.
    pub dropped_details: u64,
    /// Successful commits.
    pub commits: u64,
    /// The last commit attempt failed; events are being kept in memory.
    pub failing: bool,
    /// Commit attempts that failed (disk full, read-only, I/O errors), in all.
    pub failed_commits: u64,
}

#[derive(Default)]
struct Shared {
    committed: AtomicU64,
    pending: AtomicU64,
    dropped_details: AtomicU64,
    commits: AtomicU64,
    failing: AtomicBool,
    failed_commits: AtomicU64,
}

/// Reads a writer's [`StoreStatus`] from another thread (a health endpoint), also after the
/// writer has finished (its final state).
#[derive(Clone)]
pub struct StatusHandle(Arc<Shared>);

impl StatusHandle {
    pub fn status(&self) -> StoreStatus {
        self.0.status()
    }
}

impl Shared {
    fn status(&self) -> StoreStatus {
        StoreStatus {
            committed: self.committed.load(Ordering::Acquire),
            pending: self.pending.load(Ordering::Acquire),
            dropped_details: self.dropped_details.load(Ordering::Acquire),
            commits: self.commits.load(Ordering::Acquire),
            failing: self.failing.load(Ordering::Acquire),
            failed_commits: self.failed_commits.load(Ordering::Acquire),
        }
    }
}

const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A running writer thread. Dropping it without [`Writer::finish`] stops the thread after
/// its final commit, but reports nothing.
pub struct Writer {
    tx: SyncSender<WriterMsg>,
    handle: Option<JoinHandle<Result<(), StoreError>>>,
    shared: Arc<Shared>,
    run_id: Option<i64>,
}

impl Writer {
    /// Starts the thread; the queue holds `store.config().queue_capacity` messages.
    pub fn spawn(mut store: Store, run: RunInfo) -> Result<Writer, StoreError> {
        // The run row now if the disk allows it, else with the first commit that succeeds.
        let run_id = store.begin_run(&run).ok();
        let (tx, rx) = sync_channel(store.config().queue_capacity);
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || WriterLoop::new(store, run, run_id, rx, thread_shared).run())
            .map_err(|e| StoreError::Writer(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            tx,
            handle: Some(handle),
            shared,
            run_id,
        })
    }

    /// This run's id in `runs`, when it was written at start-up (None: the disk refused
    /// it then, and it is written with the first commit that succeeds).
    pub fn run_id(&self) -> Option<i64> {
        self.run_id
    }

    pub fn sender(&self) -> &SyncSender<WriterMsg> {
        &self.tx
    }

    pub fn status(&self) -> StoreStatus {
        self.shared.status()
    }

    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle(self.shared.clone())
    }

    /// Commits what is pending (blocking) and joins the thread. Fails if the last commit
    /// failed: the events it held are then lost with the process, and the error says how
    /// many.
    pub fn finish(mut self) -> Result<StoreStatus, StoreError> {
        let _ = self.tx.send(WriterMsg::Finish);
        let result = match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(StoreError::Writer("the writer thread panicked".into())),
            None => Ok(()),
        };
        result.map(|()| self.status())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.tx.send(WriterMsg::Finish);
            let _ = h.join();
        }
    }
}

struct WriterLoop {
    store: Store,
    run: RunInfo,
    run_id: Option<i64>,
    rx: Receiver<WriterMsg>,
    shared: Arc<Shared>,
    pending: Vec<Event>,
    tallies: Tallies,
    tallied: u64,
    failing: Option<String>,
    max_pending: usize,
    /// Mid-run wall clock jumps (retention.rs): indices into `pending` where a new timeline
    /// starts, found against this thread's monotonic clock.
    clock: ClockWatch,
    started: Instant,
    jumps: Vec<usize>,
}

impl WriterLoop {
    fn new(
        store: Store,
        run: RunInfo,
        run_id: Option<i64>,
        rx: Receiver<WriterMsg>,
        shared: Arc<Shared>,
    ) -> Self {
        let max_pending = store.config().max_pending_events;
        WriterLoop {
            pending: Vec::with_capacity(max_pending.min(store.config().queue_capacity)),
            store,
            run,
            run_id,
            rx,
            shared,
            tallies: Tallies::new(),
            tallied: 0,
            failing: None,
            max_pending,
            clock: ClockWatch::default(),
            started: Instant::now(),
            jumps: Vec::new(),
        }
    }

    fn run(mut self) -> Result<(), StoreError> {
        let interval = self.store.config().commit_interval();
        let retention = self.store.config().retention_days;
        let mut next_commit = Instant::now() + interval;
        let mut next_prune = Instant::now();
        loop {
            let wait = next_commit.saturating_duration_since(Instant::now());
            let finishing = match self.rx.recv_timeout(wait) {
                Ok(WriterMsg::Event(e)) => {
                    self.take(e);
                    false
                }
                Ok(WriterMsg::Tally {
                    key,
                    hour_ms,
                    count,
                }) => {
                    self.tally(key, hour_ms, count);
                    self.shared
                        .dropped_details
                        .fetch_add(count, Ordering::AcqRel);
                    false
                }
                Ok(WriterMsg::Finish) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
            self.publish_pending();
            if !(finishing || Instant::now() >= next_commit) {
                continue;
            }
            let committed = self.commit();
            if committed && retention > 0 && Instant::now() >= next_prune {
                match self.store.prune(retention) {
                    Ok(stats) if stats.deleted > 0 => log::info!(
                        "store: pruned {} events older than {retention} days from {}",
                        stats.deleted,
                        self.store.path().display()
                    ),
                    Ok(_) => {}
                    Err(e) => log::warn!("store: pruning failed (will retry): {e}"),
                }
                next_prune = Instant::now() + PRUNE_EVERY;
            }
            next_commit = Instant::now() + interval;
            if finishing {
                return match &self.failing {
                    None => Ok(()),
                    Some(e) => Err(StoreError::Writer(format!(
                        "{} events could not be written to {} and are lost: {e}",
                        self.pending.len() as u64 + self.tallied,
                        self.store.path().display()
                    ))),
                };
            }
        }
    }

    fn take(&mut self, e: Event) {
        let mono = self.started.elapsed().as_millis() as i64;
        if let Some(jump) = self.clock.observe(e.time.wall_ms, mono) {
            log::warn!(
                "store: {}: the wall clock jumped by {:+.1} h in the middle of the run; the \
                 events from here on are on a new retention timeline (older events age by the \
                 running time recorded, not by this jump)",
                self.store.path().display(),
                jump as f64 / 3_600_000.0
            );
            // Also when the details are dropped: the boundary then falls before the next
            // event that is kept.
            if self.jumps.last() != Some(&self.pending.len()) {
                self.jumps.push(self.pending.len());
            }
        }
        if self.pending.len() < self.max_pending {
            self.pending.push(e);
        } else {
            // Past the memory bound: keep the count, drop the details.
            self.tally(e.total_key(), hour_of(e.time.wall_ms), 1);
            self.shared.dropped_details.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn tally(&mut self, key: TotalKey, hour_ms: i64, count: u64) {
        *self.tallies.entry((hour_ms, key)).or_default() += count;
        self.tallied += count;
    }

    fn publish_pending(&self) {
        self.shared
            .pending
            .store(self.pending.len() as u64 + self.tallied, Ordering::Release);
    }

    /// One commit attempt; true when everything pending is now in the database.
    fn commit(&mut self) -> bool {
        if self.pending.is_empty() && self.tallies.is_empty() && self.run_id.is_some() {
            return self.failing.is_none();
        }
        let result = match self.run_id {
            Some(id) => Ok(id),
            None => self.store.begin_run(&self.run),
        }
        .and_then(|id| {
            self.run_id = Some(id);
            self.store
                .write_batch(id, &self.pending, &self.tallies, &self.jumps)
        });
        match result {
            Ok(()) => {
                let n = self.pending.len() as u64 + self.tallied;
                if self.failing.take().is_some() {
                    log::warn!(
                        "store: writing to {} again; {n} events kept in memory are now stored",
                        self.store.path().display()
                    );
                }
                self.pending.clear();
                self.jumps.clear();
                self.tallies.clear();
                self.tallied = 0;
                self.shared.committed.fetch_add(n, Ordering::AcqRel);
                self.shared.commits.fetch_add(1, Ordering::AcqRel);
                self.shared.failing.store(false, Ordering::Release);
                self.publish_pending();
                true
            }
            Err(e) => {
                let message = e.to_string();
                if self.failing.as_deref() != Some(message.as_str()) {
                    log::error!(
                        "store: CANNOT WRITE {}: {message}. Counting goes on: up to {} events \
                         are kept in memory (past that only their counts), retrying every {:?}",
                        self.store.path().display(),
                        self.max_pending,
                        self.store.config().commit_interval()
                    );
                }
                self.failing = Some(message);
                self.shared.failing.store(true, Ordering::Release);
                self.shared.failed_commits.fetch_add(1, Ordering::AcqRel);
                false
            }
        }
    }
}
