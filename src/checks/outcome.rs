//! What a check found: a verdict, a one-line message, and evidence as plain data that each
//! reporter renders its own way.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// The grader could not judge (its own problem or the environment's); the message says why.
    Error,
    /// Not run, e.g. it needs a value an earlier failed check should have captured.
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    /// Expected vs actual text; reporters show a line diff.
    Diff {
        label: String,
        expected: String,
        actual: String,
    },
    /// One assertion: what was checked, what was expected, what was there.
    Assert {
        what: String,
        expected: String,
        actual: String,
    },
    /// A shell line that reproduces the request.
    Curl {
        line: String,
    },
    Latency {
        samples: u64,
        p50_ms: f64,
        p95_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        limit_ms: f64,
        background: String,
    },
    /// Lines of output (a service's log tail, a file excerpt).
    Output {
        label: String,
        lines: Vec<String>,
    },
    Note {
        text: String,
    },
    /// A matrix (roles × routes): each cell what was expected and what came back.
    Grid {
        rows: Vec<String>,
        cols: Vec<String>,
        cells: Vec<Vec<GridCell>>,
    },
    /// Resident memory of the service's process tree during a transfer: the first sample is
    /// the baseline before it started.
    Memory {
        samples_kib: Vec<u64>,
        growth_kib: u64,
        limit_kib: u64,
    },
    /// A query plan as an indented tree; `offending` is the line of the step at fault.
    Plan {
        dialect: String,
        lines: Vec<String>,
        offending: Option<usize>,
    },
    /// Calls the service made to a stand-in dependency during the check.
    Upstream {
        env: String,
        calls: Vec<UpstreamCall>,
    },
    /// Latency of a load run as a distribution beside the objective it is held to.
    Distribution(Box<Distribution>),
    /// Where in the learner's repo the problem is (path relative to the repo, 1-based), so a
    /// CI annotation can point at it.
    At {
        file: String,
        line: usize,
        col: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamCall {
    pub method: String,
    pub path: String,
    /// What the stand-in was set to do.
    pub behaviour: String,
    /// Milliseconds after the check started.
    pub arrived_ms: u64,
    /// `answered 500`, `gave up` (the service closed the connection), or `open` (still
    /// waiting when the check ended).
    pub end: String,
    /// How long the call lasted, when it ended.
    pub lasted_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    pub requests: u64,
    pub errors: u64,
    pub connections: usize,
    pub duration_ms: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Counts per latency bucket `(previous bound, upper_ms]`, in order.
    pub bars: Vec<Bar>,
    pub slo_p95_ms: f64,
    /// The bucket the service's own histogram puts its p95 in (upper None: +Inf).
    pub service_p95: Option<(f64, Option<f64>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    pub upper_ms: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridCell {
    pub expected: String,
    pub actual: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    pub message: String,
    pub evidence: Vec<Evidence>,
}

impl Outcome {
    pub fn pass(message: impl Into<String>) -> Self {
        Outcome { verdict: Verdict::Pass, message: message.into(), evidence: vec![] }
    }
    pub fn fail(message: impl Into<String>) -> Self {
        Outcome { verdict: Verdict::Fail, message: message.into(), evidence: vec![] }
    }
    pub fn error(message: impl Into<String>) -> Self {
        Outcome { verdict: Verdict::Error, message: message.into(), evidence: vec![] }
    }
    pub fn skipped(message: impl Into<String>) -> Self {
        Outcome { verdict: Verdict::Skipped, message: message.into(), evidence: vec![] }
    }
    /// A failure whose message is the first problem (an `Assert` reads "what: expected …,
    /// got …") and whose evidence is the rest.
    pub fn from_problems(mut problems: Vec<Evidence>, fallback: &str) -> Self {
        let message = match problems.first() {
            Some(Evidence::Assert { what, expected, actual }) => {
                let m = format!("{what}: expected {expected}, got {actual}");
                problems.remove(0);
                m
            }
            _ => fallback.to_string(),
        };
        Outcome { verdict: Verdict::Fail, message, evidence: problems }
    }

    pub fn with(mut self, e: Evidence) -> Self {
        self.evidence.push(e);
        self
    }
    pub fn with_all(mut self, e: impl IntoIterator<Item = Evidence>) -> Self {
        self.evidence.extend(e);
        self
    }

    /// Replace every secret with `[redacted]` in the message and all evidence.
    pub fn redact(&mut self, secrets: &[String]) {
        let scrub = |s: &mut String| {
            for secret in secrets.iter().filter(|s| s.len() >= 4) {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), "[redacted]");
                }
            }
        };
        scrub(&mut self.message);
        for e in &mut self.evidence {
            match e {
                Evidence::Diff { label, expected, actual } => {
                    scrub(label);
                    scrub(expected);
                    scrub(actual);
                }
                Evidence::Assert { what, expected, actual } => {
                    scrub(what);
                    scrub(expected);
                    scrub(actual);
                }
                Evidence::Curl { line } => scrub(line),
                Evidence::Latency { background, .. } => scrub(background),
                Evidence::Output { label, lines } => {
                    scrub(label);
                    lines.iter_mut().for_each(scrub);
                }
                Evidence::Note { text } => scrub(text),
                Evidence::Plan { lines, .. } => lines.iter_mut().for_each(scrub),
                Evidence::Memory { .. } | Evidence::Distribution(_) | Evidence::At { .. } => {}
                Evidence::Upstream { calls, .. } => calls.iter_mut().for_each(|c| scrub(&mut c.path)),
                Evidence::Grid { cells, .. } => cells.iter_mut().flatten().for_each(|c| scrub(&mut c.actual)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_reaches_every_evidence_kind() {
        let mut o = Outcome::fail("token sekret123 leaked")
            .with(Evidence::Output { label: "log".into(), lines: vec!["a sekret123 b".into()] })
            .with(Evidence::Diff { label: "body".into(), expected: "x".into(), actual: "sekret123".into() });
        o.redact(&["sekret123".into()]);
        let text = serde_json::to_string(&o).unwrap();
        assert!(!text.contains("sekret123"), "{text}");
        assert_eq!(text.matches("[redacted]").count(), 3);
    }
}
