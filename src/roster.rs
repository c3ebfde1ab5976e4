//! A class gradebook: every learner's best score per lab, track score and certificate
//! status, from the JSON reports their CI runs uploaded (`labgrade roster DIR...`).
//!
//! Each `*.json` file is one lab report object or an array of them (the shape of
//! [`crate::report::json`]). The learner is the report's `"learner"`, else the folder holding
//! the file. With a signing key, only reports whose signature verifies count toward scores;
//! the others are counted per learner so an instructor can look at them.

use crate::score;
use crate::signing::{VerifyError, verify};
use crate::spec::Track;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The class: one row per learner, sorted by learner.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradebook {
    /// The track's lab ids, in track order (the columns of `Row::best`).
    pub labs: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub learner: String,
    /// Best counted score per lab of the track (`None`: no counted report for it).
    pub best: Vec<Option<f64>>,
    pub track_score: f64,
    /// Labs whose best attempt passed.
    pub completed: usize,
    /// `"locked"` or `"eligible"`.
    pub certificate: &'static str,
    /// Reports not counted as verified: unsigned or failing verification when a key was
    /// given; every report when none was.
    pub unverified: usize,
    /// Reports whose signature was present but wrong (modified, or signed with another key).
    pub invalid: usize,
}

/// Why the reports could not be collected; each names the file or folder at fault.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not JSON: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{} is not a labgrade report: {reason}", path.display())]
    NotAReport { path: PathBuf, reason: String },
    #[error("no *.json reports under {0}")]
    Empty(String),
}

/// What one report contributes.
#[derive(Debug)]
struct Entry {
    learner: String,
    lab: String,
    score: f64,
    passed: bool,
    /// Counts toward the best scores.
    counted: bool,
    unverified: bool,
    invalid: bool,
}

/// Read every report under `paths` (folders searched recursively for `*.json`; a path may
/// also name a file) and build the gradebook for `track`. With `key`, reports that do not
/// verify are flagged and left out of the scores; without one, every report counts and is
/// flagged unverified. Reports of labs outside the track are ignored.
pub fn collect(paths: &[PathBuf], track: &Track, key: Option<&[u8]>) -> Result<Gradebook, RosterError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| RosterError::Read { path: p.clone(), source })?;
        if meta.is_dir() {
            walk(p, &mut files)?;
        } else {
            files.push(p.clone());
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(RosterError::Empty(if shown.is_empty() { "(no paths given)".into() } else { shown.join(", ") }));
    }

    let lab_ids: Vec<String> = track.labs.iter().map(|l| l.id.clone()).collect();
    let entries = read_all(&files, &lab_ids, key)?;

    // learner → per lab: the counted attempts; plus the flag counts.
    struct Acc {
        attempts: Vec<Vec<(f64, bool)>>,
        unverified: usize,
        invalid: usize,
    }
    let mut learners: BTreeMap<String, Acc> = BTreeMap::new();
    for e in entries {
        let acc = learners.entry(e.learner).or_insert_with(|| Acc {
            attempts: vec![Vec::new(); lab_ids.len()],
            unverified: 0,
            invalid: 0,
        });
        acc.unverified += usize::from(e.unverified);
        acc.invalid += usize::from(e.invalid);
        if e.counted {
            let i = lab_ids.iter().position(|id| *id == e.lab).expect("entries are track labs");
            acc.attempts[i].push((e.score, e.passed));
        }
    }
    let rows = learners
        .into_iter()
        .map(|(learner, acc)| {
            let best: Vec<Option<(f64, bool)>> = acc.attempts.into_iter().map(score::best_attempt).collect();
            let t = score::track(&best, track.pass_mark);
            Row {
                learner,
                best: best.iter().map(|b| b.map(|(score, _)| score)).collect(),
                track_score: t.score,
                completed: t.completed,
                certificate: if t.eligible { "eligible" } else { "locked" },
                unverified: acc.unverified,
                invalid: acc.invalid,
            }
        })
        .collect();
    Ok(Gradebook { labs: lab_ids, rows })
}

