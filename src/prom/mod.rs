//! The Prometheus text exposition format (0.0.4), parsed the way a Prometheus server reads a
//! scrape: `# HELP` / `# TYPE` lines, samples with escaped label values, special float
//! values. Pure. A malformed line is an error with its line and column — Prometheus would
//! refuse the whole scrape, so the learner must hear about it.

pub mod histogram;
pub mod promql;
pub mod rules;

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    pub fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" | "unknown" => MetricType::Untyped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }
}

/// Label pairs in the order the exposition wrote them.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
    /// 1-based line in the scraped text.
    pub line: usize,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub types: BTreeMap<String, MetricType>,
    pub help: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Suffixes a histogram's or summary's samples carry beside the family name.
const SUFFIXES: &[&str] = &["_bucket", "_sum", "_count", "_total", "_created"];

impl Exposition {
    /// The family a sample name belongs to: itself when typed, else the name without a
    /// histogram/summary/counter suffix when that is typed.
    pub fn family_of<'a>(&'a self, sample: &'a str) -> &'a str {
        if self.types.contains_key(sample) {
            return sample;
        }
        for s in SUFFIXES {
            if let Some(base) = sample.strip_suffix(s)
                && self.types.contains_key(base)
            {
                return base;
            }
        }
        sample
    }

    /// The declared type of a metric (by its family or, for counters in OpenMetrics style,
    /// `x_total` declared as `x`).
    pub fn type_of(&self, metric: &str) -> Option<MetricType> {
        self.types.get(self.family_of(metric)).copied()
    }

    pub fn samples_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// Every name a query could select: sample names and declared family names.
    pub fn names(&self) -> std::collections::BTreeSet<&str> {
        self.samples.iter().map(|s| s.name.as_str()).chain(self.types.keys().map(String::as_str)).collect()
    }
}

pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut exp = Exposition::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let mut c = Cursor { s: line, pos: 0, line: line_no };
        c.skip_blank();
        if c.at_end() {
            continue;
        }
        if c.peek() == Some('#') {
            c.bump();
            c.skip_blank();
            let word = c.take_while(|ch| !ch.is_whitespace());
            match word {
                "HELP" | "TYPE" => {
                    c.expect_blank()?;
                    let name = c.metric_name()?;
                    if word == "HELP" {
                        let text = if c.at_end() {
                            ""
                        } else {
                            c.expect_blank()?;
                            c.rest()
                        };
                        exp.help.insert(name, unescape_help(text));
                    } else {
                        c.expect_blank()?;
                        let t = c.rest().trim();
                        let ty = MetricType::parse(t).ok_or_else(|| {
                            c.err(format!(
                                "unknown metric type {t:?}; expected counter, gauge, histogram, summary or untyped"
                            ))
                        })?;
                        if exp.types.insert(name.clone(), ty).is_some() {
                            return Err(c.err(format!("second TYPE line for {name}")));
                        }
                        if exp.samples.iter().any(|s| s.name == name) {
                            return Err(c.err(format!("TYPE line for {name} after its samples")));
                        }
                    }
                }
                _ => {} // a comment
            }
            continue;
        }
        exp.samples.push(c.sample()?);
    }
    Ok(exp)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError { line: self.line, col: self.s[..self.pos].chars().count() + 1, message: message.into() }
    }
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn rest(&mut self) -> &'a str {
        let r = &self.s[self.pos..];
        self.pos = self.s.len();
        r
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }
    fn skip_blank(&mut self) {
        self.take_while(|c| c == ' ' || c == '\t');
    }
    fn expect_blank(&mut self) -> Result<(), ParseError> {
        if self.take_while(|c| c == ' ' || c == '\t').is_empty() {
            return Err(self.err("expected a space"));
        }
        Ok(())
    }
    fn metric_name(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            self.pos = start;
            return Err(self.err("expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"));
        }
        Ok(name.to_string())
    }
    fn label_name(&mut self) -> Result<String, ParseError> {
        let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            return Err(self.err("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
        }
        Ok(name.to_string())
    }
    fn label_value(&mut self) -> Result<String, ParseError> {
        if self.bump() != Some('"') {
            return Err(self.err("expected a quoted label value"));
        }
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err("unterminated label value (missing \")")),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some('n') => out.push('\n'),
                    Some(other) => {
                        return Err(self.err(format!(
                            "invalid escape \\{other} in a label value (only \\\\, \\\" and \\n are allowed)"
                        )));
                    }
                    None => return Err(self.err("unterminated label value (missing \")")),
                },
                Some(c) => out.push(c),
            }
        }
    }
    fn sample(&mut self) -> Result<Sample, ParseError> {
        let name = self.metric_name()?;
        self.skip_blank();
        let mut labels = Labels::new();
        if self.peek() == Some('{') {
            self.bump();
            loop {
                self.skip_blank();
                if self.peek() == Some('}') {
                    self.bump();
                    break;
                }
                let k = self.label_name()?;
                self.skip_blank();
                if self.bump() != Some('=') {
                    return Err(self.err(format!("expected = after label name {k}")));
                }
                self.skip_blank();
                let v = self.label_value()?;
                if labels.iter().any(|(x, _)| *x == k) {
                    return Err(self.err(format!("label {k} appears twice")));
                }
                labels.push((k, v));
                self.skip_blank();
                match self.bump() {
                    Some(',') => continue,
                    Some('}') => break,
                    _ => return Err(self.err("expected , or } after a label")),
                }
            }
            self.skip_blank();
        }
        let start = self.pos;
        let value = self.take_while(|c| !c.is_whitespace());
        if value.is_empty() {
            return Err(self.err(format!("{name}: expected a value")));
        }
        let value = parse_float(value).ok_or_else(|| {
            self.pos = start;
            self.err(format!("{value:?} is not a number (expected e.g. 1, 0.25, 1e3, +Inf, NaN)"))
        })?;
        self.skip_blank();
        if !self.at_end() {
            let ts = self.take_while(|c| !c.is_whitespace());
            if ts.parse::<i64>().is_err() {
                return Err(self.err(format!("{ts:?} is not a timestamp (integer milliseconds)")));
            }
            self.skip_blank();
            if !self.at_end() {
                return Err(self.err("unexpected text after the sample"));
            }
        }
        Ok(Sample { name, labels, value, line: self.line })
    }
}

