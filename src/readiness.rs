//! The readiness summary of a capstone lab: each line (validatedConfig, protectedRoutes, …)
//! is true only when every check it is derived from passed. Pure.

use crate::checks::Verdict;
use crate::spec::lab::Readiness;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadinessLine {
    pub key: String,
    pub title: String,
    pub ready: bool,
    pub passed: usize,
    pub total: usize,
    /// The checks it is derived from that did not pass.
    pub missing: Vec<String>,
}

/// Each readiness line from the verdicts of the checks it names (by id).
pub fn summarize(lines: &[Readiness], verdicts: &[(&str, Verdict)]) -> Vec<ReadinessLine> {
    lines
        .iter()
        .map(|r| {
            let missing: Vec<String> = r
                .checks
                .iter()
                .filter(|id| !verdicts.iter().any(|(c, v)| c == id && *v == Verdict::Pass))
                .cloned()
                .collect();
            ReadinessLine {
                key: r.key.clone(),
                title: r.title.clone(),
                ready: missing.is_empty(),
                passed: r.checks.len() - missing.len(),
                total: r.checks.len(),
                missing,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Location;

    #[test]
    fn a_line_is_ready_only_when_all_its_checks_passed() {
        let lines = vec![
            Readiness {
                key: "validatedConfig".into(),
                title: "config".into(),
                checks: vec!["a".into(), "b".into()],
                location: Location::nowhere(),
            },
            Readiness {
                key: "telemetry".into(),
                title: "telemetry".into(),
                checks: vec!["c".into()],
                location: Location::nowhere(),
            },
        ];
        let s = summarize(&lines, &[("a", Verdict::Pass), ("b", Verdict::Skipped), ("c", Verdict::Pass)]);
        assert!(!s[0].ready);
        assert_eq!((s[0].passed, s[0].total), (1, 2));
        assert_eq!(s[0].missing, vec!["b".to_string()]);
        assert!(s[1].ready);
        // A check that never ran (not in the verdicts) does not count as passed.
        assert!(!summarize(&lines[1..], &[])[0].ready);
    }
}
