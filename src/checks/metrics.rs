//! `kind = "metrics"`: the service's Prometheus endpoint, scraped and parsed as a Prometheus
//! server would. It may require series (type, labels, well-formed histograms), send traffic
//! of its own between two scrapes and require a counter to move by exactly that much, and
//! bound how many label values that traffic creates (a raw path as a label is unbounded).

use super::{Ctx, Evidence, Outcome};
use crate::matching::{Pattern, StatusExpect};
use crate::prom::{self, Exposition, MetricType, histogram};
use crate::request::{AuthSpec, RequestSpec};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// How to scrape (default `GET /metrics` without a token).
    #[serde(default = "scrape")]
    pub scrape: RequestSpec,
    #[serde(default)]
    pub require: Vec<Require>,
    /// Requests sent between the two scrapes.
    pub traffic: Option<Traffic>,
    pub delta: Option<Delta>,
    pub cardinality: Option<Cardinality>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Require {
    pub metric: String,
    /// counter, gauge, histogram or summary.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Labels every series of it must have.
    #[serde(default)]
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    pub request: RequestSpec,
    pub count: u32,
    #[serde(default = "ok")]
    pub status: StatusExpect,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    pub metric: String,
    /// Label → exact value or `~regex`; the series that match are added up.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub equals: f64,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cardinality {
    pub metric: String,
    pub label: String,
    /// At most this many values of `label` may appear that were not there before.
    pub max_new: usize,
}

pub fn scrape() -> RequestSpec {
    RequestSpec { path: "/metrics".into(), auth: Some(AuthSpec::Flag(false)), ..RequestSpec::default() }
}

fn ok() -> StatusExpect {
    StatusExpect::Class("2xx".into())
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        for r in &self.require {
            if let Some(k) = &r.kind
                && (MetricType::parse(k).is_none() || k == "untyped")
            {
                return Err(format!("require {}: type {k:?} is not counter, gauge, histogram or summary", r.metric));
            }
        }
        if let Some(t) = &self.traffic {
            t.status.validate()?;
            if !(1..=10_000).contains(&t.count) {
                return Err("traffic.count must be 1..10000".into());
            }
        }
        if let Some(d) = &self.delta {
            parse_filter(&d.labels)?;
            if self.traffic.is_none() {
                return Err("`delta` measures the check's own traffic: add `traffic`".into());
            }
        }
        if self.cardinality.is_some() && self.traffic.is_none() {
            return Err("`cardinality` measures the check's own traffic: add `traffic`".into());
        }
        if self.require.is_empty() && self.delta.is_none() && self.cardinality.is_none() {
            return Err("a metrics check needs `require`, `delta` or `cardinality`".into());
        }
        Ok(())
    }
}

pub type Filter = Vec<(String, Pattern)>;

pub fn parse_filter(labels: &BTreeMap<String, String>) -> Result<Filter, String> {
    labels
        .iter()
        .map(|(k, v)| Pattern::parse(v).map(|p| (k.clone(), p)).map_err(|e| format!("labels.{k}: {e}")))
        .collect()
}

pub fn selects(filter: &Filter, labels: &prom::Labels) -> bool {
    filter.iter().all(|(k, p)| labels.iter().any(|(lk, lv)| lk == k && p.is_match(lv)))
}

pub fn describe_filter(metric: &str, filter: &Filter) -> String {
    let inner: Vec<String> = filter
        .iter()
        .map(|(k, p)| match p {
            Pattern::Exact(v) => format!("{k}=\"{v}\""),
            Pattern::Regex(r) => format!("{k}=~\"{}\"", r.as_str()),
        })
        .collect();
    if inner.is_empty() { metric.to_string() } else { format!("{metric}{{{}}}", inner.join(",")) }
}

/// Scrape and parse; the outcome to end with when that is impossible.
pub async fn fetch(ctx: &mut Ctx<'_>, req: &RequestSpec) -> Result<Exposition, Outcome> {
    let prepared = ctx.prepare(req)?;
    let curl = Evidence::Curl { line: prepared.curl() };
    let path = prepared.url.path().to_string();
    let resp =
        prepared.send(&ctx.client).await.map_err(|e| Outcome::fail(format!("GET {path}: {e}")).with(curl.clone()))?;
    if resp.status != 200 {
        return Err(Outcome::fail(format!("GET {path} answered {}, expected 200 with metrics", resp.status)).with(curl));
    }
    let text = resp.body_text();
    prom::parse(&text).map_err(|e| {
        let line = text.lines().nth(e.line - 1).unwrap_or("").to_string();
        Outcome::fail(format!("GET {path}: Prometheus could not read this scrape: {e}"))
            .with(Evidence::Output { label: format!("line {}", e.line), lines: vec![line] })
            .with(curl)
    })
}

