//! The course page in the terminal (`labgrade status`, and the end of `labgrade grade`):
//! Certificate Lane, lessons done, percent complete, next up, the flow timeline per section,
//! the track score and the certificate state with what is still missing. Pure.

use super::human::{GREEN, RED, YELLOW, paint};
use crate::progress::{Progress, Standing};
use crate::spec::Track;
use anstyle::Style;
use std::collections::BTreeSet;
use std::fmt::Write as _;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

pub fn render(track: &Track, progress: &Progress, color: bool) -> String {
    render_marked(track, progress, &BTreeSet::new(), color)
}

/// The course page, with the labs in `stale` marked: their best attempt was graded under a
/// lab spec that has changed since, and the line says how to grade it again.
pub fn render_marked(track: &Track, progress: &Progress, stale: &BTreeSet<String>, color: bool) -> String {
    let t = progress.track(track);
    let mut s = String::new();
    let _ = writeln!(s, "{} — {}", paint(color, BOLD, &track.title), paint(color, BOLD, "Certificate Lane"));
    let next = track.labs.iter().find(|l| !matches!(progress.standing(&l.id), Standing::Passed(_)));
    let percent = if t.labs > 0 { 100.0 * t.completed as f64 / t.labs as f64 } else { 0.0 };
    let _ = write!(s, "Lessons done {}/{} · {percent:.0}% complete", t.completed, t.labs);
    match next {
        Some(l) => {
            let _ = writeln!(s, " · next up: {} {}", number(&l.id), l.title);
        }
        None => s.push_str(" · every lesson done\n"),
    }
    let width = track.labs.iter().map(|l| l.title.chars().count()).max().unwrap_or(0);
    for section in &track.sections {
        let _ = writeln!(s, "\n{}", paint(color, BOLD, &section.title));
        for lab in track.labs.iter().filter(|l| l.section == section.id) {
            let (mark, state) = match progress.standing(&lab.id) {
                Standing::Pending => (paint(color, DIM, "·"), paint(color, DIM, "Pending")),
                Standing::Passed(x) => (paint(color, GREEN, "✓"), paint(color, GREEN, format_args!("Passed ({x:.1})"))),
                Standing::Failed(x) => (paint(color, RED, "✗"), paint(color, RED, format_args!("Failed ({x:.1})"))),
            };
            let pad = " ".repeat(width - lab.title.chars().count());
            let _ = write!(s, "  {mark} {}  {}{pad}  {state}", number(&lab.id), lab.title);
            if stale.contains(&lab.id) {
                let _ = write!(
                    s,
                    "  {}",
                    paint(
                        color,
                        YELLOW,
                        format_args!(
                            "↻ the lab spec changed since this was graded; re-grade: labgrade check {}",
                            number(&lab.id)
                        )
                    )
                );
            }
            s.push('\n');
        }
    }
    let _ = write!(s, "\n{} · ", paint(color, BOLD, format_args!("track score {:.1} / 100", t.score)));
    if t.eligible {
        let _ = writeln!(s, "certificate {}", paint(color, GREEN.bold(), "ELIGIBLE"));
    } else {
        let _ = writeln!(s, "certificate {}", paint(color, YELLOW.bold(), "LOCKED"));
        for m in missing(track, progress) {
            let _ = writeln!(s, "  still missing: {m}");
        }
    }
    s
}

/// What keeps the certificate locked, one line each: labs not passed (with the blocking checks
/// their best attempt failed), then the track score.
pub fn missing(track: &Track, progress: &Progress) -> Vec<String> {
    let t = progress.track(track);
    let mut out: Vec<String> = track
        .labs
        .iter()
        .filter_map(|l| match progress.standing(&l.id) {
            Standing::Passed(_) => None,
            Standing::Pending => Some(format!("{} {} — not graded yet", number(&l.id), l.title)),
            Standing::Failed(x) => {
                let blocking = progress.best_attempt(&l.id).map(|a| a.failed_blocking.as_slice()).unwrap_or_default();
                let why = if blocking.is_empty() {
                    format!("pass mark {}", track.pass_mark)
                } else {
                    format!("blocking check(s) failed: {}", blocking.join(", "))
                };
                Some(format!("{} {} — best score {x:.1}, {why}", number(&l.id), l.title))
            }
        })
        .collect();
    if t.score < track.pass_mark {
        out.push(format!("a track score of {} (now {:.1})", track.pass_mark, t.score));
    }
    out
}

