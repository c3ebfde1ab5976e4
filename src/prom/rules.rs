//! A Prometheus rule file (`groups:` → `rules:`) judged as an on-call policy: every rule
//! well-formed, the required severities present, every metric an expression names really
//! exposed. Pure; the live metric names are passed in.

use super::promql::metric_names;
use serde_json::Value;
use std::collections::BTreeSet;

/// Problems as (where, expected, actual). `where` starts with `:line` when the rule's line
/// in `text` is known, so a report can point into the file.
pub fn problems(
    doc: &Value,
    text: &str,
    severities: &[String],
    exposed: Option<&BTreeSet<String>>,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Some(groups) = doc.get("groups").and_then(Value::as_array).filter(|g| !g.is_empty()) else {
        out.push(("".into(), "a top-level `groups:` list with at least one group".into(), "none".into()));
        return out;
    };
    let rules: Vec<(&str, &Value)> = groups
        .iter()
        .flat_map(|g| {
            let name = g.get("name").and_then(Value::as_str).unwrap_or("?");
            g.get("rules").and_then(Value::as_array).into_iter().flatten().map(move |r| (name, r))
        })
        .collect();
    if rules.is_empty() {
        out.push(("".into(), "rules under groups[].rules".into(), "no rule".into()));
        return out;
    }
    // Recording rules make new names that alerts may use.
    let recorded: BTreeSet<&str> = rules.iter().filter_map(|(_, r)| r.get("record").and_then(Value::as_str)).collect();
    let mut seen_severities = BTreeSet::new();
    for (i, (group, rule)) in rules.iter().enumerate() {
        let alert = rule.get("alert").and_then(Value::as_str);
        let name = alert.or_else(|| rule.get("record").and_then(Value::as_str));
        let at = match name.and_then(|n| line_of(text, n)) {
            Some(line) => format!(":{line} rule {}", name.unwrap_or_default()),
            None => format!(" rule #{} of group {group}", i + 1),
        };
        if name.is_none() {
            out.push((at.clone(), "an `alert:` (or `record:`) name".into(), "neither".into()));
        }
        let Some(expr) =
            rule.get("expr").and_then(|e| e.as_str().map(str::to_string).or_else(|| e.as_f64().map(|n| n.to_string())))
        else {
            out.push((at, "an `expr:` query".into(), "none".into()));
            continue;
        };
        if alert.is_some() {
            match rule.pointer("/labels/severity").and_then(Value::as_str) {
                Some(s) => {
                    seen_severities.insert(s.to_string());
                }
                None => out.push((at.clone(), "labels.severity".into(), "none".into())),
            }
        }
        if let Some(exposed) = exposed {
            let unknown: Vec<String> = metric_names(&expr)
                .into_iter()
                .filter(|m| !exposed.contains(m) && !recorded.contains(m.as_str()))
                .collect();
            if !unknown.is_empty() {
                out.push((
                    at,
                    "metrics the service exposes".into(),
                    format!("{} (not exposed — a typo, or a metric the service does not have)", unknown.join(", ")),
                ));
            }
        }
    }
    for s in severities {
        if !seen_severities.contains(s) {
            let have: Vec<&str> = seen_severities.iter().map(String::as_str).collect();
            out.push((
                "".into(),
                format!("at least one alert with severity: {s}"),
                if have.is_empty() { "no severity at all".into() } else { format!("only {}", have.join(", ")) },
            ));
        }
    }
    out
}

/// 1-based line where a rule with this name is written.
fn line_of(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            (t.starts_with("alert:") || t.starts_with("record:"))
                && t.split_once(':').is_some_and(|(_, v)| v.trim().trim_matches(['"', '\'']) == name)
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"groups:
  - name: ledger
    rules:
      - record: job:http_errors:rate5m
        expr: sum(rate(http_requests_total{status=~"5.."}[5m]))
      - alert: HighErrorRate
        expr: job:http_errors:rate5m / sum(rate(http_requests_total[5m])) > 0.02
        for: 5m
        labels:
          severity: page
      - alert: SlowInvoices
        expr: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[10m]))) > 0.3
        labels:
          severity: ticket
"#;

    fn exposed() -> BTreeSet<String> {
        ["http_requests_total", "http_request_duration_seconds_bucket"].iter().map(|s| s.to_string()).collect()
    }

    fn check(text: &str) -> Vec<(String, String, String)> {
        let doc: Value = yaml_serde::from_str(text).unwrap();
        problems(&doc, text, &["page".into(), "ticket".into()], Some(&exposed()))
    }

    #[test]
    fn a_good_rule_file_has_no_problems() {
        assert_eq!(check(RULES), vec![]);
    }

    #[test]
    fn unknown_metrics_are_pointed_at_by_line() {
        let p = check(&RULES.replace("rate(http_requests_total[5m])", "rate(http_request_total[5m])"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, ":6 rule HighErrorRate");
        assert!(p[0].2.starts_with("http_request_total"), "{p:?}");
    }

    #[test]
    fn missing_severities_names_and_groups() {
        let p = check(&RULES.replace("severity: page", "severity: ticket"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].1, "at least one alert with severity: page");
        assert_eq!(p[0].2, "only ticket");
        let p = check("groups: []\n");
        assert!(p[0].1.contains("groups"), "{p:?}");
        let p = check("groups:\n  - name: g\n    rules:\n      - alert: A\n        labels: {}\n");
        assert!(p.iter().any(|x| x.1.contains("expr")), "{p:?}");
    }
}