/// Problems with required series. Pure.
pub fn missing(exp: &Exposition, require: &[Require]) -> Vec<Evidence> {
    let mut out = Vec::new();
    let assert = |what: String, expected: String, actual: String| Evidence::Assert { what, expected, actual };
    for r in require {
        let declared = exp.type_of(&r.metric);
        let histogram = r.kind.as_deref() == Some("histogram") || declared == Some(MetricType::Histogram);
        let sample_name = if histogram { format!("{}_bucket", r.metric) } else { r.metric.clone() };
        let samples: Vec<&prom::Sample> = exp.samples_named(&sample_name).collect();
        if let Some(want) = &r.kind {
            let got = declared.map_or("no # TYPE line".to_string(), |t| t.as_str().to_string());
            if got != *want {
                out.push(assert(format!("type of {}", r.metric), want.clone(), got));
                continue;
            }
        }
        if samples.is_empty() {
            let similar: Vec<&str> = exp
                .names()
                .into_iter()
                .filter(|n| n.contains(r.metric.split('_').next().unwrap_or("")))
                .take(5)
                .collect();
            let actual =
                if similar.is_empty() { "no such series".into() } else { format!("only {}", similar.join(", ")) };
            out.push(assert(format!("series {sample_name}"), "at least one".into(), actual));
            continue;
        }
        for label in &r.labels {
            let without = samples.iter().filter(|s| s.label(label).is_none()).count();
            if without > 0 {
                let example = samples.iter().find(|s| s.label(label).is_none()).map(|s| prom::format_labels(&s.labels));
                out.push(assert(
                    format!("label {label} on {sample_name}"),
                    "on every series".into(),
                    format!(
                        "missing on {without} of {} (e.g. {{{}}})",
                        samples.len(),
                        example.unwrap_or_default().trim_matches(['{', '}'])
                    ),
                ));
            }
        }
        if histogram {
            match histogram::collect(exp, &r.metric) {
                Err(e) => out.push(assert(format!("histogram {}", r.metric), "well-formed".into(), e)),
                Ok(hs) => {
                    let problems: Vec<String> = hs.iter().flat_map(histogram::problems).take(3).collect();
                    if !problems.is_empty() {
                        out.push(assert(format!("histogram {}", r.metric), "well-formed".into(), problems.join("; ")));
                    }
                }
            }
        }
    }
    out
}

/// The summed value of the series `filter` selects.
pub fn total(exp: &Exposition, metric: &str, filter: &Filter) -> (f64, Vec<(String, f64)>) {
    let series: Vec<(String, f64)> = exp
        .samples_named(metric)
        .filter(|s| selects(filter, &s.labels))
        .map(|s| (prom::format_labels(&s.labels), s.value))
        .collect();
    (series.iter().map(|(_, v)| v).sum::<f64>() + 0.0, series)
}

fn label_values<'a>(exp: &'a Exposition, metric: &str, label: &str) -> BTreeSet<&'a str> {
    exp.samples
        .iter()
        .filter(|s| exp.family_of(&s.name) == exp.family_of(metric))
        .filter_map(|s| s.label(label))
        .collect()
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let before = match fetch(ctx, &spec.scrape).await {
        Ok(e) => e,
        Err(o) => return o,
    };
    let mut problems = missing(&before, &spec.require);
    let Some(traffic) = &spec.traffic else {
        return verdict(
            problems,
            format!("{} series families, every required one as expected", before.types.len()),
            None,
        );
    };
    let mut bad = Vec::new();
    let mut curl = None;
    for _ in 0..traffic.count {
        let prepared = match ctx.prepare(&traffic.request) {
            Ok(p) => p,
            Err(o) => return o,
        };
        curl.get_or_insert_with(|| Evidence::Curl { line: prepared.curl() });
        match prepared.send(&ctx.client).await {
            Ok(r) if traffic.status.matches(r.status) => {}
            Ok(r) => bad.push(format!("HTTP {}", r.status)),
            Err(e) => bad.push(e),
        }
    }
    if !bad.is_empty() {
        return Outcome::fail(format!(
            "{} of the {} requests this check sends did not get {} (first: {}), so the metrics cannot be judged",
            bad.len(),
            traffic.count,
            traffic.status.describe(),
            bad[0]
        ))
        .with_all(curl);
    }
    let after = match fetch(ctx, &spec.scrape).await {
        Ok(e) => e,
        Err(o) => return o,
    };
    let mut summary = Vec::new();
    if let Some(d) = &spec.delta {
        let filter = parse_filter(&d.labels).unwrap_or_default();
        let (was, _) = total(&before, &d.metric, &filter);
        let (now, series) = total(&after, &d.metric, &filter);
        let moved = now - was;
        let shown = describe_filter(&d.metric, &filter);
        if (moved - d.equals).abs() > 1e-9 {
            let mut lines: Vec<String> = series.iter().take(10).map(|(l, v)| format!("{}{l} {v}", d.metric)).collect();
            if lines.is_empty() {
                lines.push(format!("(no series matches; {} has route values: {})", d.metric, {
                    let v: Vec<&str> = label_values(&after, &d.metric, "route").into_iter().take(8).collect();
                    v.join(", ")
                }));
            }
            problems.push(Evidence::Assert {
                what: format!("{shown} after {} requests", traffic.count),
                expected: format!("to move by exactly {}", d.equals),
                actual: format!("moved by {moved} ({was} → {now})"),
            });
            problems.push(Evidence::Output { label: "matching series after the traffic".into(), lines });
        } else {
            summary.push(format!("{shown} moved by exactly {moved}"));
        }
    }
    if let Some(c) = &spec.cardinality {
        let old = label_values(&before, &c.metric, &c.label);
        let new: Vec<&str> = label_values(&after, &c.metric, &c.label).difference(&old).copied().collect();
        if new.len() > c.max_new {
            problems.push(Evidence::Assert {
                what: format!("new values of label {} on {} after {} requests", c.label, c.metric, traffic.count),
                expected: format!("at most {}", c.max_new),
                actual: format!("{} (e.g. {})", new.len(), new.iter().take(3).copied().collect::<Vec<_>>().join(", ")),
            });
        } else {
            summary.push(format!("{} new {} value(s) on {}", new.len(), c.label, c.metric));
        }
    }
    verdict(problems, summary.join("; "), curl)
}