/// Every `*.json` file under `dir`. Symlinked folders are not followed (no cycles).
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), RosterError> {
    let read = std::fs::read_dir(dir).map_err(|source| RosterError::Read { path: dir.to_path_buf(), source })?;
    for entry in read {
        let entry = entry.map_err(|source| RosterError::Read { path: dir.to_path_buf(), source })?;
        let path = entry.path();
        let ty = entry.file_type().map_err(|source| RosterError::Read { path: path.clone(), source })?;
        if ty.is_dir() {
            walk(&path, files)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
            && (ty.is_file() || (ty.is_symlink() && path.is_file()))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Read and judge every file, spread over the machine's cores; the first error in file order
/// wins, so the message does not depend on scheduling.
fn read_all(files: &[PathBuf], labs: &[String], key: Option<&[u8]>) -> Result<Vec<Entry>, RosterError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    let chunk = files.len().div_ceil(threads).max(32);
    let results: Vec<Result<Vec<Entry>, RosterError>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for f in part {
                        out.extend(read_file(f, labs, key)?);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a roster reader thread panicked")).collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

fn read_file(path: &Path, labs: &[String], key: Option<&[u8]>) -> Result<Vec<Entry>, RosterError> {
    let bytes = std::fs::read(path).map_err(|source| RosterError::Read { path: path.to_path_buf(), source })?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|source| RosterError::Json { path: path.to_path_buf(), source })?;
    let not_a_report = |reason: String| RosterError::NotAReport { path: path.to_path_buf(), reason };
    let reports: Vec<&Value> = match &doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) if o.get("labs").is_some_and(Value::is_array) => {
            o["labs"].as_array().into_iter().flatten().collect()
        }
        Value::Object(_) => vec![&doc],
        _ => return Err(not_a_report("expected a lab report object or an array of them".into())),
    };
    let mut out = Vec::new();
    for (i, report) in reports.into_iter().enumerate() {
        let entry = judge(report, path, labs, key)
            .map_err(|reason| not_a_report(if doc.is_array() { format!("element {i}: {reason}") } else { reason }))?;
        out.extend(entry);
    }
    Ok(out)
}

/// One report → its entry (`None` for a lab outside the track), or why it is not a report.
fn judge(report: &Value, path: &Path, labs: &[String], key: Option<&[u8]>) -> Result<Option<Entry>, String> {
    let Value::Object(map) = report else { return Err("a lab report must be a JSON object".into()) };
    let lab = match map.get("lab") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err("\"lab\" is missing or not a string".into()),
    };
    let score = match map.get("score").and_then(Value::as_f64) {
        Some(s) if (0.0..=100.0).contains(&s) => s,
        Some(s) => return Err(format!("\"score\" {s} is outside 0–100")),
        None => return Err("\"score\" is missing or not a number".into()),
    };
    let Some(passed) = map.get("passed").and_then(Value::as_bool) else {
        return Err("\"passed\" is missing or not true/false".into());
    };
    if !labs.iter().any(|id| id == lab) {
        return Ok(None);
    }
    let learner = match map.get("learner") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => folder_name(path),
    };
    let (counted, unverified, invalid) = match key {
        None => (true, true, false),
        Some(key) => match verify(report, key) {
            Ok(()) => (true, false, false),
            Err(VerifyError::Unsigned) => (false, true, false),
            Err(VerifyError::Malformed(_) | VerifyError::Mismatch) => (false, true, true),
        },
    };
    Ok(Some(Entry { learner, lab: lab.clone(), score, passed, counted, unverified, invalid }))
}

/// The name of the folder holding `file` (resolved when the path gives none, e.g. `r.json`).
fn folder_name(file: &Path) -> String {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| parent.canonicalize().ok()?.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "(unknown)".into())
}

/// The gradebook as CSV: `learner,<lab ids…>,track_score,completed,certificate,unverified_reports`,
/// a missing score left empty, fields quoted as RFC 4180 says when they need it.
pub fn csv(book: &Gradebook) -> String {
    let mut out = String::new();
    let header = ["learner"]
        .into_iter()
        .map(str::to_string)
        .chain(book.labs.iter().cloned())
        .chain(["track_score", "completed", "certificate", "unverified_reports"].map(str::to_string));
    csv_line(&mut out, header);
    for r in &book.rows {
        let cells = std::iter::once(r.learner.clone())
            .chain(r.best.iter().map(|b| b.map(|s| format!("{s:.1}")).unwrap_or_default()))
            .chain([
                format!("{:.1}", r.track_score),
                r.completed.to_string(),
                r.certificate.into(),
                r.unverified.to_string(),
            ]);
        csv_line(&mut out, cells);
    }
    out
}

fn csv_line(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push('\n');
}

