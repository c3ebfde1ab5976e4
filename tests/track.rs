//! The whole track: `labgrade grade` runs every lab and gates the certificate, `status`
//! shows the course page from the progress store that grading fills.

mod common;

use common::*;

/// `labgrade grade` on a copy of the reference (so its progress store is the test's own).
fn grade_track(faults: &str) -> (tempfile::TempDir, Run) {
    ensure_fixture_installed();
    let repo = repo_copy_changed(&[], &Default::default());
    let port = free_port();
    let _guard = serial();
    let mut cmd = labgrade();
    cmd.args(["grade", "--format", "json", "-c"])
        .arg(repo.path().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string())
        .env("FIXTURE_FAULTS", faults)
        .env("NO_COLOR", "1");
    let run = run(&mut cmd);
    let left = processes_with_env(&format!("LEDGER_PORT={port}"));
    assert!(left.is_empty(), "processes left behind after grade: {left:?}");
    (repo, run)
}

fn status(repo: &std::path::Path) -> Run {
    let mut cmd = labgrade();
    cmd.args(["status", "-c"]).arg(repo.join("labgrade.toml")).env("NO_COLOR", "1");
    run(&mut cmd)
}

#[test]
fn the_reference_completes_the_track_and_status_agrees() {
    let (repo, run) = grade_track("");
    let doc = run.json();
    let labs = doc["labs"].as_array().expect("labs");
    // Every check of every lab, with what it said when it did not pass.
    let not_passed: Vec<String> =
        labs.iter()
            .flat_map(|l| {
                l["checks"].as_array().unwrap().iter().filter(|c| c["outcome"] != "pass").map(move |c| {
                    format!("{}/{}: {}", l["lab"].as_str().unwrap(), c["id"].as_str().unwrap(), c["message"])
                })
            })
            .collect();
    assert_eq!(not_passed, Vec::<String>::new(), "stderr: {}", run.stderr);
    assert_eq!(labs.len(), 10);
    assert_eq!(doc["completed"], 10);
    assert_eq!(doc["track_score"], 100.0);
    assert_eq!(doc["certificate"], "eligible");
    assert_eq!(run.code, 0);

    let store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join(".labgrade/progress.json")).unwrap()).unwrap();
    let attempts = store["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 10);
    assert!(attempts.iter().all(|a| a["spec_sha256"].as_str().unwrap().len() == 64 && a["passed"] == true));

    let s = status(repo.path());
    assert_eq!(s.code, 0, "{}", s.stdout);
    assert!(s.stdout.contains("Certificate Lane"), "{}", s.stdout);
    assert!(s.stdout.contains("Lessons done 10/10 · 100% complete"), "{}", s.stdout);
    assert!(s.stdout.contains("track score 100.0 / 100 · certificate ELIGIBLE"), "{}", s.stdout);
}

