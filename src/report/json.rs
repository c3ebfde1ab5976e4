//! The machine-readable report: one JSON object per lab (a public contract — key names are
//! stable), written atomically to a file or to stdout when the run ends.

use crate::events::{CheckRecord, Event, LabReport, PartialRun, Reporter};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Collects every finished lab and writes them on [`Reporter::finish`].
pub struct JsonReporter {
    /// `None` = stdout.
    out: Option<PathBuf>,
    reports: Vec<Value>,
    /// The lab running now and its finished checks, for a partial report on interrupt.
    running: Option<(String, String, String)>,
    finished: Vec<Value>,
    /// After `labgrade grade`: the track's standing, which wraps the labs' reports.
    track: Option<Value>,
    /// With LABGRADE_SIGNING_KEY set, each lab's report is signed.
    key: Option<Vec<u8>>,
    /// The lab running now runs only some of its checks: `{asked, requested, added, steps}`.
    partial: Option<Value>,
}

impl JsonReporter {
    /// `out`: the file to write, or `None` for stdout.
    pub fn new(out: Option<PathBuf>) -> Self {
        JsonReporter {
            out,
            reports: Vec::new(),
            running: None,
            finished: Vec::new(),
            track: None,
            key: crate::signing::key_from_env(),
            partial: None,
        }
    }

    /// The document to write: after `grade`, `{labs: [...], track_score, completed,
    /// certificate}`; else the lab's object if exactly one lab ran, or an array.
    fn document(&self) -> Value {
        if let Some(Value::Object(track)) = &self.track {
            let mut doc = track.clone();
            doc.insert("labs".into(), Value::Array(self.reports.clone()));
            return Value::Object(doc);
        }
        match self.reports.as_slice() {
            [one] => one.clone(),
            many => Value::Array(many.to_vec()),
        }
    }
}