fn verdict(problems: Vec<Evidence>, pass: String, curl: Option<Evidence>) -> Outcome {
    if problems.is_empty() {
        return Outcome::pass(pass);
    }
    Outcome::from_problems(problems, "the metrics are not as expected").with_all(curl)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# TYPE http_requests_total counter
http_requests_total{method="GET",route="/invoices/{id}",status="200"} 20
http_requests_total{method="GET",route="/metrics",status="200"} 3
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="/invoices/{id}",le="0.1"} 20
http_request_duration_seconds_bucket{route="/invoices/{id}",le="+Inf"} 20
http_request_duration_seconds_sum{route="/invoices/{id}"} 0.2
http_request_duration_seconds_count{route="/invoices/{id}"} 20
# TYPE http_request_seconds summary
http_request_seconds{quantile="0.5"} 0.1
"#;

    fn req(metric: &str, kind: &str, labels: &[&str]) -> Require {
        Require {
            metric: metric.into(),
            kind: Some(kind.into()),
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn required_series_types_and_labels() {
        let e = prom::parse(SCRAPE).unwrap();
        let ok = [
            req("http_requests_total", "counter", &["method", "route", "status"]),
            req("http_request_duration_seconds", "histogram", &["route"]),
        ];
        assert!(missing(&e, &ok).is_empty(), "{:?}", missing(&e, &ok));
        let bad = [
            req("http_request_seconds", "histogram", &[]),
            req("http_requests_total", "counter", &["tenant"]),
            req("http_errors_total", "counter", &[]),
        ];
        let m = missing(&e, &bad);
        assert_eq!(m.len(), 3, "{m:?}");
        let text = format!("{m:?}");
        assert!(text.contains("summary"), "{text}");
        assert!(text.contains("missing on 2 of 2"), "{text}");
        assert!(text.contains("no # TYPE line"), "{text}");
    }

    #[test]
    fn deltas_add_up_the_selected_series() {
        let e = prom::parse(SCRAPE).unwrap();
        let f = parse_filter(&[("route".to_string(), r"~^/invoices/(:\w+|\{\w+\})$".to_string())].into()).unwrap();
        assert_eq!(total(&e, "http_requests_total", &f).0, 20.0);
        assert_eq!(total(&e, "http_requests_total", &vec![]).0, 23.0);
        let raw = parse_filter(&[("route".to_string(), "/invoices/3f2a".to_string())].into()).unwrap();
        assert_eq!(total(&e, "http_requests_total", &raw).0, 0.0);
        assert_eq!(describe_filter("m", &f), r#"m{route=~"^/invoices/(:\w+|\{\w+\})$"}"#);
    }

    #[test]
    fn label_values_span_the_family() {
        let e = prom::parse(SCRAPE).unwrap();
        let v = label_values(&e, "http_request_duration_seconds", "route");
        assert_eq!(v.into_iter().collect::<Vec<_>>(), vec!["/invoices/{id}"]);
    }
}