/// Serious faults that each cost only a few points: a token signed with any key accepted,
/// bad configuration taken, money as floats, a stale validator, a provider error passed on
/// as 500, a double count, wrong checksums. Each breaks a blocking check, so the labs fail,
/// the capstone fails, and the certificate stays locked — naming every one of them.
#[test]
fn serious_faults_lock_the_certificate_and_are_named() {
    let faults = "signature-unchecked,no-config-check,float-money,stale-etag,upstream-500-as-500,counter-double,checksum-wrong-salt";
    let (repo, run) = grade_track(faults);
    let doc = run.json();
    assert_eq!(doc["certificate"], "locked", "{}", doc["missing"]);
    assert_eq!(run.code, 1);
    let failed: Vec<String> = doc["failed_blocking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}/{}", f["lab"].as_str().unwrap(), f["check"].as_str().unwrap()))
        .collect();
    for want in [
        "01-runtime/checksum-values",
        "03-config-validation/refuses-without-database-url",
        "04-persistence/amount-cents-integer",
        "06-auth/wrong-signature-401",
        "07-async/etag-changes",
        "08-observability/upstream-500-502",
        "09-monitoring/requests-counted-exactly",
        "10-capstone/06-auth/wrong-signature-401",
        "10-capstone/04-persistence/amount-cents-integer",
    ] {
        assert!(failed.iter().any(|f| f == want), "{want} not among the failed blocking checks: {failed:?}");
    }
    let missing: Vec<&str> = doc["missing"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(
        missing.iter().any(|m| m.starts_with("06 ") && m.contains("blocking check(s) failed: wrong-signature-401")),
        "{missing:?}"
    );
    // Labs 02 and 05 have nothing broken and still pass.
    let labs = doc["labs"].as_array().unwrap();
    let passed = |id: &str| labs.iter().find(|l| l["lab"] == id).unwrap()["passed"] == true;
    assert!(passed("02-http-contracts") && passed("05-indexing"));
    assert!(!passed("10-capstone"));

    let s = status(repo.path());
    assert_eq!(s.code, 1);
    assert!(s.stdout.contains("certificate LOCKED"), "{}", s.stdout);
    assert!(s.stdout.contains("blocking check(s) failed: wrong-signature-401"), "{}", s.stdout);
    assert!(s.stdout.contains("✗ 01"), "{}", s.stdout);
}

/// The README's promise that any language passes if it honours the contract, held against
/// a Ledger written in Python from the lab READMEs alone (`fixtures/reference-python`,
/// VALIDITY.md): the whole track, certificate eligible.
#[test]
fn the_python_ledger_written_from_the_readmes_earns_the_certificate() {
    let dir = root().join("fixtures/reference-python");
    let st = std::process::Command::new("sh").arg(dir.join("install.sh")).status().expect("sh runs");
    assert!(st.success(), "fixtures/reference-python/install.sh failed (python3 -m venv and PyPI needed)");
    let port = free_port();
    let _guard = serial();
    let mut cmd = labgrade();
    cmd.args(["grade", "--no-record", "--format", "json", "-c"])
        .arg(dir.join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string())
        .env("NO_COLOR", "1");
    let run = run(&mut cmd);
    let left = processes_with_env(&format!("LEDGER_PORT={port}"));
    assert!(left.is_empty(), "processes left behind after grading the Python Ledger: {left:?}");
    let doc = run.json();
    let not_passed: Vec<String> =
        doc["labs"]
            .as_array()
            .expect("labs")
            .iter()
            .flat_map(|l| {
                l["checks"].as_array().unwrap().iter().filter(|c| c["outcome"] != "pass").map(move |c| {
                    format!("{}/{}: {}", l["lab"].as_str().unwrap(), c["id"].as_str().unwrap(), c["message"])
                })
            })
            .collect();
    assert_eq!(not_passed, Vec::<String>::new(), "stderr: {}", run.stderr);
    assert_eq!(doc["certificate"], "eligible");
    assert_eq!(run.code, 0);
}

#[test]
fn status_without_attempts_is_all_pending_and_a_corrupt_store_is_kept_aside() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("labgrade.toml"),
        "[service]\nstart = \"true\"\nbase_url = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let s = status(repo.path());
    assert_eq!(s.code, 1);
    assert!(s.stdout.contains("Lessons done 0/10 · 0% complete · next up: 01 "), "{}", s.stdout);
    assert_eq!(s.stdout.matches("Pending").count(), 10, "{}", s.stdout);

    std::fs::create_dir(repo.path().join(".labgrade")).unwrap();
    std::fs::write(repo.path().join(".labgrade/progress.json"), "{\"version\": 1, \"attempts\": [").unwrap();
    let s = status(repo.path());
    assert!(s.stderr.contains("could not be read"), "{}", s.stderr);
    let kept: Vec<_> = std::fs::read_dir(repo.path().join(".labgrade"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("progress.json.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1, "the damaged file is kept, not deleted");
}
