//! Evidence drawn for a terminal: a load run's latency distribution beside its objective,
//! and the calls a service made to a stand-in dependency.

use super::human::{DIM, GREEN, RED, YELLOW, paint};
use crate::checks::{Distribution, UpstreamCall};

const BAR_WIDTH: usize = 32;

fn ms(v: f64) -> String {
    if v >= 1000.0 { format!("{} s", trim(v / 1000.0)) } else { format!("{} ms", trim(v)) }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// A histogram of the grader's latencies, one row per bucket, with the objective drawn as
/// a line under the row it closes (the check makes the objective one of the bounds).
pub fn distribution(d: &Distribution, color: bool) -> Vec<String> {
    let secs = d.duration_ms as f64 / 1000.0;
    let rate = if secs > 0.0 { d.requests as f64 / secs } else { 0.0 };
    let errors = if d.errors == 0 {
        paint(color, GREEN, "0 errors")
    } else {
        paint(color, RED, format_args!("{} errors", d.errors))
    };
    let mut out = vec![format!(
        "load: {} requests over {} connection(s) in {secs:.1} s ({rate:.0} req/s), {errors}",
        d.requests, d.connections
    )];
    let first = d.bars.iter().position(|b| b.count > 0);
    let last = d.bars.iter().rposition(|b| b.count > 0);
    let (Some(first), Some(last)) = (first, last) else {
        out.push(paint(color, RED, "no request was answered: there is no latency to show"));
        return out;
    };
    // Show one empty row around the data and always reach the objective's row.
    let slo_row = d.bars.iter().position(|b| b.upper_ms >= d.slo_p95_ms).unwrap_or(d.bars.len() - 1);
    let (from, to) = (first.saturating_sub(1), last.max(slo_row).min(d.bars.len() - 1));
    let peak = d.bars[from..=to].iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let labels: Vec<String> = d.bars[from..=to]
        .iter()
        .map(|b| if b.upper_ms.is_infinite() { "> above".to_string() } else { format!("≤ {}", ms(b.upper_ms)) })
        .collect();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let count_w = d.bars[from..=to].iter().map(|b| b.count.to_string().len()).max().unwrap_or(1);
    let p95_row = d.bars.iter().position(|b| b.upper_ms >= d.p95_ms);
    let mut slo_drawn = false;
    for (i, (b, label)) in d.bars[from..=to].iter().zip(&labels).enumerate() {
        let row = from + i;
        let lower = if row == 0 { 0.0 } else { d.bars[row - 1].upper_ms };
        let filled = ((b.count as f64 / peak as f64) * BAR_WIDTH as f64).ceil() as usize;
        let bar = format!("{}{}", "█".repeat(filled.min(BAR_WIDTH)), " ".repeat(BAR_WIDTH - filled.min(BAR_WIDTH)));
        let over = lower >= d.slo_p95_ms;
        let bar = if over && b.count > 0 { paint(color, RED, bar) } else { bar };
        let mark = if Some(row) == p95_row { "  ◀ p95" } else { "" };
        out.push(format!("{label:>label_w$} │{bar} {:>count_w$}{mark}", b.count));
        if !slo_drawn && b.upper_ms >= d.slo_p95_ms {
            out.push(slo_line(d.slo_p95_ms, label_w, color));
            slo_drawn = true;
        }
    }
    if !slo_drawn {
        out.push(slo_line(d.slo_p95_ms, label_w, color));
    }
    let over = d.p95_ms > d.slo_p95_ms;
    let p95 = paint(color, if over { RED } else { GREEN }, format_args!("p95 {}", ms(d.p95_ms)));
    out.push(format!(
        "p50 {} · {p95} · p99 {} · max {} — objective p95 ≤ {}",
        ms(d.p50_ms),
        ms(d.p99_ms),
        ms(d.max_ms),
        ms(d.slo_p95_ms)
    ));
    if let Some((lo, hi)) = d.service_p95 {
        let hi = hi.map_or("+Inf".to_string(), ms);
        out.push(format!("the service's own histogram puts p95 in ({}, {hi}]", ms(lo)));
    }
    out
}

fn slo_line(slo: f64, label_w: usize, color: bool) -> String {
    let rule = "┄".repeat(BAR_WIDTH);
    paint(color, YELLOW, format_args!("{:>label_w$} ┼{rule} objective p95 ≤ {}", "", ms(slo)))
}

/// One line per call: when it arrived, what the stand-in did, how it ended.
pub fn upstream(env: &str, calls: &[UpstreamCall], color: bool) -> Vec<String> {
    let mut out = vec![format!("calls to the stand-in at {env}:")];
    if calls.is_empty() {
        out.push(paint(color, RED, "  none — the service never called it"));
    }
    for c in calls {
        let end = match (c.end.as_str(), c.lasted_ms) {
            ("gave up", Some(l)) => format!("the service gave up after {}", ms(l as f64)),
            ("open", Some(l)) => {
                paint(color, RED, format_args!("still waiting after {} — the service never gave up", ms(l as f64)))
            }
            (e, Some(l)) => format!("{e} after {}", ms(l as f64)),
            (e, None) => e.to_string(),
        };
        out.push(format!(
            "  {} {} {} at +{} ms: {}; {end}",
            paint(color, DIM, "→"),
            c.method,
            c.path,
            c.arrived_ms,
            c.behaviour
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Bar;

    fn dist(p95: f64, slo: f64) -> Distribution {
        let bounds = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, f64::INFINITY];
        let counts = [0, 40, 500, 60, 5, 0, 0, 0, 0, 0, 0, 0];
        Distribution {
            requests: 605,
            errors: 0,
            connections: 8,
            duration_ms: 5000,
            p50_ms: 3.1,
            p95_ms: p95,
            p99_ms: 12.0,
            max_ms: 18.0,
            bars: bounds.iter().zip(counts).map(|(&upper_ms, count)| Bar { upper_ms, count }).collect(),
            slo_p95_ms: slo,
            service_p95: Some((5.0, Some(10.0))),
        }
    }

    #[test]
    fn the_objective_line_sits_between_the_rows_it_separates() {
        let lines = distribution(&dist(7.0, 300.0), false);
        let text = lines.join("\n");
        assert!(lines[0].contains("605 requests over 8 connection(s) in 5.0 s (121 req/s), 0 errors"), "{text}");
        let slo = lines.iter().position(|l| l.contains("objective p95 ≤ 300 ms")).unwrap();
        let row300 = lines.iter().position(|l| l.contains("≤ 300 ms")).unwrap();
        assert_eq!(slo, row300 + 1, "{text}");
        assert!(!text.contains("≤ 500 ms"), "{text}");
        assert!(lines.iter().any(|l| l.contains("≤ 10 ms") && l.contains("◀ p95")), "{text}");
        assert!(text.contains("p95 in (5 ms, 10 ms]"), "{text}");
        assert!(!text.contains("≤ 1 s"), "rows past the objective and the data are left out: {text}");
    }

    #[test]
    fn no_samples_says_so() {
        let mut d = dist(0.0, 300.0);
        d.bars.iter_mut().for_each(|b| b.count = 0);
        assert!(distribution(&d, false)[1].contains("no request was answered"));
    }

    #[test]
    fn upstream_calls_tell_how_long_the_service_waited() {
        let call = |end: &str, lasted| UpstreamCall {
            method: "GET".into(),
            path: "/payments".into(),
            behaviour: "hangs".into(),
            arrived_ms: 4,
            end: end.into(),
            lasted_ms: lasted,
        };
        let lines = upstream("PAYMENT_PROVIDER_URL", &[call("gave up", Some(2003)), call("open", Some(5000))], false);
        assert!(lines[1].contains("GET /payments at +4 ms: hangs; the service gave up after 2 s"), "{lines:?}");
        assert!(lines[2].contains("never gave up"), "{lines:?}");
        assert!(upstream("X", &[], false)[1].contains("never called it"));
    }
}
