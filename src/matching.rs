//! Pure matching of a response against expectations: status, headers, JSON subsets.
//! A string expectation that starts with `~` is a regular expression (`~~` is a literal `~`).

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum StatusExpect {
    Code(u16),
    Any(Vec<u16>),
    /// `"2xx"`, `"4xx"`…
    Class(String),
}

impl StatusExpect {
    pub fn matches(&self, status: u16) -> bool {
        match self {
            StatusExpect::Code(c) => *c == status,
            StatusExpect::Any(cs) => cs.contains(&status),
            StatusExpect::Class(c) => {
                c.len() == 3 && c.ends_with("xx") && c.as_bytes()[0] == b'0' + (status / 100) as u8
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StatusExpect::Code(c) => c.to_string(),
            StatusExpect::Any(cs) => cs.iter().map(u16::to_string).collect::<Vec<_>>().join(" or "),
            StatusExpect::Class(c) => c.clone(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            StatusExpect::Class(c)
                if !(c.len() == 3 && c.ends_with("xx") && (b'1'..=b'5').contains(&c.as_bytes()[0])) =>
            {
                Err(format!("status {c:?}: expected a code like 404, a list like [400, 422], or a class like \"4xx\""))
            }
            _ => Ok(()),
        }
    }
}

/// A name with case and separators dropped: `upstreamMs`, `upstream_ms`, `Upstream-MS` and
/// `UPSTREAM_MS` are one name.
pub fn name_key(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Does `actual` name what `wanted` names, in any case convention, or as one of the
/// synonyms a spec declares for it?
pub fn same_name(actual: &str, wanted: &str, aliases: &[String]) -> bool {
    let k = name_key(actual);
    k == name_key(wanted) || aliases.iter().any(|a| name_key(a) == k)
}

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum HeaderExpect {
    /// `true`: present with any value; `false`: absent.
    Present(bool),
    /// Exact value, or `~regex`.
    Value(String),
}

/// A text pattern: exact or `~regex`.
#[derive(Debug, Clone)]
pub enum Pattern {
    Exact(String),
    Regex(Regex),
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        if let Some(rest) = s.strip_prefix("~~") {
            Ok(Pattern::Exact(format!("~{rest}")))
        } else if let Some(re) = s.strip_prefix('~') {
            Regex::new(re).map(Pattern::Regex).map_err(|e| format!("bad regular expression {re:?}: {e}"))
        } else {
            Ok(Pattern::Exact(s.to_string()))
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == text,
            Pattern::Regex(r) => r.is_match(text),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Pattern::Exact(s) => format!("{s:?}"),
            Pattern::Regex(r) => format!("matching /{}/", r.as_str()),
        }
    }
}

/// One place where the actual JSON differs from the expected subset.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// JSON pointer, e.g. `/status` or `/errors/0/field`.
    pub path: String,
    pub expected: String,
    pub actual: String,
}

/// Every key of `expected` must be in `actual` with a matching value; arrays match
/// element-wise and must have the same length; extra keys in `actual` are fine.
pub fn json_subset(expected: &Value, actual: &Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    walk(expected, Some(actual), String::new(), &mut out);
    out
}

fn walk(expected: &Value, actual: Option<&Value>, path: String, out: &mut Vec<Mismatch>) {
    let shown = |v: Option<&Value>| v.map_or_else(|| "(missing)".to_string(), |v| v.to_string());
    let mut miss = |exp: String| out.push(Mismatch { path: path.clone(), expected: exp, actual: shown(actual) });
    match (expected, actual) {
        (Value::Object(e), Some(Value::Object(a))) => {
            for (k, ev) in e {
                walk(ev, a.get(k), format!("{path}/{}", escape(k)), out);
            }
        }
        (Value::Array(e), Some(Value::Array(a))) => {
            if e.len() != a.len() {
                out.push(Mismatch {
                    path: path.clone(),
                    expected: format!("an array of {} items", e.len()),
                    actual: format!("an array of {} items", a.len()),
                });
                return;
            }
            for (i, ev) in e.iter().enumerate() {
                walk(ev, a.get(i), format!("{path}/{i}"), out);
            }
        }
        (Value::String(s), Some(a)) if s.starts_with('~') => match Pattern::parse(s) {
            Ok(p) => {
                let text = match a {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                if !p.is_match(&text) {
                    miss(p.describe());
                }
            }
            Err(e) => miss(e),
        },
        (e, Some(a)) if numbers_equal(e, a) => {}
        (e, Some(a)) if e == a => {}
        (e, _) => miss(e.to_string()),
    }
}

/// 10 and 10.0 are the same amount for a JSON consumer.
fn numbers_equal(e: &Value, a: &Value) -> bool {
    match (e.as_f64(), a.as_f64()) {
        (Some(x), Some(y)) => e.is_number() && a.is_number() && x == y,
        _ => false,
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Check one header expectation; `Err` carries (expected, actual) descriptions.
pub fn header(expect: &HeaderExpect, actual: Option<&str>) -> Result<(), (String, String)> {
    let shown = || actual.map_or_else(|| "(absent)".to_string(), |v| format!("{v:?}"));
    match (expect, actual) {
        (HeaderExpect::Present(true), Some(_)) | (HeaderExpect::Present(false), None) => Ok(()),
        (HeaderExpect::Present(true), None) => Err(("present".into(), shown())),
        (HeaderExpect::Present(false), Some(_)) => Err(("absent".into(), shown())),
        (HeaderExpect::Value(v), _) => {
            let p = Pattern::parse(v).map_err(|e| (e, shown()))?;
            match actual {
                Some(a) if p.is_match(a) => Ok(()),
                _ => Err((p.describe(), shown())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_forms() {
        assert!(StatusExpect::Code(404).matches(404));
        assert!(!StatusExpect::Code(404).matches(400));
        assert!(StatusExpect::Any(vec![400, 422]).matches(422));
        assert!(StatusExpect::Class("4xx".into()).matches(413));
        assert!(!StatusExpect::Class("4xx".into()).matches(500));
        assert!(StatusExpect::Class("4x".into()).validate().is_err());
        assert!(StatusExpect::Class("9xx".into()).validate().is_err());
    }

    #[test]
    fn subset_ignores_extra_keys_and_reports_paths() {
        let actual = json!({"status": 404, "title": "Not Found", "extra": true, "errors": [{"field": "a"}]});
        assert!(json_subset(&json!({"status": 404}), &actual).is_empty());
        let m = json_subset(&json!({"status": 400, "detail": "x", "errors": [{"field": "b"}]}), &actual);
        let paths: Vec<_> = m.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, vec!["/status", "/detail", "/errors/0/field"]);
        assert_eq!(m[1].actual, "(missing)");
    }

    #[test]
    fn names_match_across_conventions_and_declared_synonyms() {
        let syn = vec!["upstreamLatencyMs".to_string()];
        for ok in
            ["upstreamMs", "upstream_ms", "UPSTREAM_MS", "upstream-ms", "upstreamLatencyMs", "upstream_latency_ms"]
        {
            assert!(same_name(ok, "upstreamMs", &syn), "{ok}");
        }
        for no in ["upstream", "upstreamMsg", "latencyMs", "upstreamMillis"] {
            assert!(!same_name(no, "upstreamMs", &syn), "{no}");
        }
    }

    #[test]
    fn subset_regex_and_numbers() {
        let actual = json!({"id": "3f2c3c1e-1111-4111-8111-111111111111", "amountCents": 1250.0});
        assert!(json_subset(&json!({"id": "~^[0-9a-f-]{36}$", "amountCents": 1250}), &actual).is_empty());
        assert_eq!(json_subset(&json!({"id": "~^x"}), &actual).len(), 1);
        assert_eq!(json_subset(&json!({"t": "~~lit"}), &json!({"t": "~lit"})), vec![]);
    }

    #[test]
    fn subset_type_mismatch_is_reported() {
        let m = json_subset(&json!({"status": "ok"}), &json!("ok"));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].path, "");
    }

    #[test]
    fn arrays_must_match_in_length() {
        let m = json_subset(&json!([1, 2]), &json!([1, 2, 3]));
        assert_eq!(m[0].expected, "an array of 2 items");
    }

    #[test]
    fn header_forms() {
        assert!(header(&HeaderExpect::Present(true), Some("x")).is_ok());
        assert!(header(&HeaderExpect::Present(true), None).is_err());
        assert!(header(&HeaderExpect::Present(false), Some("x")).is_err());
        let ct = HeaderExpect::Value("~^application/problem\\+json".into());
        assert!(header(&ct, Some("application/problem+json; charset=utf-8")).is_ok());
        assert_eq!(
            header(&ct, Some("application/json")).unwrap_err(),
            ("matching /^application/problem\\+json/".to_string(), "\"application/json\"".to_string())
        );
        assert!(header(&HeaderExpect::Value("GET, POST".into()), Some("GET, POST")).is_ok());
    }
}
