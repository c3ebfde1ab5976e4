//! JUnit XML for CI: one testsuite per lab, one testcase per check. A failed check is a
//! `<failure>` whose text is the evidence, the hint and where the check is defined; a check
//! the grader could not judge is an `<error>`; a skipped one `<skipped>`.

use super::human::evidence_text;
use crate::checks::Verdict;
use crate::events::{CheckRecord, Event, LabReport, Reporter};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::io::Write;
use std::path::PathBuf;

pub struct JunitReporter {
    out: Option<PathBuf>,
    report: Report,
}

impl JunitReporter {
    /// `out`: the file to write, or `None` for stdout.
    pub fn new(out: Option<PathBuf>) -> Self {
        JunitReporter { out, report: Report::new("labgrade") }
    }
}

/// The text under a failure: what was found, what to do, where it is defined.
fn description(rec: &CheckRecord) -> String {
    let mut lines: Vec<String> = rec.outcome.evidence.iter().flat_map(evidence_text).collect();
    if !rec.hint.is_empty() {
        lines.push(format!("hint: {}", rec.hint));
    }
    if !rec.doc.is_empty() {
        lines.push(format!("read: {}", rec.doc));
    }
    lines.push(format!("defined at: {}", rec.location));
    lines.join("\n")
}

fn test_case(lab: &str, rec: &CheckRecord) -> TestCase {
    let status = match rec.outcome.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(rec.outcome.message.as_str());
            s
        }
        v => {
            let kind = if v == Verdict::Fail { NonSuccessKind::Failure } else { NonSuccessKind::Error };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(rec.outcome.message.as_str()).set_type(rec.kind.as_str()).set_description(description(rec));
            s
        }
    };
    let mut tc = TestCase::new(rec.id.as_str(), status);
    tc.set_classname(lab).set_time(rec.duration);
    tc
}

pub fn suite(report: &LabReport) -> TestSuite {
    let mut suite = TestSuite::new(report.lab.as_str());
    suite
        .set_time(report.duration)
        .add_property(Property::new("title", report.title.as_str()))
        .add_property(Property::new("score", report.score.score.to_string()))
        .add_property(Property::new("pass_mark", report.score.pass_mark.to_string()))
        .add_property(Property::new("passed", report.score.passed.to_string()))
        .add_property(Property::new("target", report.target.as_str()));
    suite.add_test_cases(report.checks.iter().map(|c| test_case(&report.lab, c)));
    let steps: Vec<String> = report
        .steps
        .iter()
        .map(|s| format!("step {} ({}): {} — {}", s.id, s.kind, s.outcome.verdict.as_str(), s.outcome.message))
        .collect();
    if !steps.is_empty() {
        suite.set_system_out(steps.join("\n"));
    }
    suite
}

impl Reporter for JunitReporter {
    fn on_event(&mut self, event: &Event) {
        if let Event::LabFinished(report) = event {
            self.report.add_test_suite(suite(report));
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let text = self.report.to_string().map_err(std::io::Error::other)?;
        match &self.out {
            Some(path) => super::json::write_atomic(path, text.as_bytes()),
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
        }
    }
}
