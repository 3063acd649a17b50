//! Request dispatch: the token check, then one function per endpoint. Everything that touches
//! SQLite or encodes a JPEG runs on a blocking worker; the rest only copies numbers.

use super::state::Live;
use super::{metrics, query, snapshot, App};
use crate::count::{Direction, EventKind};
use crate::sink::SourceState;
use crate::store::{parse_date_bound, Bucket, ReportQuery, Store};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

type Resp = Response<Full<Bytes>>;

/// How long `/snapshot.jpg` waits for the frame loop's next frame before it serves the last.
const SNAPSHOT_WAIT: Duration = Duration::from_millis(1500);

static STYLE: &str = include_str!("page/style.css");
static SCRIPT: &str = include_str!("page/app.js");
static PAGE: &str = include_str!("page/index.html");

pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Resp {
    let params = match query::parse(req.uri().query()) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    if app.token.is_none() {
        // Without a token, a foreign Host name is a DNS-rebinding page (see `host_allowed`).
        let host = match req.uri().authority() {
            Some(a) => Some(a.as_str()),
            None => match req.headers().get(header::HOST).map(|v| v.to_str()) {
                Some(Ok(h)) => Some(h),
                Some(Err(_)) => Some(""),
                None => None,
            },
        };
        if !super::config::host_allowed(host, &app.allowed_hosts) {
            return error(
                StatusCode::MISDIRECTED_REQUEST,
                &format!(
                    "Host {:?} is not this board: without a token only localhost, IP addresses \
                     and the names in [http] allowed_hosts are served (DNS rebinding)",
                    host.unwrap_or_default()
                ),
            );
        }
    }
    if let Some(token) = &app.token {
        if !authorized(&req, &params, token) {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "a token is required: Authorization: Bearer <token>, or ?token=<token>",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/" | "/index.html" => page(),
        "/metrics" => {
            let text = metrics::render(&app.info, &app.live());
            body(StatusCode::OK, metrics::CONTENT_TYPE, text.into())
        }
        "/status" => json_body(StatusCode::OK, &status(&app, &app.live())),
        "/api/counts" => {
            // One answer at a time, each bounded (rows, cells): what all answers together can
            // hold is bounded, so no request can take the frame loop's memory.
            let Some(busy) = CountsBusy::take() else {
                let mut r = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "another /api/counts answer is being computed (one at a time); retry",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return r;
            };
            let app2 = app.clone();
            // The guard moves into the worker: released when the work ends, even when the
            // client has gone.
            match tokio::task::spawn_blocking(move || {
                let _busy = busy;
                counts(&app2, &params)
            })
            .await
            {
                Ok(Ok(v)) => json_body(StatusCode::OK, &v),
                Ok(Err((code, e))) => error(code, &e),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        "/snapshot.jpg" => snapshot_jpg(app).await,
        "/favicon.ico" => body(StatusCode::NO_CONTENT, "image/x-icon", Bytes::new()),
        _ => error(
            StatusCode::NOT_FOUND,
            "no such page (see /, /status, /metrics, /api/counts, /snapshot.jpg)",
        ),
    }
}

/// Most rows and cells (rows x columns) one `/api/counts` answer may hold: 10,000 rows (416
/// days of hours) and 200,000 cells, a few MB of JSON; larger asks get 413.
pub const MAX_COUNTS_ROWS: usize = 10_000;
pub const MAX_COUNTS_CELLS: usize = 200_000;

static COUNTS_BUSY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The one `/api/counts` computation allowed at a time.
struct CountsBusy;

impl CountsBusy {
    fn take() -> Option<CountsBusy> {
        use std::sync::atomic::Ordering;
        COUNTS_BUSY
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| CountsBusy)
    }
}

impl Drop for CountsBusy {
    fn drop(&mut self) {
        COUNTS_BUSY.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Bearer header or `?token=`, compared in constant time.
fn authorized(req: &Request<Incoming>, params: &[(String, String)], token: &str) -> bool {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let given = header.or_else(|| query::get(params, "token"));
    given.is_some_and(|g| same(g.as_bytes(), token.as_bytes()))
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn body(code: StatusCode, content_type: &'static str, b: Bytes) -> Resp {
    let mut r = Response::new(Full::new(b));
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn json_body(code: StatusCode, v: &serde_json::Value) -> Resp {
    let mut text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    body(code, "application/json", text.into())
}

fn error(code: StatusCode, message: &str) -> Resp {
    json_body(code, &json!({ "error": message }))
}

fn page() -> Resp {
    static HTML: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let html = HTML.get_or_init(|| {
        PAGE.replace("/*STYLE*/", STYLE)
            .replace("/*SCRIPT*/", SCRIPT)
            .into()
    });
    let mut r = body(StatusCode::OK, "text/html; charset=utf-8", html.clone());
    // Everything the page needs is in it: no other origin may be asked for anything.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self'; style-src 'unsafe-inline'; \
             script-src 'unsafe-inline'; connect-src 'self'",
        ),
    );
    r
}

use crate::wall_clock::unix_ms as now_ms;

fn rfc3339(ms: i64, tz: &jiff::tz::TimeZone) -> serde_json::Value {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .map_or(serde_json::Value::Null, Into::into)
}

pub fn status(app: &App, live: &Live) -> serde_json::Value {
    let info = &app.info;
    let s = &live.stats;
    let now = now_ms();
    let mut lines = Vec::new();
    for l in &info.lines {
        let sum = |d| {
            live.totals
                .iter()
                .filter(|(k, _)| k.place == l.name.as_str() && k.direction == Some(d))
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        lines.push(json!({ "name": l.name, "in": sum(Direction::In), "out": sum(Direction::Out) }));
    }
    let mut zones = Vec::new();
    for z in &info.zones {
        let sum = |kind| {
            live.totals
                .iter()
                .filter(|(k, _)| k.place == z.name.as_str() && k.kind == kind)
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        let occupancy: u32 = live
            .occupancy
            .iter()
            .filter(|(zone, _, _)| zone == z.name.as_str())
            .map(|(_, _, n)| n)
            .sum();
        zones.push(json!({
            "name": z.name,
            "occupancy": occupancy,
            "entries": sum(EventKind::Entry),
            "exits": sum(EventKind::Exit),
            "loitering": sum(EventKind::Loitering),
        }));
    }
    let store = match (&info.store_path, &info.store_status) {
        (Some(path), Some(h)) => {
            let st = h.status();
            json!({
                "path": path.display().to_string(),
                "state": if st.failing { "failing" } else { "ok" },
                "committed": st.committed,
                "pending": st.pending,
                "commits": st.commits,
                "write_errors": st.failed_commits,
                "dropped_details": st.dropped_details,
            })
        }
        (Some(path), None) => json!({ "path": path.display().to_string(), "state": "read_only" }),
        _ => json!({ "state": "none" }),
    };
    let before_build = now < crate::wall_clock::build_epoch_ms();
    let st = s.stage_us;
    json!({
        "versions": {
            "ssd_edge": env!("CARGO_PKG_VERSION"),
            "target": env!("SSD_EDGE_TARGET"),
            "features": env!("SSD_EDGE_FEATURES"),
        },
        "model": {
            "name": info.model,
            "input": [info.model_input.0, info.model_input.1],
            "classes": info.labels.iter().skip(1).collect::<Vec<_>>(),
        },
        "source": {
            "description": info.source,
            "state": s.source.as_str(),
            "frames": s.frames,
            "dropped": s.dropped,
            "corrupt": s.corrupt,
            "timeouts": s.timeouts,
            "reconnects": s.reconnects,
            "fps": (live.fps * 10.0).round() / 10.0,
            "frame_size": [live.frame_size.0, live.frame_size.1],
            "last_frame_age_ms": (live.last_frame_ms > 0).then(|| (now - live.last_frame_ms).max(0)),
        },
        "camera": {
            "state": s.source.as_str(),
            "streaming": s.source == SourceState::Streaming,
        },
        "stages_ms": {
            "preprocess": st.preprocess as f64 / 1000.0,
            "forward": st.forward as f64 / 1000.0,
            "decode": st.decode as f64 / 1000.0,
            "track_count": st.track_count as f64 / 1000.0,
        },
        "store": store,
        "clock": {
            "now": rfc3339(now, &app.tz),
            "tz": app.tz.iana_name().unwrap_or("local"),
            "state": if before_build { "unset" } else if live.suspect_events > 0 { "jumped" } else { "ok" },
            "before_build": before_build,
            "suspect_events": live.suspect_events,
        },
        "started": rfc3339(info.started_ms, &app.tz),
        "uptime_s": (now - info.started_ms).max(0) / 1000,
        "lines": lines,
        "zones": zones,
        "http": { "listen": info.listen.to_string(), "token_required": app.token.is_some() },
    })
}

type Failed = (StatusCode, String);

/// `/api/counts?from&to&by&tz&line&class`: `ssd-edge report`'s buckets. Without `from` and
/// `to`: today, in the board's time zone.
fn counts(app: &App, params: &[(String, String)]) -> Result<serde_json::Value, Failed> {
    let bad = |e: String| (StatusCode::BAD_REQUEST, e);
    for (k, _) in params {
        if !["from", "to", "by", "tz", "line", "class", "token"].contains(&k.as_str()) {
            return Err(bad(format!(
                "unknown parameter {k:?} (from, to, by, tz, line, class)"
            )));
        }
    }
    let Some(path) = &app.info.store_path else {
        return Err((
            StatusCode::NOT_FOUND,
            "this run keeps no event store (add [store] or --db, and lines or zones)".into(),
        ));
    };
    let by: Bucket = query::get(params, "by")
        .unwrap_or("hour")
        .parse()
        .map_err(|e: String| bad(format!("by: {e}")))?;
    let tz = match query::get(params, "tz") {
        Some(name) => {
            jiff::tz::TimeZone::get(name).map_err(|e| bad(format!("tz {name:?}: {e}")))?
        }
        None => app.tz.clone(),
    };
    let bound = |key: &str, upper| {
        query::get(params, key)
            .map(|s| parse_date_bound(s, &tz, upper))
            .transpose()
            .map_err(|e| bad(format!("{key}: {e}")))
    };
    let (mut from, mut to) = (bound("from", false)?, bound("to", true)?);
    if from.is_none() && to.is_none() {
        let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
        let today = today.to_string();
        from = Some(parse_date_bound(&today, &tz, false).map_err(bad)?);
        to = Some(parse_date_bound(&today, &tz, true).map_err(bad)?);
    }
    let q = ReportQuery {
        from,
        to,
        by,
        tz: tz.clone(),
        place: query::get(params, "line").map(Into::into),
        label: query::get(params, "class").map(Into::into),
    };
    let unavailable =
        |e: crate::store::StoreError| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    let store = Store::open_read_only(path).map_err(unavailable)?;
    let report = store
        .report_bounded(&q, MAX_COUNTS_ROWS, MAX_COUNTS_CELLS)
        .map_err(|e| match e {
            crate::store::StoreError::Query(m) => bad(m),
            crate::store::StoreError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            e => unavailable(e),
        })?;
    let stamp = |z: &jiff::Zoned| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let rows: Vec<_> = report
        .rows
        .iter()
        .map(|r| {
            json!({
                "start": stamp(&r.start),
                "end": stamp(&r.end),
                "label": report.label(r),
                "counts": r.counts,
            })
        })
        .collect();
    let columns: Vec<_> = report
        .columns
        .iter()
        .map(|c| json!({ "place": c.place, "measure": c.measure.as_str(), "name": c.name() }))
        .collect();
    Ok(json!({
        "by": report.by.as_str(),
        "tz": report.tz_name,
        "from": q.from.map(|t| stamp(&t.to_zoned(tz.clone()))),
        "to": q.to.map(|t| stamp(&t.to_zoned(tz.clone()))),
        "columns": columns,
        "rows": rows,
        "totals": report.totals,
        "hourly_before": report.hourly_before.map(|t| stamp(&t.to_zoned(tz.clone()))),
        "coarse_hours": report.coarse_hours,
        "suspect_events": report.suspect_events,
    }))
}

async fn snapshot_jpg(app: Arc<App>) -> Resp {
    let slot = &app.snapshot;
    let seq = slot.seq();
    slot.request();
    let streaming = app.live().stats.source == SourceState::Streaming;
    if streaming || seq == 0 {
        let deadline = tokio::time::Instant::now() + SNAPSHOT_WAIT;
        while slot.seq() == seq && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if slot.seq() == 0 {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no frame yet");
    }
    let app2 = app.clone();
    let encoded = tokio::task::spawn_blocking(move || {
        // The frame loop may be between its two halves for a moment; a few tries suffice.
        let mut taken = None;
        for _ in 0..100 {
            taken = snapshot::take(&app2.snapshot.lock());
            if taken.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let taken =
            taken.ok_or_else(|| "no complete frame (the source has stopped)".to_string())?;
        let (index, wall_ms) = (taken.index, taken.wall_ms);
        snapshot::render(taken, &app2.info).map(|jpg| (jpg, index, wall_ms))
    })
    .await;
    match encoded {
        Ok(Ok((jpg, index, wall_ms))) => {
            let mut r = body(StatusCode::OK, "image/jpeg", jpg.into());
            let h = r.headers_mut();
            h.insert("x-frame-index", HeaderValue::from(index));
            h.insert(
                "x-frame-age-ms",
                HeaderValue::from((now_ms() - wall_ms).max(0)),
            );
            r
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
