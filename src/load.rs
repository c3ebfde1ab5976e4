//! Bounded load: a closed loop of background requests (N workers, each sending the next
//! request when the last one answered) and latency recording with an HDR histogram.
//! Loops stop by themselves at a deadline even if nobody stops them.

use crate::events::{Progress, Unit, progress};
use crate::request::Prepared;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// Load only needs status and latency: keep at most this much of each body.
const LOAD_BODY_CAP: usize = 64 << 10;

#[derive(Default)]
struct Counters {
    answered: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

/// Background traffic running until stopped or until its deadline.
pub struct Background {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<()>,
    counters: Arc<Counters>,
    started: Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundReport {
    /// Requests answered with a status below 500.
    pub answered: u64,
    /// Transport errors and 5xx answers.
    pub failed: u64,
    pub first_failure: Option<String>,
    pub elapsed: Duration,
}

impl Background {
    pub fn start(client: &reqwest::Client, req: Prepared, workers: usize, deadline: Duration) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let mut tasks = JoinSet::new();
        let until = Instant::now() + deadline;
        for _ in 0..workers {
            let (client, req, stop, counters) = (client.clone(), req.clone(), stop.clone(), counters.clone());
            tasks.spawn(async move {
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    let failure = match req.send_capped(&client, LOAD_BODY_CAP).await {
                        Ok(r) if r.status < 500 => None,
                        Ok(r) => Some(format!("HTTP {}", r.status)),
                        Err(e) => Some(e),
                    };
                    match failure {
                        None => counters.answered.fetch_add(1, Ordering::Relaxed),
                        Some(f) => {
                            counters.first_failure.lock().await.get_or_insert(f);
                            counters.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
        Background { stop, tasks, counters, started: Instant::now() }
    }

    /// Stop sending, wait for in-flight requests (bounded by their own timeouts), and report.
    pub async fn stop(mut self) -> BackgroundReport {
        self.stop.store(true, Ordering::Relaxed);
        while self.tasks.join_next().await.is_some() {}
        BackgroundReport {
            answered: self.counters.answered.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            first_failure: self.counters.first_failure.lock().await.clone(),
            elapsed: self.started.elapsed(),
        }
    }
}

/// What a fixed batch of probe requests measured.
pub struct ProbeResult {
    pub latencies: Latencies,
    /// Requests that did not get the expected status (or no answer), described.
    pub bad: Vec<String>,
}

/// Send `count` requests over `workers` concurrent connections (each sends its next request
/// when the last one answered), waiting `interval` between a worker's requests, and record
/// the latency of each one that got `status`.
pub async fn probe(
    client: &reqwest::Client,
    req: &Prepared,
    workers: usize,
    count: u32,
    interval: Duration,
    status: u16,
) -> ProbeResult {
    let left = Arc::new(AtomicU64::new(u64::from(count)));
    let answered = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..workers.max(1) {
        let (client, req, left, answered) = (client.clone(), req.clone(), left.clone(), answered.clone());
        tasks.spawn(async move {
            let mut mine = ProbeResult { latencies: Latencies::new(), bad: Vec::new() };
            while left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                match req.send_capped(&client, LOAD_BODY_CAP).await {
                    Ok(r) if r.status == status => mine.latencies.record(r.elapsed),
                    Ok(r) => mine.bad.push(format!("HTTP {}", r.status)),
                    Err(e) => mine.bad.push(e),
                }
                answered.fetch_add(1, Ordering::Relaxed);
                if !interval.is_zero() {
                    tokio::time::sleep(interval).await;
                }
            }
            mine
        });
    }
    let mut all = ProbeResult { latencies: Latencies::new(), bad: Vec::new() };
    let started = Instant::now();
    let reading = || Progress {
        unit: Unit::Requests,
        label: format!("probing {} {}", req.method, req.url.path()),
        done: answered.load(Ordering::Relaxed),
        total: Some(u64::from(count)),
        elapsed: started.elapsed(),
        window: None,
    };
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            part = tasks.join_next() => match part {
                Some(Ok(part)) => {
                    all.latencies.merge(&part.latencies);
                    all.bad.extend(part.bad);
                }
                Some(Err(_)) => {}
                None => break,
            },
            _ = tick.tick() => progress(reading()),
        }
    }
    all
}

/// How often a load loop says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What a timed closed-loop run measured.
#[derive(Default)]
pub struct LoadResult {
    /// Latency of every answered request, whatever its status.
    pub latencies: Latencies,
    pub requests: u64,
    /// Transport errors and 5xx answers.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Answers below 500 with a status other than the expected one.
    pub unexpected: u64,
    pub first_unexpected: Option<u16>,
    pub elapsed: Duration,
}

/// `connections` workers, each sending its next request as soon as the last one answered,
/// until `duration` has passed (a request in flight then is still waited for, bounded by
/// its own timeout).
pub async fn run_for(
    client: &reqwest::Client,
    req: &Prepared,
    connections: usize,
    duration: Duration,
    status: &crate::matching::StatusExpect,
) -> LoadResult {
    let started = Instant::now();
    let until = started + duration;
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..connections.max(1) {
        let (client, req, status, sent) = (client.clone(), req.clone(), status.clone(), sent.clone());
        tasks.spawn(async move {
            let mut mine = LoadResult::default();
            while Instant::now() < until {
                mine.requests += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                match req.send_capped(&client, LOAD_BODY_CAP).await {
                    Ok(r) => {
                        mine.latencies.record(r.elapsed);
                        if r.status >= 500 {
                            mine.errors += 1;
                            mine.first_error.get_or_insert(format!("HTTP {}", r.status));
                        } else if !status.matches(r.status) {
                            mine.unexpected += 1;
                            mine.first_unexpected.get_or_insert(r.status);
                        }
                    }
                    Err(e) => {
                        mine.errors += 1;
                        mine.first_error.get_or_insert(e);
                    }
                }
            }
            mine
        });
    }
    let mut all = LoadResult::default();
    let reading = || Progress {
        unit: Unit::Requests,
        label: format!("load on {} {}", req.method, req.url.path()),
        done: sent.load(Ordering::Relaxed),
        total: None,
        elapsed: started.elapsed(),
        window: Some(duration),
    };
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            part = tasks.join_next() => match part {
                Some(Ok(part)) => {
                    all.latencies.merge(&part.latencies);
                    all.requests += part.requests;
                    all.errors += part.errors;
                    all.unexpected += part.unexpected;
                    all.first_error = all.first_error.or(part.first_error);
                    all.first_unexpected = all.first_unexpected.or(part.first_unexpected);
                }
                Some(Err(_)) => {}
                None => break,
            },
            _ = tick.tick() => progress(reading()),
        }
    }
    all.elapsed = started.elapsed();
    all
}

/// Latency samples in microseconds.
pub struct Latencies(Histogram<u64>);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub samples: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        // 1 µs to 10 min at 3 significant digits: exact enough for any latency we judge.
        Latencies(Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds"))
    }

    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        self.0.record(us).expect("value clamped into bounds");
    }

    pub fn merge(&mut self, other: &Latencies) {
        self.0.add(&other.0).expect("same bounds");
    }

    /// How many samples fall in each bucket `(previous bound, bound]` (bounds in ms; the
    /// last bound may be infinite).
    pub fn counts_up_to(&self, bounds_ms: &[f64]) -> Vec<u64> {
        let mut below = 0u64;
        bounds_ms
            .iter()
            .map(|&b| {
                let upto = if b.is_infinite() {
                    self.0.len()
                } else {
                    let us = (b * 1000.0) as u64;
                    self.0.iter_recorded().filter(|v| v.value_iterated_to() <= us).map(|v| v.count_at_value()).sum()
                };
                let n = upto.saturating_sub(below);
                below = upto.max(below);
                n
            })
            .collect()
    }

    pub fn percentiles(&self) -> Percentiles {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            samples: self.0.len(),
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p95_ms: ms(self.0.value_at_quantile(0.95)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut l = Latencies::new();
        for i in 1..=100u64 {
            l.record(Duration::from_millis(i));
        }
        let p = l.percentiles();
        assert_eq!(p.samples, 100);
        assert!((p.p50_ms - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p95_ms - 95.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn counts_per_bucket() {
        let mut l = Latencies::new();
        for ms in [1, 3, 3, 8, 400] {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.counts_up_to(&[2.0, 5.0, 10.0, f64::INFINITY]), vec![1, 2, 1, 1]);
    }

    #[test]
    fn empty_has_zero_samples() {
        assert_eq!(Latencies::new().percentiles().samples, 0);
    }
}
