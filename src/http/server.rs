//! hyper on a current-thread tokio runtime in one thread. A board must survive whatever the
//! network sends, so every resource a client can hold is bounded:
//! - connections: at most [`MAX_CONNECTIONS`] at once; more are closed on accept;
//! - request heads: [`MAX_HEAD_BYTES`] (hyper answers 431 past it), [`MAX_HEADERS`] headers;
//! - time: a head must arrive within [`HEAD_TIMEOUT`] (one byte a second does not), and a
//!   connection lives at most [`CONNECTION_LIFETIME`], keep-alive included;
//! - threads: this one, plus [`BLOCKING_THREADS`] for SQLite queries and JPEG encoding.

use super::{routes, App};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub const MAX_CONNECTIONS: usize = 32;
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 48;
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
pub const BLOCKING_THREADS: usize = 2;

pub struct Server {
    stop: Arc<tokio::sync::Notify>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(listener: std::net::TcpListener, app: Arc<App>) -> Result<Server, String> {
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("http: {e}"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("http-worker")
            .build()
            .map_err(|e| format!("http: cannot start the runtime: {e}"))?;
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => serve(l, app, stopped).await,
                        Err(e) => log::error!("http: {e}"),
                    }
                });
                // Handlers still running (a snapshot wait) are dropped with the runtime.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| format!("http: cannot start the thread: {e}"))?;
        Ok(Server {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Decrements the connection count however the connection ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve(listener: tokio::net::TcpListener, app: Arc<App>, stop: Arc<tokio::sync::Notify>) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut refused = 0u64;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.notified() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                log::warn!("http: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            refused += 1;
            if refused.is_power_of_two() {
                log::warn!(
                    "http: {MAX_CONNECTIONS} connections open: refused {peer} ({refused} so far)"
                );
            }
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let slot = Slot(active.clone());
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(routes::handle(app, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .max_headers(MAX_HEADERS)
                .serve_connection(TokioIo::new(stream), svc);
            match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::debug!("http: {peer}: {e}"),
                Err(_) => {
                    log::debug!("http: {peer}: connection closed after {CONNECTION_LIFETIME:?}")
                }
            }
        });
    }
}
