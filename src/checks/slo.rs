//! `kind = "slo"`: a bounded closed-loop load against one endpoint, judged against the
//! learner's own `slo.toml` (which must itself be valid and at least as strict as the
//! lab's floor): p95 latency and availability. With `histogram`, the service's own latency
//! histogram is scraped before and after the window and must put its p95 in a bucket that
//! agrees with what the grader measured — telemetry that lies is caught here. Zero samples
//! is a failure, never a pass.

use super::metrics::{self, Filter};
use super::{Bar, Ctx, Distribution, Evidence, Outcome};
use crate::matching::StatusExpect;
use crate::prom::histogram::{self, Bucket};
use crate::request::RequestSpec;
use crate::slo::{Floor, Slo};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub request: RequestSpec,
    #[serde(default = "connections")]
    pub connections: usize,
    pub duration_ms: u64,
    /// Requests before the window (connections, caches, JIT), not counted.
    #[serde(default = "warmup")]
    pub warmup_ms: u64,
    #[serde(default = "ok")]
    pub status: StatusExpect,
    /// The learner's SLO file: default path, and the `[artifacts]` entry that may move it.
    #[serde(default = "slo_file")]
    pub slo_file: String,
    #[serde(default = "slo_artifact")]
    pub slo_artifact: String,
    pub floor: Floor,
    pub histogram: Option<HistogramSpec>,
    /// Key of slo.toml → other names the lab accepts for it. The lesson's `serviceSLO`
    /// names and every case convention are accepted without being listed.
    #[serde(default)]
    pub slo_aliases: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistogramSpec {
    pub metric: String,
    /// Label → exact value or `~regex`: the series the window's traffic lands in.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default = "metrics::scrape")]
    pub scrape: RequestSpec,
}

fn connections() -> usize {
    8
}
fn warmup() -> u64 {
    500
}
fn ok() -> StatusExpect {
    StatusExpect::Code(200)
}
fn slo_file() -> String {
    "slo.toml".into()
}
fn slo_artifact() -> String {
    "slo".into()
}

/// Rows of the drawn distribution, in ms.
const BOUNDS_MS: &[f64] =
    &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, f64::INFINITY];

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.connections) {
            return Err("connections must be 1..64".into());
        }
        if !(1000..=120_000).contains(&self.duration_ms) {
            return Err("duration_ms must be 1000..120000 (a bounded load)".into());
        }
        if self.warmup_ms > 10_000 {
            return Err("warmup_ms is at most 10000".into());
        }
        self.status.validate()?;
        if let Some(k) = self.slo_aliases.keys().find(|k| !crate::slo::key_names().any(|n| n == k.as_str())) {
            return Err(format!(
                "slo_aliases names {k:?}; expected keys of slo.toml: {}",
                crate::slo::key_names().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(h) = &self.histogram {
            metrics::parse_filter(&h.labels)?;
        }
        let f = &self.floor;
        if !(f.p95_latency_ms > 0.0 && (0.0..100.0).contains(&f.availability_percent)) {
            return Err("floor: p95_latency_ms must be positive and availability_percent below 100".into());
        }
        Ok(())
    }
}

/// What the grader measured in the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Requests sent in the window.
    pub requests: u64,
    /// Requests that got an answer (their latencies are the samples).
    pub answered: u64,
    pub errors: u64,
    pub p95_ms: f64,
}

/// The service's own view of the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceView {
    pub observations: f64,
    /// The bucket (ms) its p95 falls in; upper None is +Inf.
    pub p95_bucket: (f64, Option<f64>),
}

/// Do the grader's p95 and the service's p95 bucket agree? The grader's clock also covers
/// the network and its own scheduling, which on a loaded two-core machine can double a
/// fast request's time, so it may read well above the bucket; the mistakes this catches
/// (a unit off by 1000, a timer that misses the slow part) are far larger than that.
pub fn agrees(grader_p95_ms: f64, (lo, hi): (f64, Option<f64>)) -> bool {
    let above_lower = grader_p95_ms >= lo * 0.8 - 1.0;
    let below_upper = hi.is_none_or(|hi| grader_p95_ms <= hi * 2.0 + 20.0);
    above_lower && below_upper
}

