//! A class-sized roster: 500 reports from 50 learners, some signed, one tampered, read back
//! into a gradebook with exact scores, quickly.

use labgrade::roster::{self, Gradebook, Row};
use labgrade::signing::sign;
use labgrade::spec::{Catalog, LabSource, Track};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &[u8] = b"course-2025-secret";
const LEARNERS: usize = 50;
/// The learner whose report of lab index 2 is edited after signing (score → 100, passed).
const TAMPERER: usize = 7;
const TAMPERED_LAB: usize = 2;

fn track() -> Track {
    Catalog::open(LabSource::Embedded).expect("the embedded track loads").track
}

fn name(i: usize) -> String {
    format!("learner-{i:02}")
}

/// Learners whose reports are not signed.
fn unsigned(i: usize) -> bool {
    i % 10 == 3
}

/// A first attempt's score in tenths: learners 0–19 are strong (80.0–99.9), the others
/// range over 50.0–99.9.
fn first_tenths(i: usize, j: usize) -> u32 {
    let x = ((i * 7 + j * 13) % if i < 20 { 20 } else { 50 }) as u32;
    let base = if i < 20 { 800 } else { 500 };
    base + 10 * x + ((i + j) % 10) as u32
}

/// Every report the class submitted: (learner index, lab index, score, passed).
/// Learners 0, 5, 10… graded one lab twice (the retry better for half of them, worse for the
/// others); learners 1, 6, 11… never graded the last lab; everyone else graded each lab once.
fn attempts() -> Vec<(usize, usize, f64, bool)> {
    let mut out = Vec::new();
    for i in 0..LEARNERS {
        for j in 0..10 {
            if i % 5 == 1 && j == 9 {
                continue;
            }
            let t = first_tenths(i, j);
            // Learner 4's lab 3 fails a required check despite its score.
            out.push((i, j, f64::from(t) / 10.0, t >= 800 && !(i == 4 && j == 3)));
        }
        if i % 5 == 0 {
            let j = (i / 5) % 10;
            let first = first_tenths(i, j);
            let retry = if (i / 5) % 2 == 0 { (first + 45).min(1000) } else { first - 100 };
            out.push((i, j, f64::from(retry) / 10.0, retry >= 800));
        }
    }
    out
}

fn report(track: &Track, i: usize, j: usize, score: f64, passed: bool) -> Value {
    let checks: Vec<Value> = (0..12)
        .map(|c| {
            json!({
                "id": format!("check-{c}"),
                "kind": "http",
                "criterion": "contract",
                "required": c == 0,
                "outcome": if c < 9 { "pass" } else { "fail" },
                "message": format!("GET /items/{c} answered 200 with the documented body ({c} of 12)"),
                "location": format!("{}/lab.toml:{}:1", track.labs[j].id, 10 + 7 * c),
                "duration_ms": 12 + c,
                "hint": "Compare the response with the contract in the lab README.",
                "doc": format!("labs/{}/README.md#check-{c}", track.labs[j].id),
                "evidence": [{ "type": "curl", "line": format!("curl -sS http://127.0.0.1:3000/items/{c}") }],
            })
        })
        .collect();
    let mut r = json!({
        "lab": track.labs[j].id,
        "title": track.labs[j].title,
        "score": score,
        "passed": passed,
        "pass_mark": 80.0,
        "duration_ms": 4200 + i * 10 + j,
        "target": "http://127.0.0.1:3000",
        "grader_version": "0.1.0",
        "spec_sha256": format!("{:064x}", j + 1),
        "criteria": [{ "id": "contract", "text": "The HTTP contract", "score": score }],
        "failed_blocking": [],
        "checks": checks,
        "steps": [],
    });
    // Even learners carry their name (LABGRADE_LEARNER); odd ones are known by their folder,
    // half of them with an empty "learner".
    if i % 2 == 0 {
        r["learner"] = json!(name(i));
    } else if i % 4 == 1 {
        r["learner"] = json!("");
    }
    r
}

/// Write the class's reports under `root`; returns how many.
fn write_class(root: &Path, track: &Track) -> usize {
    let all = attempts();
    let mut seen = std::collections::HashMap::new();
    for (n, &(i, j, score, passed)) in all.iter().enumerate() {
        let mut r = report(track, i, j, score, passed);
        if !unsigned(i) {
            sign(&mut r, KEY);
        }
        let attempt = seen.entry((i, j)).and_modify(|a| *a += 1).or_insert(1);
        if i == TAMPERER && j == TAMPERED_LAB && *attempt == 1 {
            r["score"] = json!(100.0);
            r["passed"] = json!(true);
        }
        let path = if i % 2 == 0 {
            // Downloaded artifacts: one folder per CI run, named after nothing useful.
            root.join(format!("run-{n:04}")).join("labgrade-report.json")
        } else {
            root.join(name(i)).join(format!("{}-{attempt}.json", track.labs[j].id))
        };
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&r).unwrap() + "\n").unwrap();
    }
    all.len()
}