/// Go's ParseFloat spellings that exposition formats use.
pub fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    // Rust accepts "infinity" and "nan" spellings the format does not; those are handled above.
    if s.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    s.parse::<f64>().ok()
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A label set as Prometheus writes it: `{a="x",b="y"}`.
pub fn format_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROM_CLIENT: &str = r#"# HELP http_requests_total Requests answered.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/invoices/{id}",status="200"} 25
http_requests_total{method="GET",route="(unmatched)",status="404"} 1

# HELP http_request_duration_seconds Time to answer.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.005",route="/x"} 3
http_request_duration_seconds_bucket{le="+Inf",route="/x"} 4
http_request_duration_seconds_sum{route="/x"} 0.0123
http_request_duration_seconds_count{route="/x"} 4
process_start_time_seconds 1.7e9 1700000000000
"#;

    #[test]
    fn reads_a_prom_client_scrape() {
        let e = parse(PROM_CLIENT).unwrap();
        assert_eq!(e.samples.len(), 7);
        assert_eq!(e.types["http_requests_total"], MetricType::Counter);
        assert_eq!(e.type_of("http_request_duration_seconds_bucket"), Some(MetricType::Histogram));
        assert_eq!(e.type_of("process_start_time_seconds"), None);
        assert_eq!(e.samples[0].label("route"), Some("/invoices/{id}"));
        assert_eq!(e.samples[3].value, 4.0);
        assert_eq!(e.samples[3].label("le"), Some("+Inf"));
        assert_eq!(e.help["http_requests_total"], "Requests answered.");
        assert_eq!(e.samples[6].line, 12);
    }

    #[test]
    fn label_values_are_unescaped() {
        let e = parse(r#"m{path="C:\\dir",q="say \"hi\"",nl="a\nb"} 1"#).unwrap();
        let s = &e.samples[0];
        assert_eq!(s.label("path"), Some(r"C:\dir"));
        assert_eq!(s.label("q"), Some(r#"say "hi""#));
        assert_eq!(s.label("nl"), Some("a\nb"));
        // A comma, a brace or an equals sign inside a quoted value is text.
        let e = parse(r#"m{a="x,y}=z",b="2"} 1"#).unwrap();
        assert_eq!(e.samples[0].labels, vec![("a".into(), "x,y}=z".into()), ("b".into(), "2".into())]);
        // And formatting writes them back the same way.
        assert_eq!(
            format_labels(&parse(r#"m{q="say \"hi\"\\"} 1"#).unwrap().samples[0].labels),
            r#"{q="say \"hi\"\\"}"#
        );
    }

    #[test]
    fn special_values_trailing_commas_and_blanks() {
        let e = parse("a +Inf\nb -Inf\nc NaN\nd{x=\"1\",} 2\n  e { x = \"1\" } 3 \t\n").unwrap();
        assert_eq!(e.samples[0].value, f64::INFINITY);
        assert_eq!(e.samples[1].value, f64::NEG_INFINITY);
        assert!(e.samples[2].value.is_nan());
        assert_eq!(e.samples[3].labels.len(), 1);
        assert_eq!(e.samples[4].value, 3.0);
    }

    #[test]
    fn openmetrics_counter_family_without_total() {
        let e = parse("# TYPE http_requests counter\nhttp_requests_total 5\n# EOF\n").unwrap();
        assert_eq!(e.type_of("http_requests_total"), Some(MetricType::Counter));
        assert_eq!(e.family_of("http_requests_total"), "http_requests");
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let err = |t: &str| parse(t).unwrap_err();
        let e = err("ok 1\nm{a=\"x} 1\n");
        assert_eq!((e.line, e.message.contains("unterminated")), (2, true), "{e}");
        let e = err("m{a=\"\\t\"} 1");
        assert!(e.message.contains("invalid escape"), "{e}");
        let e = err("m 1 2 3");
        assert_eq!(e.col, 7, "{e}");
        let e = err("m{a=\"1\",a=\"2\"} 1");
        assert!(e.message.contains("twice"), "{e}");
        let e = err("m one");
        assert!(e.message.contains("not a number"), "{e}");
        assert_eq!(e.col, 3);
        let e = err("# TYPE m countr\n");
        assert!(e.message.contains("unknown metric type"), "{e}");
        let e = err("# TYPE m counter\n# TYPE m gauge\n");
        assert_eq!(e.line, 2);
        let e = err("9m 1");
        assert!(e.message.contains("metric name"), "{e}");
        let e = err("m infinity");
        assert!(e.message.contains("not a number"), "{e}");
        let e = err("m{a 1");
        assert!(e.message.contains("expected ="), "{e}");
    }

    #[test]
    fn comments_and_unicode_do_not_break_columns() {
        let e = parse("# just a comment with ünïcode\nm{a=\"ü\"} 1\n").unwrap();
        assert_eq!(e.samples[0].label("a"), Some("ü"));
        let e = parse("m{a=\"ü\"} x").unwrap_err();
        assert_eq!(e.col, 10);
    }
}