/// Every objective the window missed, in words. Pure.
pub fn judge(m: &Measured, slo: &Slo, service: Option<&Result<ServiceView, String>>) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    if m.answered == 0 || m.requests == 0 {
        out.push(("answered requests".into(), "at least one".into(), "none: there is nothing to judge".into()));
        return out;
    }
    if m.p95_ms > slo.p95_latency_ms {
        out.push((
            "p95 latency".into(),
            format!("≤ {} ms (your slo.toml)", slo.p95_latency_ms),
            format!("{:.1} ms", m.p95_ms),
        ));
    }
    let availability = (m.requests - m.errors) as f64 * 100.0 / m.requests as f64;
    if availability < slo.availability_percent {
        out.push((
            "availability".into(),
            format!("≥ {}% (your slo.toml)", slo.availability_percent),
            format!("{availability:.2}% ({} of {} requests failed)", m.errors, m.requests),
        ));
    }
    match service {
        None => {}
        Some(Err(e)) => out.push(("the service's latency histogram".into(), "a p95 to compare".into(), e.clone())),
        Some(Ok(v)) => {
            let n = m.answered as f64;
            if v.observations < n * 0.9 - 16.0 || v.observations > n * 1.1 + 16.0 {
                out.push((
                    "observations in the service's histogram during the window".into(),
                    format!("about {} (the requests answered)", m.answered),
                    format!("{}", v.observations),
                ));
            } else if !agrees(m.p95_ms, v.p95_bucket) {
                let hi = v.p95_bucket.1.map_or("+Inf".into(), |h| format!("{h} ms"));
                out.push((
                    "p95 from the service's histogram".into(),
                    format!("to agree with the grader's {:.1} ms within bucket resolution", m.p95_ms),
                    format!(
                        "in ({} ms, {hi}] — check the unit (seconds) and where the timer starts and stops",
                        v.p95_bucket.0
                    ),
                ));
            }
        }
    }
    out
}

fn read_slo(spec: &Spec, ctx: &Ctx<'_>) -> Result<Slo, Outcome> {
    let path = ctx.config.artifact_path(Some(&spec.slo_artifact), &spec.slo_file);
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Outcome::fail(format!("{shown}: {e} — the load is judged against the objectives you write there"))
    })?;
    crate::slo::parse_with(&shown, &text, Some(&spec.floor), &spec.slo_aliases).map_err(|problems| {
        let lines: Vec<String> =
            problems.iter().flat_map(|d| d.to_string().lines().map(str::to_string).collect::<Vec<_>>()).collect();
        Outcome::fail(format!("{shown} is not a usable SLO: {}", problems[0].message))
            .with(Evidence::At {
                file: ctx.config.in_repo(&path),
                line: problems[0].location.line,
                col: problems[0].location.col,
            })
            .with(Evidence::Output { label: shown.clone(), lines })
    })
}