/// What the gradebook must say, worked out from the attempts with plain arithmetic.
fn expected(track: &Track, key_given: bool) -> Vec<Row> {
    let all = attempts();
    (0..LEARNERS)
        .map(|i| {
            let mut best: Vec<Option<(f64, bool)>> = vec![None; 10];
            let (mut unverified, mut invalid) = (0, 0);
            let mut first_done = [false; 10];
            for &(_, j, score, passed) in all.iter().filter(|a| a.0 == i) {
                let tampered = i == TAMPERER && j == TAMPERED_LAB && !first_done[j];
                first_done[j] = true;
                let (score, passed) = if tampered { (100.0, true) } else { (score, passed) };
                let counted = !key_given || (!unsigned(i) && !tampered);
                unverified += usize::from(!key_given || unsigned(i) || tampered);
                invalid += usize::from(key_given && tampered);
                if counted {
                    best[j] = match best[j] {
                        Some((s, p)) if s > score || (s == score && (p || !passed)) => Some((s, p)),
                        _ => Some((score, passed)),
                    };
                }
            }
            let sum: f64 = best.iter().map(|b| b.map_or(0.0, |(s, _)| s)).sum();
            let track_score = (sum / 10.0 * 10.0).round() / 10.0;
            let completed = best.iter().filter(|b| b.is_some_and(|(_, p)| p)).count();
            let eligible = completed == 10 && track_score >= track.pass_mark;
            Row {
                learner: name(i),
                best: best.iter().map(|b| b.map(|(s, _)| s)).collect(),
                track_score,
                completed,
                certificate: if eligible { "eligible" } else { "locked" },
                unverified,
                invalid,
            }
        })
        .collect()
}

fn row(book: &Gradebook, i: usize) -> &Row {
    book.rows.iter().find(|r| r.learner == name(i)).unwrap_or_else(|| panic!("no row for {}", name(i)))
}

#[test]
fn a_class_of_500_reports_makes_an_exact_gradebook_quickly() {
    let track = track();
    assert_eq!(track.labs.len(), 10);
    assert_eq!(track.pass_mark, 80.0);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(write_class(dir.path(), &track), 500);

    let start = Instant::now();
    let book = roster::collect(&[dir.path().to_path_buf()], &track, Some(KEY)).unwrap();
    let took = start.elapsed();
    eprintln!("collected 500 reports in {took:?}");
    assert!(took < Duration::from_secs(1), "collecting 500 reports took {took:?}");

    assert_eq!(book.labs, track.labs.iter().map(|l| l.id.clone()).collect::<Vec<_>>());
    assert_eq!(book.rows.len(), LEARNERS);
    let learners: Vec<&str> = book.rows.iter().map(|r| r.learner.as_str()).collect();
    assert!(learners.is_sorted(), "rows sorted by learner");
    assert_eq!(book.rows, expected(&track, true));

    // Spot checks, worked by hand.
    // learner-00: lab 0 retried, 80.0 → 84.5; lab j first scored 80 + (13j mod 20) + j/10:
    // 84.5 93.1 86.2 99.3 92.4 85.5 98.6 91.7 84.8 97.9 → mean 91.4.
    let r = row(&book, 0);
    assert_eq!(r.best[0], Some(84.5));
    assert_eq!(r.best[1], Some(93.1));
    assert_eq!(r.best[9], Some(97.9));
    assert_eq!(r.track_score, 91.4);
    assert_eq!(r.completed, 10);
    assert_eq!(r.certificate, "eligible");
    assert_eq!((r.unverified, r.invalid), (0, 0));
    // learner-05: lab 1 retried worse, 88.6 then 78.6: the first attempt is kept.
    let r = row(&book, 5);
    assert_eq!(r.best[1], Some(88.6));
    // learner-03 is unsigned: nothing counts with a key.
    let r = row(&book, 3);
    assert_eq!(r.best, vec![None; 10]);
    assert_eq!((r.track_score, r.completed, r.certificate), (0.0, 0, "locked"));
    assert_eq!((r.unverified, r.invalid), (10, 0));
    // learner-07 raised a score after grading: flagged, and that lab does not count.
    let r = row(&book, TAMPERER);
    assert_eq!(r.best[TAMPERED_LAB], None);
    assert_eq!((r.unverified, r.invalid), (1, 1));
    assert_eq!(r.certificate, "locked");
    assert_eq!(book.rows.iter().map(|r| r.invalid).sum::<usize>(), 1, "exactly one tampered report");
    // learner-04 scored ≥ 80 everywhere but failed a required check in lab 3.
    let r = row(&book, 4);
    assert_eq!(r.completed, 9);
    assert!(r.track_score >= 80.0);
    assert_eq!(r.certificate, "locked");
    // learner-01 never graded the last lab.
    let r = row(&book, 1);
    assert_eq!(r.best[9], None);
    assert_eq!(r.certificate, "locked");
    let eligible: Vec<&str> =
        book.rows.iter().filter(|r| r.certificate == "eligible").map(|r| r.learner.as_str()).collect();
    assert!(eligible.len() >= 10, "{eligible:?}");

    // Without a key every report counts (the tampered 100 too) and all are unverified.
    let start = Instant::now();
    let open = roster::collect(&[dir.path().to_path_buf()], &track, None).unwrap();
    eprintln!("without a key: {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(open.rows, expected(&track, false));
    assert_eq!(row(&open, TAMPERER).best[TAMPERED_LAB], Some(100.0));
    assert_eq!(open.rows.iter().map(|r| r.unverified).sum::<usize>(), 500);

    // The exports carry every learner.
    let csv = roster::csv(&book);
    assert_eq!(csv.lines().count(), LEARNERS + 1);
    assert!(csv.starts_with("learner,01-runtime,02-http-contracts,"));
    assert!(csv.lines().nth(1).unwrap().ends_with(",91.4,10,eligible,0"), "{csv}");
    let md = roster::markdown(&book);
    assert!(md.contains("| learner-07 |") && md.contains("⚠ 1 unverified (1 invalid)"), "{md}");
}