/// The blocking checks that keep labs from passing, as (lab, check), from each lab's best
/// attempt, in track order.
pub fn failed_blocking(track: &Track, progress: &Progress) -> Vec<(String, String)> {
    track
        .labs
        .iter()
        .filter(|l| matches!(progress.standing(&l.id), Standing::Failed(_)))
        .filter_map(|l| progress.best_attempt(&l.id))
        .flat_map(|a| a.failed_blocking.iter().map(|c| (a.lab.clone(), c.clone())))
        .collect()
}

/// `03-config-validation` → `03`.
fn number(id: &str) -> &str {
    id.split_once('-').map_or(id, |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Attempt;

    fn track() -> Track {
        Track::parse(
            "track.toml",
            r#"
title = "Backend Engineer Path"
pass_mark = 80
[[section]]
id = "a"
title = "Runtime"
[[section]]
id = "b"
title = "Ownership"
[[lab]]
id = "01-one"
title = "One"
section = "a"
[[lab]]
id = "02-two"
title = "Two"
section = "a"
[[lab]]
id = "03-three"
title = "Three"
section = "b"
"#,
        )
        .unwrap()
    }

    fn progress(list: &[(&str, f64, bool)]) -> Progress {
        Progress {
            version: 1,
            attempts: list
                .iter()
                .map(|(lab, score, passed)| Attempt {
                    lab: lab.to_string(),
                    at: "2026-11-26T00:00:00Z".into(),
                    score: *score,
                    passed: *passed,
                    grader_version: "0".into(),
                    spec_sha256: String::new(),
                    duration_ms: 0,
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn the_course_page_shows_each_lab_and_what_is_missing() {
        let text = render(&track(), &progress(&[("01-one", 100.0, true), ("03-three", 62.5, false)]), false);
        assert!(text.starts_with("Backend Engineer Path — Certificate Lane\n"), "{text}");
        assert!(text.contains("Lessons done 1/3 · 33% complete · next up: 02 Two\n"), "{text}");
        assert!(text.contains("  ✓ 01  One    Passed (100.0)\n"), "{text}");
        assert!(text.contains("  · 02  Two    Pending\n"), "{text}");
        assert!(text.contains("  ✗ 03  Three  Failed (62.5)\n"), "{text}");
        assert!(text.contains("track score 54.2 / 100 · certificate LOCKED\n"), "{text}");
        assert!(text.contains("  still missing: 02 Two — not graded yet\n"), "{text}");
        assert!(text.contains("  still missing: 03 Three — best score 62.5, pass mark 80\n"), "{text}");
        assert!(text.contains("  still missing: a track score of 80 (now 54.2)\n"), "{text}");

        // A lab that scored enough but failed a blocking check says which.
        let mut p = progress(&[("01-one", 94.4, false)]);
        p.attempts[0].failed_blocking = vec!["wrong-signature-401".into()];
        let page = render(&track(), &p, false);
        assert!(
            page.contains("  still missing: 01 One — best score 94.4, blocking check(s) failed: wrong-signature-401\n"),
            "{page}"
        );
        assert_eq!(failed_blocking(&track(), &p), vec![("01-one".to_string(), "wrong-signature-401".to_string())]);
    }

    #[test]
    fn a_best_attempt_under_a_changed_spec_is_marked_with_how_to_regrade() {
        let p = progress(&[("01-one", 100.0, true), ("03-three", 62.5, false)]);
        let stale: BTreeSet<String> = ["01-one".to_string()].into();
        let text = render_marked(&track(), &p, &stale, false);
        assert!(
            text.contains(
                "  ✓ 01  One    Passed (100.0)  ↻ the lab spec changed since this was graded; re-grade: labgrade check 01\n"
            ),
            "{text}"
        );
        assert!(text.contains("  ✗ 03  Three  Failed (62.5)\n"), "{text}");
    }

    #[test]
    fn all_passed_is_eligible() {
        let p = progress(&[("01-one", 100.0, true), ("02-two", 90.0, true), ("03-three", 85.0, true)]);
        let text = render(&track(), &p, false);
        assert!(text.contains("Lessons done 3/3 · 100% complete · every lesson done\n"), "{text}");
        assert!(text.contains("certificate ELIGIBLE\n"), "{text}");
        assert!(missing(&track(), &p).is_empty());
    }
}
