//! The learner's `slo.toml`: service level objectives written as concrete numbers, checked
//! for sane bounds and held to the lab's floor. Every problem points at its line. Pure.
//!
//! ```toml
//! availability_percent = 99.9
//! p95_latency_ms = 300
//! error_rate_alert_percent = 2
//! paging_window_minutes = 5
//! ```

use crate::matching::same_name;
use crate::spec::Diagnostic;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::de::{DeTable, DeValue};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    pub availability_percent: f64,
    pub p95_latency_ms: f64,
    pub error_rate_alert_percent: f64,
    pub paging_window_minutes: f64,
}

/// The least a lab accepts: an SLO looser than this is not a commitment worth grading.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Floor {
    pub p95_latency_ms: f64,
    pub availability_percent: f64,
}

struct Key {
    name: &'static str,
    /// The lesson's own names for it (lab 09's `serviceSLO`).
    lesson: &'static str,
    what: &'static str,
    min: f64,
    max: f64,
    /// The bound is exclusive at `max` (100% availability leaves no error budget).
    max_exclusive: bool,
}

const KEYS: &[Key] = &[
    Key {
        name: "availability_percent",
        lesson: "availabilityTarget",
        what: "the share of requests answered without a server error, in percent",
        min: 90.0,
        max: 100.0,
        max_exclusive: true,
    },
    Key {
        name: "p95_latency_ms",
        lesson: "p95LatencyMs",
        what: "the 95th percentile latency objective, in milliseconds",
        min: 1.0,
        max: 60_000.0,
        max_exclusive: false,
    },
    Key {
        name: "error_rate_alert_percent",
        lesson: "alertOnErrorRatePct",
        what: "the error rate that pages someone, in percent",
        min: 0.01,
        max: 50.0,
        max_exclusive: false,
    },
    Key {
        name: "paging_window_minutes",
        lesson: "pagingWindowMinutes",
        what: "the window the paging alert looks at, in minutes",
        min: 1.0,
        max: 1440.0,
        max_exclusive: false,
    },
];

/// Parse and validate; every problem at once.
pub fn parse(file: &str, text: &str, floor: Option<&Floor>) -> Result<Slo, Vec<Diagnostic>> {
    parse_with(file, text, floor, &BTreeMap::new())
}

/// Which of the four keys a name in the file stands for: the key itself, the lesson's
/// camelCase name (`availabilityTarget`), either in any case convention
/// (`availabilityPercent`, `p95_latency_ms`), or a synonym the spec declares for the key.
fn key_of(name: &str, aliases: &BTreeMap<String, Vec<String>>) -> Option<usize> {
    KEYS.iter().position(|k| {
        let extra = aliases.get(k.name).map(Vec::as_slice).unwrap_or_default();
        same_name(name, k.name, extra) || same_name(name, k.lesson, &[])
    })
}

/// The keys a spec may declare synonyms for.
pub fn key_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.name)
}

