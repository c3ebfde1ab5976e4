//! `--timings`: where a run's time went — per lab, and within each lab every step and check
//! with its share, slowest first. Printed to stderr when the run ends, so it never mixes
//! with a JSON or JUnit report on stdout.

use crate::events::{Event, LabReport, Reporter};
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Default)]
pub struct TimingsReporter {
    labs: Vec<LabReport>,
}

impl Reporter for TimingsReporter {
    fn on_event(&mut self, event: &Event) {
        if let Event::LabFinished(r) = event {
            self.labs.push((**r).clone());
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        eprint!("{}", render(&self.labs));
        Ok(())
    }
}

/// The timings table. Besides checks and steps, each lab has "other": starting and stopping
/// the service, provisioning and dropping the database. Pure.
pub fn render(labs: &[LabReport]) -> String {
    let mut s = String::from("\ntimings\n");
    let total: Duration = labs.iter().map(|l| l.duration).sum();
    for lab in labs {
        let _ = writeln!(s, "  {:<58} {:>8}  {:>5.1}%", lab.lab, secs(lab.duration), share(lab.duration, total));
        let mut rows: Vec<(String, Duration)> = lab
            .steps
            .iter()
            .map(|st| (format!("step  {}", st.id), st.duration))
            .chain(lab.checks.iter().map(|c| (format!("check {}", c.id), c.duration)))
            .collect();
        let accounted: Duration = rows.iter().map(|(_, d)| *d).sum();
        rows.push(("other (service start/stop, database)".into(), lab.duration.saturating_sub(accounted)));
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        for (what, d) in rows {
            let _ = writeln!(s, "    {:<56} {:>8}  {:>5.1}%", what, secs(d), share(d, lab.duration));
        }
    }
    if labs.len() > 1 {
        let _ = writeln!(s, "  {:<58} {:>8}", "total", secs(total));
    }
    s
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn share(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() { 0.0 } else { 100.0 * part.as_secs_f64() / whole.as_secs_f64() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;
    use crate::events::{CheckRecord, StepRecord};
    use crate::score::LabScore;
    use crate::spec::Location;

    #[test]
    fn rows_are_slowest_first_and_the_rest_is_other() {
        let check = |id: &str, ms: u64| CheckRecord {
            id: id.into(),
            kind: "http".into(),
            criterion: "c".into(),
            blocking: false,
            hint: String::new(),
            doc: String::new(),
            location: Location::nowhere(),
            outcome: Outcome::pass("ok"),
            duration: Duration::from_millis(ms),
        };
        let lab = LabReport {
            lab: "05-indexing".into(),
            title: "t".into(),
            score: LabScore::default(),
            checks: vec![check("fast", 100), check("slow", 3000)],
            steps: vec![StepRecord {
                id: "seed".into(),
                kind: "seed".into(),
                location: Location::nowhere(),
                outcome: Outcome::pass("ok"),
                duration: Duration::from_millis(5000),
            }],
            duration: Duration::from_millis(10_000),
            target: String::new(),
            spec_sha256: String::new(),
            readiness: Vec::new(),
            seed: 0,
        };
        let text = render(&[lab]);
        let order: Vec<&str> = text.lines().skip(3).map(|l| l.split_whitespace().nth(1).unwrap_or("")).collect();
        assert_eq!(order, ["seed", "slow", "(service", "fast"], "{text}");
        assert!(text.contains("50.0%"), "{text}");
    }
}
