//! Reports for CI: JUnit XML that a schema validator accepts, and GitHub annotations that
//! point at the learner's real files and lines, from real runs against the reference.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

fn xmllint(xml: &Path) -> std::process::Output {
    let schema = root().join("tests/fixtures/junit.xsd");
    std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(xml)
        .output()
        .expect("xmllint is needed for this test: apt-get install libxml2-utils (.ci/run installs it)")
}

/// One run writes three formats: the terminal report, JUnit XML and JSON; the XML is valid
/// against the JUnit schema and agrees with the JSON check by check.
#[test]
fn junit_report_validates_and_agrees_with_the_json() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let (xml, json) = (dir.path().join("junit.xml"), dir.path().join("report.json"));
    let junit_arg = format!("junit={}", xml.display());
    let json_arg = format!("json={}", json.display());
    let run = grade(
        "02",
        "no-405,error-shape-drift",
        &fixture(),
        &["--format", "human", "--format", "junit", "-o", &junit_arg, "-o", &json_arg],
    );
    assert!(run.stdout.contains("score "), "the terminal report still goes to stdout:\n{}", run.stdout);
    let out = xmllint(&xml);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(run.code, if report["passed"] == true { 0 } else { 1 }, "{}", run.stderr);
    let text = std::fs::read_to_string(&xml).unwrap();
    let failed = not_passed(&report);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(text.contains(&format!("failures=\"{}\"", failed.len())), "{text}");
    for id in &failed {
        let at = text.find(&format!("<testcase name=\"{id}\"")).unwrap_or_else(|| panic!("{id} missing:\n{text}"));
        let case = &text[at..at + text[at..].find("</testcase>").unwrap()];
        assert!(case.contains("<failure message="), "{case}");
        assert!(case.contains("defined at: labs/02-http-contracts/lab.toml:"), "{case}");
    }

    // The schema is not a formality: a testcase without its classname does not validate.
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, text.replacen(" classname=\"02-http-contracts\"", "", 1)).unwrap();
    assert!(!xmllint(&broken).status.success(), "the schema accepted a testcase without classname");
}

/// Broken learner files get annotations at their real line, and the job summary gets the
/// score table.
#[test]
fn github_annotations_point_at_the_learners_files() {
    let _guard = serial();
    ensure_fixture_installed();
    let write: BTreeMap<String, String> = [
        ("slo.toml".to_string(), "fault-files/slo-too-loose.toml".to_string()),
        ("alerts.yaml".to_string(), "fault-files/alerts-unknown-metric.yaml".to_string()),
    ]
    .into();
    let repo = repo_copy_changed(&[], &write);
    let summary = repo.path().join("summary.md");
    let run = run(labgrade()
        .args(["check", "09", "--format", "github", "-c"])
        .arg(repo.path().join("labgrade.toml"))
        .env("LEDGER_PORT", free_port().to_string())
        .env("FIXTURE_FAULTS", "")
        .env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let annotations: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("::")).collect();
    let find = |check: &str| {
        *annotations
            .iter()
            .find(|a| a.contains(&format!("title=09-monitoring/{check}")))
            .unwrap_or_else(|| panic!("no annotation for {check}: {annotations:?}"))
    };
    // file=…,line=…: the line must be a real line of that file, and the one at fault.
    let line_of = |a: &str, file: &str| -> String {
        assert!(a.starts_with("::error file="), "{a}");
        let props = a.split("::").nth(1).unwrap().trim_start_matches("error ");
        let get = |k: &str| props.split(',').find_map(|p| p.strip_prefix(&format!("{k}="))).unwrap().to_string();
        assert_eq!(get("file"), file, "{a}");
        let n: usize = get("line").parse().unwrap();
        std::fs::read_to_string(repo.path().join(file)).unwrap().lines().nth(n - 1).unwrap().to_string()
    };
    let slo = line_of(find("slo-file"), "slo.toml");
    assert!(slo.starts_with("availability_percent") || slo.starts_with("p95_latency_ms"), "{slo}");
    let alert = line_of(find("alert-rules"), "alerts.yaml");
    assert!(alert.contains("alert:"), "{alert}");
    assert!(find("slo-under-load").contains("line="), "the slo check points at slo.toml too");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("## 09-monitoring"), "{md}");
    assert!(md.contains("| `alert-rules` | ❌ fail |"), "{md}");
    assert!(md.contains("| `metrics-exposed` | ✅ pass |"), "{md}");
}

/// A report graded with LABGRADE_SIGNING_KEY verifies; the same report edited by hand (a
/// better score, a failed check turned into a pass) does not, and neither does another key.
#[test]
fn signed_reports_verify_and_edited_ones_do_not() {
    let _guard = serial();
    ensure_fixture_installed();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let graded = run(labgrade()
        .args(["check", "02", "--format", "json", "-o"])
        .arg(&report)
        .arg("-c")
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_PORT", free_port().to_string())
        .env("FIXTURE_FAULTS", "no-405")
        .env("LABGRADE_LEARNER", "ada")
        .env("LABGRADE_SIGNING_KEY", "class-key-2026"));
    assert!(graded.code <= 1, "{}", graded.stderr);
    let verify =
        |file: &Path, key: &str| run(labgrade().arg("verify-report").arg(file).env("LABGRADE_SIGNING_KEY", key));
    let ok = verify(&report, "class-key-2026");
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("genuine"), "{}", ok.stdout);

    let text = std::fs::read_to_string(&report).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["learner"], "ada");
    assert_eq!(v["spec_sha256"].as_str().unwrap().len(), 64);
    // Re-serializing the same content (other whitespace, other key order) is not an edit.
    let reformatted = dir.path().join("reformatted.json");
    std::fs::write(&reformatted, serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!(verify(&reformatted, "class-key-2026").code, 0);

    let failed = v["checks"].as_array_mut().unwrap().iter_mut().find(|c| c["outcome"] == "fail").unwrap();
    failed["outcome"] = "pass".into();
    v["score"] = 100.0.into();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let bad = verify(&edited, "class-key-2026");
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(bad.stdout.contains("NOT genuine"), "{}", bad.stdout);
    assert_eq!(verify(&report, "another-key").code, 1);
    let no_key = run(labgrade().arg("verify-report").arg(&report).env_remove("LABGRADE_SIGNING_KEY"));
    assert_eq!(no_key.code, 2, "{}", no_key.stderr);

    // The gradebook counts the genuine reports and flags the edited one.
    let csv = dir.path().join("book.csv");
    let book = run(labgrade()
        .arg("roster")
        .arg(dir.path())
        .arg("--csv")
        .arg(&csv)
        .env("LABGRADE_SIGNING_KEY", "class-key-2026"));
    assert_eq!(book.code, 0, "{}", book.stderr);
    let text = std::fs::read_to_string(&csv).unwrap();
    let row = text.lines().find(|l| l.starts_with("ada,")).unwrap_or_else(|| panic!("{text}"));
    let score = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&report).unwrap()).unwrap()["score"]
        .as_f64()
        .unwrap();
    assert!(row.contains(&format!(",{score:.1},")), "the genuine score, not the edited 100: {row}");
    assert!(row.ends_with(",1"), "one unverified report: {row}");
}
