//! Rubric scoring: checks → criteria → lab → track, and the certificate gate. Pure.

use crate::checks::Verdict;
use crate::spec::Lab;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionScore {
    pub id: String,
    pub text: String,
    /// 0–100.
    pub score: f64,
    pub passed_checks: usize,
    pub checks: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabScore {
    /// 0–100, the criterion scores weighted by criterion weight.
    pub score: f64,
    pub passed: bool,
    pub pass_mark: f64,
    pub criteria: Vec<CriterionScore>,
    /// Required checks that did not pass (each one alone keeps the lab from passing).
    pub failed_required: Vec<String>,
}

/// Score a lab from each check's verdict (`verdicts[i]` belongs to `lab.checks[i]`).
/// Only a pass earns a check's weight: fail, error and skipped earn nothing, so a check the
/// grader could not judge never hands out points.
pub fn score_lab(lab: &Lab, verdicts: &[Verdict], pass_mark: f64) -> LabScore {
    let mut criteria = Vec::new();
    let mut total = 0.0;
    let mut total_weight = 0.0;
    for c in &lab.criteria {
        let (mut earned, mut possible, mut n, mut passed) = (0.0, 0.0, 0, 0);
        for (check, v) in lab.checks.iter().zip(verdicts) {
            if check.criterion == c.id {
                possible += check.weight;
                n += 1;
                if *v == Verdict::Pass {
                    earned += check.weight;
                    passed += 1;
                }
            }
        }
        let score = if possible > 0.0 { 100.0 * earned / possible } else { 0.0 };
        total += score * c.weight;
        total_weight += c.weight;
        criteria.push(CriterionScore {
            id: c.id.clone(),
            text: c.text.clone(),
            score: round1(score),
            passed_checks: passed,
            checks: n,
        });
    }
    let score = if total_weight > 0.0 { round1(total / total_weight) } else { 0.0 };
    let failed_required: Vec<String> = lab
        .checks
        .iter()
        .zip(verdicts)
        .filter(|(c, v)| c.required && **v != Verdict::Pass)
        .map(|(c, _)| c.id.clone())
        .collect();
    LabScore { score, passed: score >= pass_mark && failed_required.is_empty(), pass_mark, criteria, failed_required }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::LabSource;

    fn lab() -> Lab {
        let src = r#"
id = "01-x"
title = "X"
[[criterion]]
id = "a"
text = "A"
[[criterion]]
id = "b"
text = "B"
weight = 3
[[check]]
id = "a1"
kind = "doc"
criterion = "a"
hint = "h"
doc = "d"
file = "A.md"
[[check]]
id = "a2"
kind = "doc"
criterion = "a"
weight = 3
hint = "h"
doc = "d"
file = "A.md"
[[check]]
id = "b1"
kind = "doc"
criterion = "b"
required = true
hint = "h"
doc = "d"
file = "A.md"
"#;
        Lab::parse(&LabSource::Embedded, "01-x/lab.toml", src).unwrap()
    }

    #[test]
    fn all_pass_scores_100() {
        let s = score_lab(&lab(), &[Verdict::Pass; 3], 80.0);
        assert_eq!(s.score, 100.0);
        assert!(s.passed);
    }

    #[test]
    fn check_and_criterion_weights_apply() {
        // a: 1 of 4 weight earned = 25; b: 100; lab = (25*1 + 100*3)/4 = 81.25
        let s = score_lab(&lab(), &[Verdict::Pass, Verdict::Fail, Verdict::Pass], 80.0);
        assert_eq!(s.criteria[0].score, 25.0);
        assert_eq!(s.score, 81.3);
        assert!(s.passed);
    }

    #[test]
    fn error_and_skipped_earn_nothing_and_required_blocks() {
        let s = score_lab(&lab(), &[Verdict::Pass, Verdict::Pass, Verdict::Error], 80.0);
        assert_eq!(s.score, 25.0);
        assert!(!s.passed);
        assert_eq!(s.failed_required, vec!["b1"]);
        let s = score_lab(&lab(), &[Verdict::Skipped, Verdict::Pass, Verdict::Pass], 80.0);
        assert_eq!(s.criteria[0].score, 75.0);
    }

    #[test]
    fn required_failure_fails_a_lab_above_pass_mark() {
        let mut l = lab();
        l.criteria[1].weight = 0.1;
        let s = score_lab(&l, &[Verdict::Pass, Verdict::Pass, Verdict::Fail], 80.0);
        assert!(s.score > 80.0);
        assert!(!s.passed);
    }
}
