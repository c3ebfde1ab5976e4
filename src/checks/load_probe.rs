//! `kind = "load_probe"`: latency of one endpoint while background requests keep another
//! busy — e.g. does `/healthz` stay fast while CPU-heavy requests run? (A service that does
//! the heavy work on its event loop makes every other request wait.)

use super::{Ctx, Evidence, Outcome};
use crate::load::{Background, Latencies};
use crate::request::RequestSpec;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub background: BackgroundSpec,
    pub probe: ProbeSpec,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundSpec {
    pub request: RequestSpec,
    pub concurrency: usize,
    /// Time for the background requests to get going before the first probe.
    #[serde(default = "warmup")]
    pub warmup_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub request: RequestSpec,
    pub count: u32,
    #[serde(default = "interval")]
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub p95_ms: f64,
    #[serde(default = "ok")]
    pub status: u16,
}

fn warmup() -> u64 {
    300
}
fn interval() -> u64 {
    20
}
fn ok() -> u16 {
    200
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.background.concurrency) {
            return Err("background.concurrency must be 1..64".into());
        }
        if !(10..=10_000).contains(&self.probe.count) {
            return Err("probe.count must be 10..10000 (fewer samples make p95 meaningless)".into());
        }
        if self.expect.p95_ms.is_nan() || self.expect.p95_ms <= 0.0 {
            return Err("expect.p95_ms must be a positive number of milliseconds".into());
        }
        Ok(())
    }
}

/// The verdict on measured numbers. Pure.
pub fn judge(p95_ms: f64, limit_ms: f64, samples: u64) -> bool {
    samples > 0 && p95_ms <= limit_ms
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let (bg_req, probe_req) = match (ctx.prepare(&spec.background.request), ctx.prepare(&spec.probe.request)) {
        (Ok(b), Ok(p)) => (b, p),
        (Err(o), _) | (_, Err(o)) => return o,
    };
    let background_desc =
        format!("{} × {} {} in a closed loop", spec.background.concurrency, bg_req.method, bg_req.url.path());
    let probe_curl = Evidence::Curl { line: probe_req.curl() };

    // Bounded: probes × (interval + their timeout), plus warm-up.
    let budget = Duration::from_millis(spec.background.warmup_ms)
        + (Duration::from_millis(spec.probe.interval_ms) + probe_req.timeout) * spec.probe.count;
    let background = Background::start(&ctx.client, bg_req, spec.background.concurrency, budget);
    tokio::time::sleep(Duration::from_millis(spec.background.warmup_ms)).await;

    let mut latencies = Latencies::new();
    let mut bad: Vec<String> = Vec::new();
    for _ in 0..spec.probe.count {
        match probe_req.send(&ctx.client).await {
            Ok(r) if r.status == spec.expect.status => latencies.record(r.elapsed),
            Ok(r) => bad.push(format!("HTTP {}", r.status)),
            Err(e) => bad.push(e),
        }
        tokio::time::sleep(Duration::from_millis(spec.probe.interval_ms)).await;
    }
    let bg = background.stop().await;
    let p = latencies.percentiles();
    let latency = Evidence::Latency {
        samples: p.samples,
        p50_ms: p.p50_ms,
        p95_ms: p.p95_ms,
        p99_ms: p.p99_ms,
        max_ms: p.max_ms,
        limit_ms: spec.expect.p95_ms,
        background: format!(
            "{background_desc}: {} answered, {} failed in {:.1} s",
            bg.answered,
            bg.failed,
            bg.elapsed.as_secs_f64()
        ),
    };
    let probe_path = probe_req.url.path().to_string();

    if bg.answered == 0 || bg.failed > 0 {
        let why = bg.first_failure.unwrap_or_else(|| "no background request was answered".into());
        return Outcome::fail(format!(
            "the background requests failed ({why}), so the latency of {probe_path} under load could not be measured"
        ))
        .with(latency)
        .with(probe_curl);
    }
    if !bad.is_empty() {
        return Outcome::fail(format!(
            "{} of {} probes of {probe_path} did not get {} (first: {})",
            bad.len(),
            spec.probe.count,
            spec.expect.status,
            bad[0]
        ))
        .with(latency)
        .with(probe_curl);
    }
    if judge(p.p95_ms, spec.expect.p95_ms, p.samples) {
        Outcome::pass(format!("{probe_path} p95 {:.1} ms ≤ {} ms under load", p.p95_ms, spec.expect.p95_ms))
            .with(latency)
    } else {
        Outcome::fail(format!(
            "{probe_path} p95 was {:.1} ms under load; the limit is {} ms — something is blocking the event loop",
            p.p95_ms, spec.expect.p95_ms
        ))
        .with(latency)
        .with(probe_curl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_samples_never_pass() {
        assert!(!judge(0.0, 50.0, 0));
        assert!(judge(49.9, 50.0, 10));
        assert!(judge(50.0, 50.0, 10));
        assert!(!judge(50.1, 50.0, 10));
    }
}
