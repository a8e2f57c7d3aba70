//! The load client: closed-loop keep-alive connections, each sending requests back to back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use super::Timing;
use super::targets::Target;
use super::workload::Workload;

/// Latencies are recorded in microseconds, up to a minute.
pub(super) const MAX_LATENCY_US: u64 = 60_000_000;

/// What one target did at one connection count, over the measured window.
pub(super) struct Stats {
    pub(super) requests: u64,
    pub(super) errors: u64,
    /// Latency of every measured request, errors included, in µs.
    pub(super) latency_us: Histogram<u64>,
    pub(super) first_error: Option<String>,
}

impl Stats {
    fn new() -> Self {
        Self {
            requests: 0,
            errors: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            first_error: None,
        }
    }

    fn record(
        &mut self,
        latency: Duration,
        outcome: &anyhow::Result<(StatusCode, Bytes)>,
        workload: Workload,
    ) {
        self.requests += 1;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
        let error = match outcome {
            Ok((StatusCode::OK, body)) if workload.expected(body) => return,
            Ok((status, body)) => format!("{status}: {:?}", String::from_utf8_lossy(body)),
            Err(err) => format!("{err:#}"),
        };
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with the same bounds merge");
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs the closed-loop load against one target and reports progress on stderr.
pub(super) fn measure(
    client: &Runtime,
    target: &Target,
    connections: usize,
    timing: &Timing,
) -> anyhow::Result<Stats> {
    eprintln!(
        "bench: {} at {connections} connection(s): {:?} warm-up + {:?}",
        target.name, timing.warmup, timing.duration
    );
    let stats = client.block_on(load(target, connections, timing))?;
    if let Some(error) = &stats.first_error {
        eprintln!(
            "bench: {}: {} error(s), first: {error}",
            target.name, stats.errors
        );
    }
    Ok(stats)
}

async fn load(target: &Target, connections: usize, timing: &Timing) -> anyhow::Result<Stats> {
    // Connect everything first so that connection setup is not part of the measurement.
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(target.addr).await?);
    }
    let target = Arc::new(target.clone());
    let measure_from = Instant::now() + timing.warmup;
    let end = measure_from + timing.duration;

    let mut tasks = JoinSet::new();
    for sender in senders {
        tasks.spawn(drive_connection(
            Arc::clone(&target),
            sender,
            measure_from,
            end,
        ));
    }
    let mut total = Stats::new();
    while let Some(stats) = tasks.join_next().await {
        total.merge(stats??);
    }
    Ok(total)
}

/// Sends requests back-to-back on one connection until `end`, recording those that start at or
/// after `measure_from`. A broken connection counts as an error and is replaced.
async fn drive_connection(
    target: Arc<Target>,
    mut sender: SendRequest<Full<Bytes>>,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::new();
    loop {
        let started = Instant::now();
        if started >= end {
            return Ok(stats);
        }
        let outcome = exchange(&mut sender, target.invoke_request()).await;
        if started >= measure_from {
            stats.record(started.elapsed(), &outcome, target.workload);
        }
        if outcome.is_err() {
            sender = connect(target.addr).await?;
        }
    }
}

/// Opens one keep-alive HTTP/1.1 connection.
pub(super) async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when the sender is dropped; its errors reach the sender.
    tokio::spawn(connection);
    Ok(sender)
}

/// One request and its whole response.
pub(super) async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