/// The gradebook as a Markdown table: a missing score shows as "—", and a ⚠ note names the
/// reports that did not count as verified.
pub fn markdown(book: &Gradebook) -> String {
    let mut out = String::new();
    let eligible = book.rows.iter().filter(|r| r.certificate == "eligible").count();
    out.push_str(&format!(
        "{} learner{}, {eligible} eligible for the certificate.\n\n",
        book.rows.len(),
        if book.rows.len() == 1 { "" } else { "s" }
    ));
    out.push_str("| Learner |");
    for lab in &book.labs {
        out.push_str(&format!(" {} |", md_cell(lab)));
    }
    out.push_str(" Track | Completed | Certificate | Note |\n|---|");
    out.push_str(&"---:|".repeat(book.labs.len()));
    out.push_str("---:|---:|---|---|\n");
    for r in &book.rows {
        out.push_str(&format!("| {} |", md_cell(&r.learner)));
        for b in &r.best {
            match b {
                Some(s) => out.push_str(&format!(" {s:.1} |")),
                None => out.push_str(" — |"),
            }
        }
        out.push_str(&format!(
            " {:.1} | {}/{} | {} | {} |\n",
            r.track_score,
            r.completed,
            book.labs.len(),
            r.certificate,
            note(r)
        ));
    }
    if book.rows.iter().any(|r| r.unverified > 0) {
        out.push_str(
            "\n⚠ *unverified*: a report that was unsigned, or whose signature was not checked \
             (no signing key given) or did not match. *invalid*: its signature was present but wrong — \
             the report was modified after grading, or signed with another key. \
             With a key, such reports do not count toward the scores above.\n",
        );
    }
    out
}

fn note(r: &Row) -> String {
    match (r.unverified, r.invalid) {
        (0, _) => String::new(),
        (u, 0) => format!("⚠ {u} unverified"),
        (u, i) => format!("⚠ {u} unverified ({i} invalid)"),
    }
}

