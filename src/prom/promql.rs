//! The metric names a PromQL expression selects — enough of PromQL's lexical structure to
//! tell a metric from a function, an aggregation, a keyword, a label or a duration. Pure.

/// Keywords that are never metric names.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
];

/// Aggregation operators, which may take `by (…)` / `without (…)` before their argument.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Metric names in `expr`, in order of first appearance.
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names: Vec<String> = Vec::new();
    let add = |n: String, names: &mut Vec<String>| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    let mut i = 0;
    let next_non_blank = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '{' {
            let end = skip_group(&chars, i, '{', '}');
            if let Some(n) = name_matcher(&chars[i + 1..end.saturating_sub(1).max(i + 1)]) {
                add(n, &mut names);
            }
            i = end;
        } else if c == '[' {
            i = skip_group(&chars, i, '[', ']');
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // numbers, 1e3, 0x1f, durations like 5m or 1h30m
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after = next_non_blank(i);
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                if chars.get(after) == Some(&'(') {
                    i = skip_group(&chars, after, '(', ')');
                }
            } else if KEYWORDS.contains(&lower.as_str())
                || chars.get(after) == Some(&'(')
                || (AGGREGATIONS.contains(&lower.as_str()) && starts_label_list(&chars[after..]))
            {
                // a keyword, or a function / aggregation call
            } else {
                add(word, &mut names);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Does the text continue with `by (` or `without (`?
fn starts_label_list(rest: &[char]) -> bool {
    let word: String = rest.iter().take_while(|c| c.is_ascii_alphabetic()).collect();
    let after = rest[word.len()..].iter().find(|c| !c.is_whitespace());
    matches!(word.to_ascii_lowercase().as_str(), "by" | "without") && after == Some(&'(')
}

/// Index just past the string that starts at `i`.
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() {
        if chars[j] == '\\' && quote != '`' {
            j += 2;
            continue;
        }
        if chars[j] == quote {
            return j + 1;
        }
        j += 1;
    }
    chars.len()
}

/// Index just past the group that opens at `i` (strings inside are skipped whole).
fn skip_group(chars: &[char], i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j < chars.len() {
        let c = chars[j];
        if c == '"' || c == '\'' || c == '`' {
            j = skip_string(chars, j);
            continue;
        }
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return j + 1;
            }
        }
        j += 1;
    }
    chars.len()
}

/// `__name__="x"` inside a selector's braces selects metric x.
fn name_matcher(inner: &[char]) -> Option<String> {
    let text: String = inner.iter().collect();
    let at = text.find("__name__")?;
    let rest = text[at + "__name__".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    if rest.starts_with('~') {
        return None; // a regex names no single metric
    }
    let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest[1..];
    body.find(q).map(|end| body[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_typical_alert_rules() {
        assert_eq!(
            metric_names(
                r#"sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.02"#
            ),
            vec!["http_requests_total"]
        );
        assert_eq!(
            metric_names(
                "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m]))) > 0.3"
            ),
            vec!["http_request_duration_seconds_bucket"]
        );
        assert_eq!(
            metric_names("sum(rate(a_total[5m])) by (route) > on(route) group_left(team) b_info offset 1h"),
            vec!["a_total", "b_info"]
        );
        assert_eq!(metric_names("up == 0 or absent(up)"), vec!["up"]);
        assert_eq!(metric_names("count without (route) (x) > count"), vec!["x", "count"]);
    }

    #[test]
    fn strings_labels_durations_and_name_matchers() {
        assert_eq!(metric_names(r#"x{route="/by (id) rate(y)", job='z'}"#), vec!["x"]);
        assert_eq!(metric_names(r#"{__name__="up", job="a"} + 1e3 * 0x10"#), vec!["up"]);
        assert_eq!(metric_names(r#"{__name__=~"http_.*"}"#), Vec::<String>::new());
        assert_eq!(metric_names("rate(x[1h30m:1m])"), vec!["x"]);
        assert_eq!(metric_names("x > bool 0.5 and y unless z"), vec!["x", "y", "z"]);
        assert_eq!(metric_names("process:cpu:rate5m > Inf"), vec!["process:cpu:rate5m"]);
        assert_eq!(metric_names(""), Vec::<String>::new());
    }
}
