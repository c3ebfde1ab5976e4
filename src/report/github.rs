//! GitHub Actions: a workflow-command annotation per check that did not pass (`::error` for
//! a failure, `::warning` when the grader could not judge), pointing at the learner's file
//! and line when the evidence names one, and a Markdown job summary with the score table,
//! appended to `$GITHUB_STEP_SUMMARY` (or written to the `-o github=FILE` path).

use crate::checks::{Evidence, Verdict};
use crate::events::{Event, LabReport, Reporter};
use std::io::Write;
use std::path::PathBuf;

pub struct GithubReporter {
    summary: Option<PathBuf>,
    annotations: Vec<String>,
    markdown: String,
}

impl GithubReporter {
    /// `summary`: where the Markdown summary goes; None = `$GITHUB_STEP_SUMMARY` if set.
    pub fn new(summary: Option<PathBuf>) -> Self {
        let summary = summary.or_else(|| std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from));
        GithubReporter { summary, annotations: Vec::new(), markdown: String::new() }
    }
}

/// Workflow-command escaping: the message, and (stricter) a property value.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The annotations of one lab. Pure.
pub fn annotations(report: &LabReport) -> Vec<String> {
    let mut out = Vec::new();
    for rec in &report.checks {
        let level = match rec.outcome.verdict {
            Verdict::Pass | Verdict::Skipped => continue,
            Verdict::Fail => "error",
            Verdict::Error => "warning",
        };
        let mut props = Vec::new();
        if let Some((file, line, col)) = rec.outcome.evidence.iter().find_map(|e| match e {
            Evidence::At { file, line, col } => Some((file, line, col)),
            _ => None,
        }) {
            props.push(format!("file={}", escape_property(file)));
            props.push(format!("line={line}"));
            props.push(format!("col={col}"));
        }
        let blocking = if rec.blocking { " (blocking)" } else { "" };
        props.push(format!("title={}", escape_property(&format!("{}/{}{blocking}", report.lab, rec.id))));
        let mut message = rec.outcome.message.clone();
        if !rec.hint.is_empty() {
            message.push_str(&format!("\nhint: {}", rec.hint));
        }
        if !rec.doc.is_empty() {
            message.push_str(&format!("\nread: {}", rec.doc));
        }
        out.push(format!("::{level} {}::{}", props.join(","), escape_data(&message)));
    }
    out
}

fn cell(s: &str) -> String {
    let one_line: String = s.replace(['\n', '\r'], " ").replace('|', "\\|");
    let cut: String = one_line.chars().take(160).collect();
    if cut.len() < one_line.len() { format!("{cut}…") } else { cut }
}

/// The job summary of one lab. Pure.
pub fn summary(report: &LabReport) -> String {
    let s = &report.score;
    let verdict = if s.passed { "✅ passed" } else { "❌ not passed" };
    let mut md = format!(
        "## {} — {}\n\n**{} / 100** · pass mark {} · {verdict}\n\n",
        report.lab, report.title, s.score, s.pass_mark
    );
    if !s.failed_blocking.is_empty() {
        md.push_str(&format!("Blocking checks not passed: {}\n\n", s.failed_blocking.join(", ")));
    }
    md.push_str("| criterion | score | checks |\n|---|---:|---:|\n");
    for c in &s.criteria {
        md.push_str(&format!("| {} | {} | {}/{} |\n", cell(&c.text), c.score, c.passed_checks, c.checks));
    }
    md.push_str("\n| check | outcome | message |\n|---|---|---|\n");
    for rec in &report.checks {
        let icon = match rec.outcome.verdict {
            Verdict::Pass => "✅",
            Verdict::Fail => "❌",
            Verdict::Error => "⚠️",
            Verdict::Skipped => "⏭️",
        };
        md.push_str(&format!(
            "| `{}` | {icon} {} | {} |\n",
            rec.id,
            rec.outcome.verdict.as_str(),
            cell(&rec.outcome.message)
        ));
    }
    md.push('\n');
    md
}

impl Reporter for GithubReporter {
    fn on_event(&mut self, event: &Event) {
        if let Event::LabFinished(report) = event {
            self.annotations.extend(annotations(report));
            self.markdown.push_str(&summary(report));
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        for a in &self.annotations {
            writeln!(out, "{a}")?;
        }
        out.flush()?;
        if let Some(path) = &self.summary {
            // GitHub's summary file collects every step's summary: append, never replace.
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            f.write_all(self.markdown.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_commands_on_one_line() {
        assert_eq!(escape_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
