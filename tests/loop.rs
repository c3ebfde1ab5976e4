//! The learner's inner loop: partial runs (`--only`, `--failed`), `watch`, `doctor`, `-o`
//! with one file format, and a course page that marks a best attempt graded under a spec
//! that has changed since — the real binary against the real reference service.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array().expect("an array").iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

fn check_in(repo: &Path, port: u16, faults: &str, args: &[&str]) -> Run {
    ensure_fixture_installed();
    let mut cmd = labgrade();
    cmd.arg("check").args(args).arg("-c").arg(repo.join("labgrade.toml"));
    cmd.env("LEDGER_PORT", port.to_string()).env("FIXTURE_FAULTS", faults).env("NO_COLOR", "1");
    run(&mut cmd)
}

/// `--only` runs the checks asked for, the earlier checks whose captures they use, and the
/// steps that hold them back: nothing else. Lab 06's write check is lab 05's plan check in
/// small: seeds first (one row each instead of a million), then the one check.
#[test]
fn only_runs_the_checks_asked_for_with_what_they_need() {
    let _guard = serial();
    let fixture = fixture();
    let r = check_in(&fixture, free_port(), "", &["02", "--only", "invoice-get", "--format", "json", "--no-record"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(ids(&report["checks"]), ["customer-create", "invoice-create", "invoice-get"]);
    assert_eq!(report["partial"]["requested"], serde_json::json!(["invoice-get"]));
    let added = ids(&report["partial"]["added"]);
    assert_eq!(added, ["customer-create", "invoice-create"]);
    assert!(report.get("signature").is_none(), "a partial report is never signed");

    let r = check_in(
        &fixture,
        free_port(),
        "",
        &["06", "--only", "tenant-isolation-write-404", "--format", "json", "--no-record"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(ids(&report["checks"]), ["tenant-isolation-write-404"]);
    assert_eq!(
        ids(&report["steps"]),
        ["seed-customer", "seed-invoice", "seed-doomed-invoice", "seed-tenant-a-draft"],
        "the seeds before it, none after"
    );

    // The human report says what it added and why.
    let r = check_in(&fixture, free_port(), "", &["02", "--only", "invoice-get", "--no-record"]);
    assert!(r.stdout.contains("partial run (--only invoice-get): 3 of 8 checks"), "{}", r.stdout);
    assert!(
        r.stdout.contains("+ invoice-create also runs: it captures {{invoice_id}}, which invoice-get uses"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("not a grade: `labgrade check 02` grades the whole lab"), "{}", r.stdout);
}

#[test]
fn an_unknown_check_id_is_a_usage_mistake_with_a_suggestion() {
    let r = check_in(&fixture(), free_port(), "", &["05", "--only", "hot-qeury-index"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("has no check \"hot-qeury-index\"; did you mean \"hot-query-index\"?"), "{}", r.stderr);
    let r = check_in(&fixture(), free_port(), "", &["05", "--only", "seed-invoices"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is a step of lab 05-indexing, not a check"), "{}", r.stderr);
}

/// `--failed` re-runs what did not pass last time; its runs are recorded as partial and
/// never count; a changed lab spec marks the best attempt on the course page.
#[test]
fn failed_reruns_what_did_not_pass_and_never_counts_as_an_attempt() {
    let _guard = serial();
    let repo = repo_copy_without(&[]);
    let labs = tempfile::tempdir().unwrap();
    copy_labs(labs.path());
    let labs_arg = |cmd: &mut Command| {
        cmd.arg("--labs").arg(labs.path());
    };
    let check = |faults: &str, args: &[&str]| {
        ensure_fixture_installed();
        let mut cmd = labgrade();
        labs_arg(&mut cmd);
        cmd.arg("check").arg("02").args(args).arg("-c").arg(repo.path().join("labgrade.toml"));
        cmd.env("LEDGER_PORT", free_port().to_string()).env("FIXTURE_FAULTS", faults).env("NO_COLOR", "1");
        run(&mut cmd)
    };
    let status = || {
        let mut cmd = labgrade();
        labs_arg(&mut cmd);
        run(cmd.arg("status").arg("-c").arg(repo.path().join("labgrade.toml")).env("NO_COLOR", "1"))
    };
    let store = repo.path().join(".labgrade/progress.json");

    let r = check("", &["--failed"]);
    assert_eq!(r.code, 2, "nothing recorded yet: {}", r.stderr);
    assert!(r.stderr.contains("no attempt of lab 02-http-contracts is recorded yet"), "{}", r.stderr);

    let r = check("invoice-field-renamed", &["--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(not_passed(&r.json()), ["invoice-create", "invoice-get"]);

    let r = check("invoice-field-renamed", &["--failed", "--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(ids(&r.json()["checks"]), ["customer-create", "invoice-create", "invoice-get"]);

    // Fixed: the failing ones pass now, and a second --failed has nothing to do.
    let r = check("", &["--failed", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(not_passed(&r.json()).is_empty());
    let r = check("", &["--failed"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("nothing to re-run"), "{}", r.stderr);

    let progress: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    let attempts = progress["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(attempts[0].get("partial").is_none());
    for a in &attempts[1..] {
        assert_eq!(a["partial"], true, "{a}");
        assert_eq!((a["score"].as_f64(), &a["passed"]), (Some(0.0), &serde_json::json!(false)), "{a}");
    }
    // The passing partial runs do not make the lab passed: the whole run is the attempt.
    let page = status();
    let line = page.stdout.lines().find(|l| l.contains(" 02  ")).unwrap().to_string();
    assert!(line.contains("Failed (77.8)") && !line.contains("↻"), "{}", page.stdout);

    // The lab spec changes: the best attempt was graded under other rules.
    let spec = labs.path().join("02-http-contracts/lab.toml");
    let mut text = std::fs::read_to_string(&spec).unwrap();
    text.push_str("\n# a later revision\n");
    std::fs::write(&spec, text).unwrap();
    let page = status();
    let line = page.stdout.lines().find(|l| l.contains(" 02  ")).unwrap().to_string();
    assert!(
        line.contains("Failed (77.8)  ↻ the lab spec changed since this was graded; re-grade: labgrade check 02"),
        "{}",
        page.stdout
    );
}

fn copy_labs(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let dst = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dst);
            } else {
                std::fs::copy(e.path(), dst).unwrap();
            }
        }
    }
    copy(&root().join("labs"), to);
}

/// `-o FILE` with one file format selected writes that format; an ambiguous one is refused.
#[test]
fn output_file_takes_the_one_format_selected() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("report.xml");
    let r =
        check_in(&fixture(), free_port(), "", &["02", "--no-record", "--format", "junit", "-o", xml.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.starts_with("<?xml") && text.contains("<testsuite name=\"02-http-contracts\""), "{text}");
    assert!(!r.stdout.contains("\"checks\""), "no JSON on stdout: {}", r.stdout);

    let r = check_in(&fixture(), free_port(), "", &["02", "--format", "human,json,junit", "-o", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("-o x is ambiguous") && r.stderr.contains("-o json=x or -o junit=x"), "{}", r.stderr);
}

/// A taken port, a missing document and a database that does not answer: each is a ✗ with
/// its fix; a ready repo is all ✓ (the service started and stopped as `check` does it).
#[test]
fn doctor_names_each_problem_with_its_fix() {
    let _guard = serial();
    ensure_fixture_installed();
    let port = free_port();
    let r = run(labgrade()
        .args(["doctor", "01", "-c"])
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string()));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for line in ["✓ config", "✓ start", "✓ runtime   node: v", "✓ port", "✓ database", "✓ artifact", "✓ service"]
    {
        assert!(r.stdout.contains(line), "{line}:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("ready to grade"), "{}", r.stdout);
    assert!(processes_with_env(&format!("LEDGER_PORT={port}")).is_empty(), "the service was stopped");

    let repo = repo_copy_without(&["BOUNDARY.md".to_string()]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().port();
    let r = run(labgrade()
        .args(["doctor", "01", "--format", "json", "-c"])
        .arg(repo.path().join("labgrade.toml"))
        .env("LEDGER_PORT", taken.to_string())
        .env("LEDGER_DATABASE_URL", "postgres://postgres@127.0.0.1:1/test"));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], false);
    let finding = |check: &str, status: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check && f["status"] == status)
            .unwrap_or_else(|| panic!("no {status} {check} in {v}"))
            .clone()
    };
    let port = finding("port", "fail");
    assert!(port["message"].as_str().unwrap().contains(&format!("127.0.0.1:{taken}")), "{port}");
    assert!(port["fix"].as_str().unwrap().contains(&format!("ss -ltnp 'sport = :{taken}'")), "{port}");
    let artifact = finding("artifact", "fail");
    assert!(artifact["message"].as_str().unwrap().starts_with("BOUNDARY.md is missing"), "{artifact}");
    assert!(artifact["fix"].as_str().unwrap().contains("labgrade lab 01"), "{artifact}");
    let db = finding("database", "fail");
    assert!(db["message"].as_str().unwrap().contains("127.0.0.1:1"), "{db}");
    assert!(db["fix"].as_str().unwrap().contains("[database] url"), "{db}");
    assert_eq!(finding("service", "skip")["message"], "not started: its port is taken (see above)");
    drop(listener);
}

/// `watch` grades, grades again when a source file changes (and says what got fixed), not
/// when an ignored one does, and Ctrl-C leaves no process behind.
#[test]
fn watch_regrades_on_a_change_and_leaves_nothing_on_ctrl_c() {
    let _guard = serial();
    ensure_fixture_installed();
    let repo = repo_copy_without(&[]);
    std::fs::write(repo.path().join(".gitignore"), "node_modules\n*.log\n").unwrap();
    let labs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(labs.path().join("01-runtime")).unwrap();
    std::fs::copy(root().join("labs/track.toml"), labs.path().join("track.toml")).unwrap();
    std::fs::write(
        labs.path().join("01-runtime/lab.toml"),
        r#"id = "01-runtime"
title = "Watched"
[[criterion]]
id = "c"
text = "C"
[[check]]
id = "healthz"
kind = "http"
criterion = "c"
hint = "h"
doc = "README.md"
request = { path = "/healthz" }
expect = { status = 200 }
[[check]]
id = "notes-doc"
kind = "doc"
criterion = "c"
hint = "write NOTES.md"
doc = "README.md"
file = "NOTES.md"
sections = [{ heading = "Notes" }]
"#,
    )
    .unwrap();
    let port = free_port();
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = labgrade()
        .arg("--labs")
        .arg(labs.path())
        .args(["watch", "1", "--no-record", "--debounce-ms", "100", "-c"])
        .arg(repo.path().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string())
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(out.reopen().unwrap()))
        .stderr(Stdio::from(err.reopen().unwrap()))
        .spawn()
        .unwrap();
    let text = |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap();
    let waits = || text(&err).matches("waiting for changes").count();
    let wait_for = |n: usize| {
        let t = Instant::now();
        while waits() < n {
            assert!(t.elapsed() < Duration::from_secs(30), "run {n} did not end:\n{}\n{}", text(&out), text(&err));
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(1);
    assert!(text(&out).contains("✗ notes-doc"), "{}", text(&out));
    // An ignored file changes: nothing runs.
    std::fs::write(repo.path().join("server.log"), "noise").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(waits(), 1, "an ignored file started a run:\n{}", text(&out));
    std::fs::write(repo.path().join("NOTES.md"), "# Notes\n\nWhat the service does.\n").unwrap();
    wait_for(2);
    let o = text(&out);
    assert!(o.contains("── run 2 · changed: NOTES.md ──"), "{o}");
    assert!(o.contains("since the last run: 1 fixed, 0 still failing, 0 newly failing\n  fixed: notes-doc"), "{o}");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "watch did not exit after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "{}", text(&err));
    assert!(text(&err).contains("nothing is left running"), "{}", text(&err));
    std::thread::sleep(Duration::from_millis(100));
    assert!(processes_with_env(&format!("LEDGER_PORT={port}")).is_empty());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the port still answers");
}