/// [`parse`], with synonyms declared by the lab for some keys.
pub fn parse_with(
    file: &str,
    text: &str,
    floor: Option<&Floor>,
    aliases: &BTreeMap<String, Vec<String>>,
) -> Result<Slo, Vec<Diagnostic>> {
    let err = |span: std::ops::Range<usize>, msg: String| Diagnostic::new(file, text, Some(span), msg);
    let table = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => return Err(vec![Diagnostic::from_toml(file, text, &e)]),
    };
    let table: &DeTable = table.get_ref();
    let mut problems = Vec::new();
    let mut values = [f64::NAN; 4];
    let mut seen: [Option<String>; 4] = Default::default();
    for (k, v) in table.iter() {
        let name = k.get_ref().as_ref();
        let Some(i) = key_of(name, aliases) else {
            let names: Vec<String> = KEYS.iter().map(|k| format!("{} (or {})", k.name, k.lesson)).collect();
            problems.push(err(k.span(), format!("unknown key {name:?}; expected one of: {}", names.join(", "))));
            continue;
        };
        let key = &KEYS[i];
        if let Some(first) = &seen[i] {
            problems.push(err(
                k.span(),
                format!("{name} is {} again (already given as {first}); expected each objective once", key.name),
            ));
            continue;
        }
        seen[i] = Some(name.to_string());
        let n = match v.get_ref() {
            DeValue::Integer(n) => i64::from_str_radix(&n.as_str().replace('_', ""), n.radix()).ok().map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok().filter(|f| f.is_finite()),
            other => {
                problems
                    .push(err(v.span(), format!("{name} must be a number ({}), not a {}", key.what, other.type_str())));
                continue;
            }
        };
        let Some(n) = n else {
            problems.push(err(v.span(), format!("{name} must be a finite number ({})", key.what)));
            continue;
        };
        let above = if key.max_exclusive { n >= key.max } else { n > key.max };
        if n < key.min || above {
            let upper = if key.max_exclusive { format!("below {}", key.max) } else { format!("at most {}", key.max) };
            let why = if key.max_exclusive && n >= key.max { " (100% leaves no error budget)" } else { "" };
            problems.push(err(
                v.span(),
                format!("{name} = {n} is out of bounds{why}: expected at least {} and {upper}", key.min),
            ));
            continue;
        }
        if let Some(f) = floor {
            if key.name == "availability_percent" && n < f.availability_percent {
                problems.push(err(
                    v.span(),
                    format!("{name} = {n} is looser than this lab's floor: at least {}", f.availability_percent),
                ));
            }
            if key.name == "p95_latency_ms" && n > f.p95_latency_ms {
                problems.push(err(
                    v.span(),
                    format!("{name} = {n} is looser than this lab's floor: at most {} ms", f.p95_latency_ms),
                ));
            }
        }
        values[i] = n;
    }
    for (i, key) in KEYS.iter().enumerate() {
        if seen[i].is_none() {
            problems.push(err(0..0, format!("{} (or {}) is missing: {}", key.name, key.lesson, key.what)));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Slo {
        availability_percent: values[0],
        p95_latency_ms: values[1],
        error_rate_alert_percent: values[2],
        paging_window_minutes: values[3],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "availability_percent = 99.9\np95_latency_ms = 300\nerror_rate_alert_percent = 2\npaging_window_minutes = 5\n";
    const FLOOR: Floor = Floor { p95_latency_ms: 400.0, availability_percent: 99.5 };

    fn problems(text: &str) -> Vec<String> {
        parse("slo.toml", text, Some(&FLOOR))
            .unwrap_err()
            .iter()
            .map(|d| format!("{}: {}", d.location, d.message))
            .collect()
    }

    #[test]
    fn a_concrete_slo_parses() {
        let s = parse("slo.toml", GOOD, Some(&FLOOR)).unwrap();
        assert_eq!(s.p95_latency_ms, 300.0);
        assert_eq!(s.availability_percent, 99.9);
        assert_eq!(s.paging_window_minutes, 5.0);
    }

    #[test]
    fn looser_than_the_floor_is_located() {
        let p = problems(&GOOD.replace("300", "1000").replace("99.9", "99.0"));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("slo.toml:1:24: availability_percent = 99 is looser"), "{p:?}");
        assert!(p[1].starts_with("slo.toml:2:18: p95_latency_ms = 1000 is looser"), "{p:?}");
    }

    #[test]
    fn the_lessons_names_and_other_conventions_are_the_same_keys() {
        let lesson =
            "availabilityTarget = 99.9\np95LatencyMs = 300\nalertOnErrorRatePct = 2\npagingWindowMinutes = 5\n";
        assert_eq!(parse("slo.toml", lesson, Some(&FLOOR)).unwrap(), parse("slo.toml", GOOD, Some(&FLOOR)).unwrap());
        let mixed = "availabilityPercent = 99.9\nP95_LATENCY_MS = 300\nerror-rate-alert-percent = 2\npaging_window_minutes = 5\n";
        assert!(parse("slo.toml", mixed, Some(&FLOOR)).is_ok());
        // The floor speaks of the name as written.
        let p = problems(&lesson.replace("300", "1000"));
        assert!(p[0].starts_with("slo.toml:2:16: p95LatencyMs = 1000 is looser"), "{p:?}");
        // The same objective twice, and an unknown key, are still problems.
        let p = problems(&format!("{GOOD}availabilityTarget = 99.5\n"));
        assert!(p[0].contains("is availability_percent again (already given as "), "{p:?}");
        let p = problems(&GOOD.replace("paging_window_minutes", "pagingWindow"));
        assert!(p.iter().any(|x| x.contains("unknown key \"pagingWindow\"")), "{p:?}");
        // A lab may declare its own synonyms.
        let aliases = [("paging_window_minutes".to_string(), vec!["pagingWindow".to_string()])].into();
        let text = GOOD.replace("paging_window_minutes", "pagingWindow");
        assert!(parse_with("slo.toml", &text, Some(&FLOOR), &aliases).is_ok());
    }

    #[test]
    fn strings_bounds_unknown_and_missing_keys() {
        let p = problems("availability_percent = \"99.9%\"\np95_latency_ms = 0\nerror_rate = 1\n");
        assert!(p.iter().any(|x| x.contains("must be a number") && x.contains("not a string")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("p95_latency_ms = 0 is out of bounds")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("unknown key \"error_rate\"")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("paging_window_minutes (or pagingWindowMinutes) is missing")), "{p:?}");
        let p = problems(&GOOD.replace("99.9", "100"));
        assert!(p[0].contains("no error budget"), "{p:?}");
        let p = problems(&GOOD.replace("99.9", "nan"));
        assert!(p[0].contains("finite"), "{p:?}");
        assert!(problems("a = ")[0].starts_with("slo.toml:1:"), "a TOML syntax error is located");
    }
}