impl Reporter for JsonReporter {
    fn on_event(&mut self, event: &Event) {
        if let Event::TrackFinished(t) = event {
            self.track = Some(json!({
                "track": t.track.title,
                "track_score": t.score.score,
                "completed": t.score.completed,
                "labs_total": t.score.labs,
                "pass_mark": t.track.pass_mark,
                "certificate": if t.score.eligible { "eligible" } else { "locked" },
                "missing": super::status::missing(&t.track, &t.progress),
                "failed_blocking": super::status::failed_blocking(&t.track, &t.progress)
                    .into_iter()
                    .map(|(lab, check)| json!({"lab": lab, "check": check}))
                    .collect::<Vec<_>>(),
            }));
        }
        match event {
            Event::LabStarted { lab, title, target, .. } => {
                self.running = Some((lab.clone(), title.clone(), target.clone()));
                self.finished.clear();
            }
            Event::CheckFinished(rec) => self.finished.push(check_value(rec)),
            Event::Partial(p) => self.partial = Some(partial_value(p)),
            // Never signed: a partial report is not a grade.
            Event::Interrupted => {
                let partial = self.partial.take();
                if let Some((lab, title, target)) = self.running.take() {
                    let mut v = json!({
                        "lab": lab,
                        "title": title,
                        "interrupted": true,
                        "score": null,
                        "passed": false,
                        "target": target,
                        "grader_version": env!("CARGO_PKG_VERSION"),
                        "checks": std::mem::take(&mut self.finished),
                    });
                    if let Some(p) = partial {
                        v["partial"] = p;
                    }
                    self.reports.push(v);
                }
            }
            Event::LabFinished(report) => {
                self.running = None;
                let mut v = json_value(report);
                match self.partial.take() {
                    // Never signed either: some checks of the lab did not run.
                    Some(p) => v["partial"] = p,
                    None => {
                        if let Some(key) = &self.key {
                            crate::signing::sign(&mut v, key);
                        }
                    }
                }
                self.reports.push(v);
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(&self.document()).map_err(std::io::Error::other)?;
        text.push('\n');
        match &self.out {
            Some(path) => write_atomic(path, text.as_bytes()),
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
        }
    }
}

/// One lab's report as JSON (the shape documented for `--json`).
pub fn json_value(report: &LabReport) -> Value {
    let score = &report.score;
    json!({
        "lab": report.lab,
        "title": report.title,
        "score": score.score,
        "passed": score.passed,
        "pass_mark": score.pass_mark,
        "duration_ms": millis(report.duration),
        "target": report.target,
        "grader_version": env!("CARGO_PKG_VERSION"),
        "spec_sha256": report.spec_sha256,
        "seed": report.seed,
        "learner": std::env::var("LABGRADE_LEARNER").unwrap_or_default(),
        "criteria": score
            .criteria
            .iter()
            .map(|c| json!({ "id": c.id, "text": c.text, "score": c.score }))
            .collect::<Vec<_>>(),
        "failed_blocking": score.failed_blocking,
        "readiness": readiness_value(&report.readiness),
        "checks": report.checks.iter().map(check_value).collect::<Vec<_>>(),
        "steps": report.steps.iter().map(|s| json!({
            "id": s.id,
            "kind": s.kind,
            "outcome": s.outcome.verdict.as_str(),
            "message": s.outcome.message,
            "location": s.location.to_string(),
            "duration_ms": millis(s.duration),
            "evidence": serde_json::to_value(&s.outcome.evidence).unwrap_or(Value::Array(vec![])),
        })).collect::<Vec<_>>(),
    })
}

/// `null` for a lab without a summary; else `{validatedConfig: true, …}` and the details.
fn readiness_value(lines: &[crate::readiness::ReadinessLine]) -> Value {
    if lines.is_empty() {
        return Value::Null;
    }
    let flags: serde_json::Map<String, Value> = lines.iter().map(|l| (l.key.clone(), Value::Bool(l.ready))).collect();
    json!({ "summary": flags, "lines": lines })
}

/// What a partial run ran and why: `{asked, requested, added: [{id, why}], steps, of}`.
fn partial_value(p: &PartialRun) -> Value {
    json!({
        "asked": p.asked,
        "requested": p.requested,
        "added": p.added.iter().map(|(id, why)| json!({"id": id, "why": why})).collect::<Vec<_>>(),
        "steps": p.steps,
        "checks_in_lab": p.of,
    })
}

fn check_value(rec: &CheckRecord) -> Value {
    json!({
        "id": rec.id,
        "kind": rec.kind,
        "criterion": rec.criterion,
        "blocking": rec.blocking,
        "outcome": rec.outcome.verdict.as_str(),
        "message": rec.outcome.message,
        "location": rec.location.to_string(),
        "duration_ms": millis(rec.duration),
        "hint": rec.hint,
        "doc": rec.doc,
        "evidence": serde_json::to_value(&rec.outcome.evidence).unwrap_or(Value::Array(vec![])),
    })
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Write to a temporary file beside `path`, then rename it over `path`, so a reader never sees
/// a half-written report.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Evidence, Outcome};
    use crate::score::{CriterionScore, LabScore};
    use crate::spec::Location;
    use std::time::Duration;

    fn rec(id: &str, outcome: Outcome) -> CheckRecord {
        CheckRecord {
            id: id.into(),
            kind: "http".into(),
            criterion: "runtime".into(),
            blocking: id == "b",
            hint: "look again".into(),
            doc: "labs/01/README.md#x".into(),
            location: Location { file: "01-runtime/lab.toml".into(), line: 12, col: 1 },
            outcome,
            duration: Duration::from_millis(12),
        }
    }

    fn report() -> LabReport {
        LabReport {
            lab: "01-runtime".into(),
            title: "Node Runtime".into(),
            score: LabScore {
                score: 25.0,
                passed: false,
                pass_mark: 80.0,
                criteria: vec![CriterionScore {
                    id: "runtime".into(),
                    text: "The runtime model".into(),
                    score: 25.0,
                    passed_checks: 1,
                    checks: 4,
                }],
                failed_blocking: vec!["b".into()],
            },
            steps: vec![],
            checks: vec![
                rec("a", Outcome::pass("ok")),
                rec("b", Outcome::fail("bad").with(Evidence::Curl { line: "curl -sS http://x/".into() })),
                rec("c", Outcome::error("no")),
                rec("d", Outcome::skipped("later")),
            ],
            duration: Duration::from_millis(3200),
            target: "http://127.0.0.1:3000".into(),
            spec_sha256: String::new(),
            readiness: Vec::new(),
            seed: 42,
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn lab_object_has_the_documented_keys() {
        let v = json_value(&report());
        assert_eq!(
            keys(&v),
            [
                "checks",
                "criteria",
                "duration_ms",
                "failed_blocking",
                "grader_version",
                "lab",
                "learner",
                "pass_mark",
                "passed",
                "readiness",
                "score",
                "seed",
                "spec_sha256",
                "steps",
                "target",
                "title"
            ]
        );
        assert_eq!(v["lab"], "01-runtime");
        assert_eq!(v["score"], 25.0);
        assert_eq!(v["passed"], false);
        assert_eq!(v["pass_mark"], 80.0);
        assert_eq!(v["duration_ms"], 3200);
        assert_eq!(v["grader_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["failed_blocking"], json!(["b"]));
        assert_eq!(keys(&v["criteria"][0]), ["id", "score", "text"]);
        assert_eq!(v["criteria"][0]["score"], 25.0);
    }

    #[test]
    fn check_objects_have_the_documented_keys_and_outcomes() {
        let v = json_value(&report());
        let checks = v["checks"].as_array().unwrap();
        for c in checks {
            assert_eq!(
                keys(c),
                [
                    "blocking",
                    "criterion",
                    "doc",
                    "duration_ms",
                    "evidence",
                    "hint",
                    "id",
                    "kind",
                    "location",
                    "message",
                    "outcome"
                ]
            );
        }
        let outcomes: Vec<&str> = checks.iter().map(|c| c["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["pass", "fail", "error", "skipped"]);
        assert_eq!(checks[1]["location"], "01-runtime/lab.toml:12:1");
        assert_eq!(checks[1]["duration_ms"], 12);
        assert_eq!(checks[1]["blocking"], true);
        assert_eq!(checks[1]["evidence"], json!([{ "type": "curl", "line": "curl -sS http://x/" }]));
        assert_eq!(checks[0]["evidence"], json!([]));
    }

    #[test]
    fn one_lab_is_an_object_several_are_an_array() {
        let mut r = JsonReporter::new(None);
        r.on_event(&Event::LabFinished(Box::new(report())));
        assert!(r.document().is_object());
        r.on_event(&Event::LabFinished(Box::new(report())));
        assert_eq!(r.document().as_array().unwrap().len(), 2);
        assert_eq!(JsonReporter::new(None).document(), json!([]));
    }

    #[test]
    fn writes_the_file_atomically() {
        let dir = std::env::temp_dir().join(format!("labgrade-json-test-{}", std::process::id()));
        let path = dir.join("out").join("report.json");
        let mut r = JsonReporter::new(Some(path.clone()));
        r.on_event(&Event::LabFinished(Box::new(report())));
        r.finish().unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["lab"], "01-runtime");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
