//! The learner's `slo.toml`: service level objectives written as concrete numbers, checked
//! for sane bounds and held to the lab's floor. Every problem points at its line. Pure.
//!
//! ```toml
//! availability_percent = 99.9
//! p95_latency_ms = 300
//! error_rate_alert_percent = 2
//! paging_window_minutes = 5
//! ```

use crate::spec::Diagnostic;
use serde::Deserialize;
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
    what: &'static str,
    min: f64,
    max: f64,
    /// The bound is exclusive at `max` (100% availability leaves no error budget).
    max_exclusive: bool,
}

const KEYS: &[Key] = &[
    Key {
        name: "availability_percent",
        what: "the share of requests answered without a server error, in percent",
        min: 90.0,
        max: 100.0,
        max_exclusive: true,
    },
    Key {
        name: "p95_latency_ms",
        what: "the 95th percentile latency objective, in milliseconds",
        min: 1.0,
        max: 60_000.0,
        max_exclusive: false,
    },
    Key {
        name: "error_rate_alert_percent",
        what: "the error rate that pages someone, in percent",
        min: 0.01,
        max: 50.0,
        max_exclusive: false,
    },
    Key {
        name: "paging_window_minutes",
        what: "the window the paging alert looks at, in minutes",
        min: 1.0,
        max: 1440.0,
        max_exclusive: false,
    },
];

/// Parse and validate; every problem at once.
pub fn parse(file: &str, text: &str, floor: Option<&Floor>) -> Result<Slo, Vec<Diagnostic>> {
    let err = |span: std::ops::Range<usize>, msg: String| Diagnostic::new(file, text, Some(span), msg);
    let table = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => return Err(vec![Diagnostic::from_toml(file, text, &e)]),
    };
    let table: &DeTable = table.get_ref();
    let mut problems = Vec::new();
    let mut values = [f64::NAN; 4];
    for (k, v) in table.iter() {
        let name = k.get_ref().as_ref();
        let Some(i) = KEYS.iter().position(|key| key.name == name) else {
            let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
            problems.push(err(k.span(), format!("unknown key {name:?}; expected one of: {}", names.join(", "))));
            continue;
        };
        let key = &KEYS[i];
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
                    format!(
                        "availability_percent = {n} is looser than this lab's floor: at least {}",
                        f.availability_percent
                    ),
                ));
            }
            if key.name == "p95_latency_ms" && n > f.p95_latency_ms {
                problems.push(err(
                    v.span(),
                    format!("p95_latency_ms = {n} is looser than this lab's floor: at most {} ms", f.p95_latency_ms),
                ));
            }
        }
        values[i] = n;
    }
    for key in KEYS {
        if !table.iter().any(|(k, _)| k.get_ref().as_ref() == key.name) {
            problems.push(err(0..0, format!("{} is missing: {}", key.name, key.what)));
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
    fn strings_bounds_unknown_and_missing_keys() {
        let p = problems("availability_percent = \"99.9%\"\np95_latency_ms = 0\nerror_rate = 1\n");
        assert!(p.iter().any(|x| x.contains("must be a number") && x.contains("not a string")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("p95_latency_ms = 0 is out of bounds")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("unknown key \"error_rate\"")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("paging_window_minutes is missing")), "{p:?}");
        let p = problems(&GOOD.replace("99.9", "100"));
        assert!(p[0].contains("no error budget"), "{p:?}");
        let p = problems(&GOOD.replace("99.9", "nan"));
        assert!(p[0].contains("finite"), "{p:?}");
        assert!(problems("a = ")[0].starts_with("slo.toml:1:"), "a TOML syntax error is located");
    }
}