/// A table cell: pipes escaped, line breaks flattened.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::sign;
    use serde_json::json;

    const KEY: &[u8] = b"k";

    fn track3() -> Track {
        Track::parse(
            "track.toml",
            r#"
title = "T"
pass_mark = 80
[[section]]
id = "s"
title = "S"
[[lab]]
id = "01-a"
title = "A"
section = "s"
[[lab]]
id = "02-b"
title = "B"
section = "s"
[[lab]]
id = "03-c"
title = "C"
section = "s"
"#,
        )
        .unwrap()
    }

    fn report(lab: &str, score: f64, passed: bool, learner: Option<&str>) -> Value {
        let mut r = json!({ "lab": lab, "title": "T", "score": score, "passed": passed, "pass_mark": 80.0,
            "grader_version": "0.1.0", "checks": [] });
        if let Some(l) = learner {
            r["learner"] = json!(l);
        }
        r
    }

    fn write(dir: &Path, rel: &str, v: &Value) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    }

    fn signed(mut v: Value) -> Value {
        sign(&mut v, KEY);
        v
    }

    #[test]
    fn best_of_several_attempts_and_the_track() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "ada/1.json", &report("01-a", 60.0, false, None));
        write(d.path(), "ada/2.json", &report("01-a", 90.0, true, None));
        write(d.path(), "ada/3.json", &report("01-a", 75.0, false, None));
        // An array file; one of its labs is not in the track (ignored).
        write(
            d.path(),
            "ada/more.json",
            &json!([
                report("02-b", 85.0, true, None),
                report("03-c", 80.0, true, None),
                report("99-x", 1.0, false, None)
            ]),
        );
        // The "learner" field wins over the folder; a file given directly works too.
        write(d.path(), "inbox/x.json", &report("02-b", 50.0, false, Some("bob")));
        std::fs::write(d.path().join("notes.txt"), "not a report, not json-named").unwrap();
        let book = collect(&[d.path().to_path_buf()], &track3(), None).unwrap();
        assert_eq!(book.labs, ["01-a", "02-b", "03-c"]);
        assert_eq!(book.rows.len(), 2);
        let ada = &book.rows[0];
        assert_eq!(ada.learner, "ada");
        assert_eq!(ada.best, [Some(90.0), Some(85.0), Some(80.0)]);
        assert_eq!(ada.track_score, 85.0);
        assert_eq!(ada.completed, 3);
        assert_eq!(ada.certificate, "eligible");
        assert_eq!((ada.unverified, ada.invalid), (5, 0), "without a key every track report is unverified");
        let bob = &book.rows[1];
        assert_eq!(bob.learner, "bob");
        assert_eq!(bob.best, [None, Some(50.0), None]);
        assert_eq!(bob.track_score, 16.7);
        assert_eq!((bob.completed, bob.certificate), (0, "locked"));

        let one = collect(&[d.path().join("inbox/x.json")], &track3(), None).unwrap();
        assert_eq!(one.rows.len(), 1);
        assert_eq!(one.rows[0].learner, "bob");
    }

    #[test]
    fn unverified_and_invalid_reports_are_flagged_and_not_counted() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "ada/1.json", &signed(report("01-a", 70.0, false, None)));
        write(d.path(), "ada/2.json", &report("01-a", 95.0, true, None)); // unsigned
        let mut tampered = signed(report("02-b", 40.0, false, None));
        tampered["score"] = json!(100.0);
        tampered["passed"] = json!(true);
        write(d.path(), "ada/3.json", &tampered);
        let mut other_key = report("03-c", 88.0, true, None);
        sign(&mut other_key, b"another key");
        write(d.path(), "ada/4.json", &other_key);

        let book = collect(&[d.path().to_path_buf()], &track3(), Some(KEY)).unwrap();
        let ada = &book.rows[0];
        assert_eq!(ada.best, [Some(70.0), None, None]);
        assert_eq!(ada.track_score, 23.3);
        assert_eq!(ada.completed, 0);
        assert_eq!((ada.unverified, ada.invalid), (3, 2));

        // Without a key, the same files all count (and are all unverified).
        let book = collect(&[d.path().to_path_buf()], &track3(), None).unwrap();
        assert_eq!(book.rows[0].best, [Some(95.0), Some(100.0), Some(88.0)]);
        assert_eq!((book.rows[0].unverified, book.rows[0].invalid), (4, 0));
        assert_eq!(book.rows[0].certificate, "eligible");
    }

    #[test]
    fn a_file_that_is_not_a_report_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "ada/ok.json", &report("01-a", 70.0, false, None));
        std::fs::write(d.path().join("ada/broken.json"), "{ nope").unwrap();
        let err = collect(&[d.path().to_path_buf()], &track3(), None).unwrap_err();
        assert!(matches!(err, RosterError::Json { .. }), "{err}");
        assert!(err.to_string().contains("broken.json"), "{err}");

        std::fs::write(d.path().join("ada/broken.json"), r#"{"name": "package"}"#).unwrap();
        let err = collect(&[d.path().to_path_buf()], &track3(), None).unwrap_err();
        assert!(err.to_string().contains("broken.json is not a labgrade report: \"lab\""), "{err}");

        write(
            d.path(),
            "ada/broken.json",
            &json!([report("01-a", 1.0, false, None), { "lab": "01-a", "score": 101, "passed": true }]),
        );
        let err = collect(&[d.path().to_path_buf()], &track3(), None).unwrap_err();
        assert!(err.to_string().contains("element 1: \"score\" 101 is outside 0–100"), "{err}");

        let err = collect(&[d.path().join("missing")], &track3(), None).unwrap_err();
        assert!(matches!(err, RosterError::Read { .. }), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = collect(&[empty.path().to_path_buf()], &track3(), None).unwrap_err();
        assert!(matches!(err, RosterError::Empty(_)), "{err}");
    }

    fn book() -> Gradebook {
        Gradebook {
            labs: vec!["01-a".into(), "02-b".into()],
            rows: vec![
                Row {
                    learner: "Lovelace, \"Ada\"".into(),
                    best: vec![Some(90.0), None],
                    track_score: 45.0,
                    completed: 1,
                    certificate: "locked",
                    unverified: 2,
                    invalid: 1,
                },
                Row {
                    learner: "bob|b".into(),
                    best: vec![Some(81.3), Some(100.0)],
                    track_score: 90.7,
                    completed: 2,
                    certificate: "eligible",
                    unverified: 0,
                    invalid: 0,
                },
            ],
        }
    }

    #[test]
    fn csv_quotes_as_rfc_4180_says() {
        assert_eq!(
            csv(&book()),
            "learner,01-a,02-b,track_score,completed,certificate,unverified_reports\n\
             \"Lovelace, \"\"Ada\"\"\",90.0,,45.0,1,locked,2\n\
             bob|b,81.3,100.0,90.7,2,eligible,0\n"
        );
    }

    #[test]
    fn markdown_table_marks_missing_scores_and_unverified_reports() {
        let md = markdown(&book());
        assert!(md.starts_with("2 learners, 1 eligible for the certificate.\n"), "{md}");
        let header = "| Learner | 01-a | 02-b | Track | Completed | Certificate | Note |\n";
        assert!(md.contains(&format!("{header}|---|---:|---:|---:|---:|---|---|\n")), "{md}");
        assert!(
            md.contains("| Lovelace, \"Ada\" | 90.0 | — | 45.0 | 1/2 | locked | ⚠ 2 unverified (1 invalid) |\n"),
            "{md}"
        );
        assert!(md.contains("| bob\\|b | 81.3 | 100.0 | 90.7 | 2/2 | eligible |  |\n"), "{md}");
        assert!(md.contains("signed with another key"), "{md}");
    }
}
