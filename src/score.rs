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

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabScore {
    /// 0–100, the criterion scores weighted by criterion weight.
    pub score: f64,
    pub passed: bool,
    pub pass_mark: f64,
    pub criteria: Vec<CriterionScore>,
    /// Required checks that did not pass (each one alone keeps the lab from passing).
    pub failed_blocking: Vec<String>,
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
    let failed_blocking: Vec<String> = lab
        .checks
        .iter()
        .zip(verdicts)
        .filter(|(c, v)| c.blocking && **v != Verdict::Pass)
        .map(|(c, _)| c.id.clone())
        .collect();
    LabScore { score, passed: score >= pass_mark && failed_blocking.is_empty(), pass_mark, criteria, failed_blocking }
}

/// Where a learner stands on the whole track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackScore {
    /// 0–100: the mean of every lab's best score, a lab never graded counting 0.
    pub score: f64,
    /// Labs whose best attempt passed.
    pub completed: usize,
    /// Labs in the track.
    pub labs: usize,
    /// The certificate gate: every lab completed and the track score at least the pass mark.
    pub eligible: bool,
}

/// Score the track from each lab's best attempt (`best[i]` = (score, passed) of the track's
/// lab i, `None` if it was never graded).
pub fn track(best: &[Option<(f64, bool)>], pass_mark: f64) -> TrackScore {
    let labs = best.len();
    let total: f64 = best.iter().map(|b| b.map_or(0.0, |(score, _)| score)).sum();
    let score = if labs > 0 { round1(total / labs as f64) } else { 0.0 };
    let completed = best.iter().filter(|b| b.is_some_and(|(_, passed)| passed)).count();
    TrackScore { score, completed, labs, eligible: labs > 0 && completed == labs && score >= pass_mark }
}

/// The best of a lab's attempts, each (score, passed): the highest score, a passed attempt
/// winning a tie. `None` when there are no attempts.
pub fn best_attempt(attempts: impl IntoIterator<Item = (f64, bool)>) -> Option<(f64, bool)> {
    attempts.into_iter().fold(None, |best, a| match best {
        Some(b) if better(b, a) => Some(b),
        _ => Some(a),
    })
}

/// Whether attempt `a` stays ahead of `b`.
fn better(a: (f64, bool), b: (f64, bool)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && (a.1 || !b.1))
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
        assert_eq!(s.failed_blocking, vec!["b1"]);
        let s = score_lab(&lab(), &[Verdict::Skipped, Verdict::Pass, Verdict::Pass], 80.0);
        assert_eq!(s.criteria[0].score, 75.0);
    }

    #[test]
    fn track_is_the_mean_over_all_labs_missing_counting_zero() {
        let t = track(&[Some((90.0, true)), None, Some((85.5, true))], 80.0);
        // (90 + 0 + 85.5) / 3 = 58.5
        assert_eq!(t, TrackScore { score: 58.5, completed: 2, labs: 3, eligible: false });
        // Rounded to one decimal like a lab: 250 / 3 = 83.33…
        let t = track(&[Some((100.0, true)), Some((70.0, false)), Some((80.0, true))], 80.0);
        assert_eq!(t.score, 83.3);
        assert_eq!(t.completed, 2);
        assert!(!t.eligible, "a failed lab keeps the certificate locked");
    }

    #[test]
    fn eligible_needs_every_lab_passed_and_the_pass_mark() {
        let t = track(&[Some((80.0, true)), Some((80.0, true))], 80.0);
        assert_eq!(t, TrackScore { score: 80.0, completed: 2, labs: 2, eligible: true });
        // Every lab passed (a lab may pass below a higher track mark) but the mean is short.
        let t = track(&[Some((80.0, true)), Some((81.0, true))], 85.0);
        assert_eq!(t.completed, 2);
        assert!(!t.eligible);
        // A high score with a required check failing does not complete the lab.
        let t = track(&[Some((95.0, false)), Some((100.0, true))], 80.0);
        assert_eq!((t.score, t.completed, t.eligible), (97.5, 1, false));
        let t = track(&[], 80.0);
        assert_eq!(t, TrackScore { score: 0.0, completed: 0, labs: 0, eligible: false });
    }

    #[test]
    fn best_attempt_is_the_highest_score_a_pass_winning_ties() {
        assert_eq!(best_attempt([]), None);
        assert_eq!(best_attempt([(40.0, false), (90.0, true), (70.0, true)]), Some((90.0, true)));
        assert_eq!(best_attempt([(85.0, true), (85.0, false)]), Some((85.0, true)));
        assert_eq!(best_attempt([(85.0, false), (85.0, true)]), Some((85.0, true)));
        // A higher score wins even when it did not pass (a required check failed).
        assert_eq!(best_attempt([(82.0, true), (95.0, false)]), Some((95.0, false)));
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