async fn histogram_buckets(ctx: &mut Ctx<'_>, h: &HistogramSpec, filter: &Filter) -> Result<Vec<Bucket>, String> {
    let exp = metrics::fetch(ctx, &h.scrape).await.map_err(|o| o.message)?;
    let all = histogram::collect(&exp, &h.metric)?;
    if all.iter().all(|h| h.buckets.is_empty()) {
        if exp.type_of(&h.metric) == Some(crate::prom::MetricType::Summary) {
            return Err(format!(
                "{} is a summary, not a histogram: its quantiles are computed inside one process and cannot be compared or added up",
                h.metric
            ));
        }
        let kind = exp.type_of(&h.metric).map_or("not exposed".to_string(), |t| format!("a {}", t.as_str()));
        return Err(format!("{} has no histogram buckets ({kind})", h.metric));
    }
    Ok(histogram::merge(all.iter().filter(|s| metrics::selects(filter, &s.labels))))
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let slo = match read_slo(spec, ctx) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let prepared = match ctx.prepare(&spec.request) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let curl = Evidence::Curl { line: prepared.curl() };
    if spec.warmup_ms > 0 {
        crate::load::run_for(
            &ctx.client,
            &prepared,
            spec.connections,
            Duration::from_millis(spec.warmup_ms),
            &spec.status,
        )
        .await;
    }
    let filter = spec.histogram.as_ref().map(|h| metrics::parse_filter(&h.labels).unwrap_or_default());
    let before = match (&spec.histogram, &filter) {
        (Some(h), Some(f)) => Some(histogram_buckets(ctx, h, f).await),
        _ => None,
    };
    let window = Duration::from_millis(spec.duration_ms);
    let run = crate::load::run_for(&ctx.client, &prepared, spec.connections, window, &spec.status).await;
    let service = match (&spec.histogram, &filter, before) {
        (Some(h), Some(f), Some(before)) => Some(match (before, histogram_buckets(ctx, h, f).await) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(b), Ok(a)) => {
                let d = histogram::delta(&b, &a);
                let observations = d.last().map_or(0.0, |b| b.count);
                match histogram::quantile_bucket(&d, 0.95) {
                    None => Err(format!("{} recorded no observation during the window", h.metric)),
                    Some((lo, hi)) => Ok(ServiceView {
                        observations,
                        p95_bucket: (lo * 1000.0, hi.is_finite().then_some(hi * 1000.0)),
                    }),
                }
            }
        }),
        _ => None,
    };
    let p = run.latencies.percentiles();
    let measured = Measured { requests: run.requests, answered: p.samples, errors: run.errors, p95_ms: p.p95_ms };
    // The objective becomes a bound of its own, so the report draws it between two rows.
    let mut bounds: Vec<f64> = BOUNDS_MS.to_vec();
    if !bounds.contains(&slo.p95_latency_ms) {
        bounds.push(slo.p95_latency_ms);
        bounds.sort_by(f64::total_cmp);
    }
    let counts = run.latencies.counts_up_to(&bounds);
    let distribution = Evidence::Distribution(Box::new(Distribution {
        requests: run.requests,
        errors: run.errors,
        connections: spec.connections,
        duration_ms: run.elapsed.as_millis() as u64,
        p50_ms: p.p50_ms,
        p95_ms: p.p95_ms,
        p99_ms: p.p99_ms,
        max_ms: p.max_ms,
        bars: bounds.iter().zip(counts).map(|(&upper_ms, count)| Bar { upper_ms, count }).collect(),
        slo_p95_ms: slo.p95_latency_ms,
        service_p95: service.as_ref().and_then(|s| s.as_ref().ok()).map(|v| v.p95_bucket),
    }));
    if run.unexpected > 0 {
        return Outcome::fail(format!(
            "{} of {} requests got {} instead of {} — the load must hit a working endpoint to measure it",
            run.unexpected,
            run.requests,
            run.first_unexpected.unwrap_or(0),
            spec.status.describe()
        ))
        .with(distribution)
        .with(curl);
    }
    let missed = judge(&measured, &slo, service.as_ref());
    let path = prepared.url.path().to_string();
    if missed.is_empty() {
        return Outcome::pass(format!(
            "{path}: p95 {:.1} ms ≤ {} ms, {} errors in {} requests over {:.1} s{}",
            p.p95_ms,
            slo.p95_latency_ms,
            run.errors,
            run.requests,
            run.elapsed.as_secs_f64(),
            if service.is_some() { "; the service's histogram agrees" } else { "" }
        ))
        .with(distribution);
    }
    let (what, expected, actual) = &missed[0];
    let mut out = Outcome::fail(format!("{path} under load: {what}: expected {expected}, got {actual}"));
    for (what, expected, actual) in missed.iter().skip(1) {
        out = out.with(Evidence::Assert { what: what.clone(), expected: expected.clone(), actual: actual.clone() });
    }
    if let Some(e) = &run.first_error {
        out = out.with(Evidence::Note { text: format!("first error: {e}") });
    }
    out.with(distribution).with(curl)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLO: Slo = Slo {
        availability_percent: 99.9,
        p95_latency_ms: 300.0,
        error_rate_alert_percent: 2.0,
        paging_window_minutes: 5.0,
    };

    #[test]
    fn zero_samples_is_a_failure() {
        let m = Measured { requests: 0, answered: 0, errors: 0, p95_ms: 0.0 };
        assert_eq!(judge(&m, &SLO, None).len(), 1);
        let m = Measured { requests: 40, answered: 0, errors: 40, p95_ms: 0.0 };
        assert_eq!(judge(&m, &SLO, None).len(), 1);
    }

    #[test]
    fn latency_and_availability_against_the_learners_numbers() {
        let good = Measured { requests: 5000, answered: 5000, errors: 2, p95_ms: 12.0 };
        assert!(judge(&good, &SLO, None).is_empty());
        let slow = Measured { p95_ms: 610.0, ..good };
        assert_eq!(judge(&slow, &SLO, None)[0].0, "p95 latency");
        let failing = Measured { errors: 10, ..good };
        assert!(judge(&failing, &SLO, None)[0].2.starts_with("99.80%"), "{:?}", judge(&failing, &SLO, None));
    }

    #[test]
    fn histogram_agreement_within_bucket_resolution() {
        assert!(agrees(7.0, (5.0, Some(10.0))));
        assert!(agrees(11.5, (5.0, Some(10.0))), "the grader's clock reads a little high");
        assert!(agrees(17.8, (5.0, Some(10.0))), "or, on a busy machine, a lot higher");
        assert!(!agrees(41.0, (5.0, Some(10.0))));
        assert!(agrees(2.0, (1.0, Some(2.5))));
        assert!(!agrees(7.0, (2500.0, Some(5000.0))), "milliseconds observed as seconds");
        assert!(!agrees(600.0, (1.0, Some(2.5))), "a timer that misses the slow part");
        assert!(agrees(12000.0, (10000.0, None)));
        let m = Measured { requests: 5000, answered: 5000, errors: 0, p95_ms: 7.0 };
        let view = |obs: f64, b| Ok(ServiceView { observations: obs, p95_bucket: b });
        assert!(judge(&m, &SLO, Some(&view(5004.0, (5.0, Some(10.0))))).is_empty());
        assert!(judge(&m, &SLO, Some(&view(10000.0, (5.0, Some(10.0)))))[0].0.starts_with("observations"));
        assert!(judge(&m, &SLO, Some(&view(5000.0, (2500.0, Some(5000.0)))))[0].2.contains("unit"));
        assert!(judge(&m, &SLO, Some(&Err("no histogram".into())))[0].2.contains("no histogram"));
    }
}
