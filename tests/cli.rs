//! The binary's contract outside of grading proper: listing, errors that point at the
//! file:line:col, exit codes, and a machine left clean on every way out.

mod common;

use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn labs_lists_all_ten_with_their_checks() {
    let r = run(labgrade().arg("labs"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for id in ["01-runtime", "02-http-contracts", "03-config-validation", "10-capstone"] {
        assert!(r.stdout.contains(id), "{id} missing:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("Runtime and Service Contracts"));
    assert!(r.stdout.lines().any(|l| l.contains("01-runtime") && l.contains("7 checks")), "{}", r.stdout);
    // The capstone counts the checks it includes from the other labs.
    assert!(r.stdout.lines().any(|l| l.contains("10-capstone") && l.contains("75 checks")), "{}", r.stdout);
    assert!(!r.stdout.contains("not written yet"), "{}", r.stdout);
}

#[test]
fn unknown_lab_and_unwritten_lab_are_usage_errors() {
    let r = run(labgrade().args(["check", "42", "-c", "nowhere.toml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no lab \"42\""), "{}", r.stderr);
    // A track that lists a lab whose spec is not written yet.
    let labs = tempfile::tempdir().unwrap();
    std::fs::write(
        labs.path().join("track.toml"),
        "title = \"T\"\npass_mark = 80\n[[section]]\nid = \"s\"\ntitle = \"S\"\n[[lab]]\nid = \"01-later\"\ntitle = \"Later\"\nsection = \"s\"\n",
    )
    .unwrap();
    let r = run(labgrade().arg("--labs").arg(labs.path()).args(["check", "1", "-c", "nowhere.toml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not written yet"), "{}", r.stderr);
    let r = run(labgrade().arg("--labs").arg(labs.path()).arg("labs"));
    assert!(r.stdout.lines().any(|l| l.contains("01-later") && l.contains("not written yet")), "{}", r.stdout);
}

#[test]
fn missing_config_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(labgrade().args(["check", "1"]).current_dir(dir.path()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("labgrade init"), "{}", r.stderr);
}

#[test]
fn init_writes_a_config_that_loads_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(labgrade().arg("init").current_dir(dir.path())).code, 0);
    let text = std::fs::read_to_string(dir.path().join("labgrade.toml")).unwrap();
    assert!(text.contains("[service]") && text.contains("# "));
    let r = run(labgrade().arg("init").current_dir(dir.path()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--force"));
    // The written config is valid: `token` loads it.
    let r = run(labgrade().args(["token"]).current_dir(dir.path()).env("JWT_SECRET", "x"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim().split('.').count(), 3);
}

#[test]
fn config_mistake_is_reported_at_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labgrade.toml");
    std::fs::write(
        &path,
        "[service]\nstart = \"node x.js\"\nbase_url = \"http://127.0.0.1:3000\"\nready_timeout_secs = \"ten\"\n",
    )
    .unwrap();
    let r = run(labgrade().args(["check", "1", "-c"]).arg(&path));
    assert_eq!(r.code, 2);
    let expected = format!("{}:4:22", path.display());
    assert!(r.stderr.contains(&expected), "expected {expected} in:\n{}", r.stderr);
    assert!(r.stderr.contains("integer"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn spec_mistake_is_reported_at_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let labs = dir.path().join("labs");
    std::fs::create_dir_all(labs.join("01-runtime")).unwrap();
    std::fs::copy(root().join("labs/track.toml"), labs.join("track.toml")).unwrap();
    let good = std::fs::read_to_string(root().join("labs/01-runtime/lab.toml")).unwrap();
    let bad = good.replacen(
        "request = { method = \"GET\", path = \"/healthz\" }",
        "requets = { method = \"GET\", path = \"/healthz\" }",
        1,
    );
    assert_ne!(good, bad);
    std::fs::write(labs.join("01-runtime/lab.toml"), &bad).unwrap();
    let line = bad.lines().position(|l| l.starts_with("requets")).unwrap() + 1;
    let r = run(labgrade().arg("--labs").arg(&labs).args(["check", "1", "-c", "nowhere.toml"]));
    assert_eq!(r.code, 2);
    let expected = format!("01-runtime/lab.toml:{line}:1");
    assert!(r.stderr.contains(&expected), "expected {expected} in:\n{}", r.stderr);
    assert!(r.stderr.contains("unknown field `requets`"), "{}", r.stderr);

    let bad_kind = good.replacen("kind = \"load_probe\"", "kind = \"load-probe\"", 1);
    std::fs::write(labs.join("01-runtime/lab.toml"), &bad_kind).unwrap();
    let r = run(labgrade().arg("--labs").arg(&labs).args(["check", "1", "-c", "nowhere.toml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown check kind \"load-probe\"; expected one of: http, load_probe"), "{}", r.stderr);
}

#[test]
fn remote_targets_are_refused_without_allow_remote() {
    let r = run(labgrade()
        .args(["check", "1", "--url", "http://192.0.2.1:3000", "-c"])
        .arg(fixture().join("labgrade.toml")));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a loopback address") && r.stderr.contains("--allow-remote"), "{}", r.stderr);
}

#[test]
fn a_host_name_is_judged_by_what_it_resolves_to() {
    // A name is resolved first: one that resolves nowhere is refused, not tried.
    let r = run(labgrade()
        .args(["check", "1", "--url", "http://labgrade-test.invalid:3000", "-c"])
        .arg(fixture().join("labgrade.toml")));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot resolve labgrade-test.invalid"), "{}", r.stderr);
}

#[test]
fn a_port_already_taken_is_refused_before_anything_starts() {
    let _guard = serial();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = run(labgrade()
        .args(["check", "1", "-c"])
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("something else is already listening"), "{}", r.stderr);
    assert!(processes_with_env(&format!("LEDGER_PORT={port}")).is_empty());
}

#[test]
fn json_report_has_the_documented_shape() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    ensure_fixture_installed();
    let port = free_port();
    let r = run(labgrade()
        .args(["check", "02", "--format", "human", "--format", "json", "-o"])
        .arg(&out)
        .arg("-c")
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string()));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PASSED"), "human report on stdout:\n{}", r.stdout);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for key in ["lab", "title", "score", "passed", "pass_mark", "criteria", "checks"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["lab"], "02-http-contracts");
    let c = &v["checks"][0];
    for key in ["id", "kind", "criterion", "outcome", "message", "location", "duration_ms"] {
        assert!(c.get(key).is_some(), "check missing {key}: {c}");
    }
    assert!(c["location"].as_str().unwrap().contains("lab.toml:"), "{}", c["location"]);
    assert_eq!(v["criteria"][0].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["id", "text", "score"]);
    // Secrets never reach a report.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("reference-secret-not-for-production") && !text.contains("eyJ"),
        "secret or token in report"
    );
}

#[test]
fn url_mode_grades_a_running_service_without_starting_or_stopping_it() {
    let _guard = serial();
    ensure_fixture_installed();
    let port = free_port();
    let mut svc = reference_on(port, "postgres://postgres@127.0.0.1:5432/test");
    let url = format!("http://127.0.0.1:{port}");
    wait_port(port);
    let r = run(labgrade()
        .args(["check", "2", "--url", &url, "--format", "json", "-c"])
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_JWT_SECRET", "url-mode-secret"));
    let still_running = svc.try_wait().unwrap().is_none();
    let _ = svc.kill();
    let _ = svc.wait();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(still_running, "--url must not stop the service");
}

/// A failing role matrix prints curl lines for its wrong cells, and token-attack checks mint
/// bad tokens with the learner's secret: none of the secret or any token reaches a report.
#[test]
fn auth_reports_carry_no_secret_and_no_token() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let out_s = out.to_str().unwrap();
    let run = grade("06", "viewer-can-pay,alg-none-accepted", &fixture(), &["--format", "human", "-o", out_s]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = std::fs::read_to_string(&out).unwrap();
    for text in [&run.stdout, &run.stderr, &json] {
        assert!(!text.contains("reference-secret-not-for-production"), "secret in a report");
        assert!(!text.contains("eyJ"), "a token in a report:\n{text}");
    }
    assert!(run.stdout.contains("✗ 200 (want 403)"), "the grid marks the wrong cell:\n{}", run.stdout);
    assert!(run.stdout.contains("$(labgrade token --role viewer)"), "{}", run.stdout);
    assert!(run.stdout.contains("$(labgrade token --attack alg-none)"), "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let matrix = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "role-matrix").unwrap();
    assert_eq!(matrix["evidence"][0]["type"], "grid");
}

/// Under --url the restart cannot happen: only the check that needs it is left unjudged (and,
/// being required, keeps the lab from passing); the rest of lab 04 is graded as usual.
#[test]
fn url_mode_skips_only_what_needs_a_restart() {
    let _guard = serial();
    ensure_fixture_installed();
    let repo = repo_copy_without(&[]);
    let config = repo.path().join("labgrade.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let db = "postgres://postgres@127.0.0.1:5432/test";
    let text = text
        .replace("provision = \"ephemeral\"\n", "")
        .replace("${LEDGER_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}", db);
    std::fs::write(&config, text).unwrap();
    let port = free_port();
    let mut svc = reference_on(port, db);
    wait_port(port);
    let url = format!("http://127.0.0.1:{port}");
    let r = run(labgrade()
        .args(["check", "4", "--url", &url, "--format", "json", "-c"])
        .arg(&config)
        .env("LEDGER_JWT_SECRET", "url-mode-secret"));
    let _ = svc.kill();
    let _ = svc.wait();
    let report = r.json();
    assert_eq!(not_passed(&report), vec!["invoice-survives-restart"], "{}", r.stdout);
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "invoice-survives-restart").unwrap();
    assert_eq!(check["outcome"], "skipped");
    assert_eq!(report["steps"][0]["outcome"], "skipped");
    assert_eq!(r.code, 1, "a skipped required check keeps the lab from passing");
}

/// The reference service started by hand (for --url), with the secret the url-mode tests use.
fn reference_on(port: u16, database_url: &str) -> std::process::Child {
    std::process::Command::new("node")
        .arg("src/server.js")
        .current_dir(fixture())
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", "url-mode-secret")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_port(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(15), "service did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_mid_run_leaves_no_process_behind() {
    let _guard = serial();
    ensure_fixture_installed();
    let port = free_port();
    let out = tempfile::tempdir().unwrap();
    let partial = out.path().join("partial.json");
    let mut child = labgrade()
        .args(["check", "1", "--no-record", "--format", "human", "-o"])
        .arg(format!("json={}", partial.display()))
        .arg("-c")
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    // Let the load probe start, so requests are in flight.
    std::thread::sleep(Duration::from_millis(800));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "labgrade did not exit after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(100));
    let left = processes_with_env(&format!("LEDGER_PORT={port}"));
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the port still answers");
    // The report still lands, marked interrupted, with the checks that finished.
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&partial).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true, "{report}");
    assert_eq!(report["passed"], false);
    assert!(report["score"].is_null());
    assert!(!report["checks"].as_array().unwrap().is_empty(), "{report}");
}

#[test]
fn a_service_that_ignores_sigterm_is_killed_and_leaves_nothing() {
    let _guard = serial();
    let dir = repo_copy_without(&[]);
    let cfg = std::fs::read_to_string(dir.path().join("labgrade.toml")).unwrap();
    let mut f = std::fs::File::create(dir.path().join("labgrade.toml")).unwrap();
    f.write_all(cfg.replace("[service]\n", "[service]\nstop_grace_secs = 1\n").as_bytes()).unwrap();
    let r = grade("02", "sigterm-ignored", dir.path(), &["--format", "human"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("ignored SIGTERM"), "{}", r.stdout);
    let port = r.stdout.split("127.0.0.1:").nth(1).unwrap().split('/').next().unwrap().to_string();
    assert!(processes_with_env(&format!("LEDGER_PORT={port}")).is_empty());
}

#[test]
fn a_service_that_escapes_its_group_and_ignores_sigterm_leaves_nothing() {
    let _guard = serial();
    let repo = root().join("fixtures/hostile/escapes-group");
    let port = free_port();
    let r = run(labgrade()
        .args(["check", "1", "--format", "json", "-c"])
        .arg(repo.join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string()));
    assert_eq!(r.code, 1, "a verdict, not a crash: {}", r.stderr);
    std::thread::sleep(Duration::from_millis(100));
    let left = processes_with_env(&format!("LEDGER_PORT={port}"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_check_needing_an_uncaptured_value_is_skipped_and_earns_nothing() {
    let _guard = serial();
    ensure_fixture_installed();
    let dir = tempfile::tempdir().unwrap();
    let labs = dir.path().join("labs");
    std::fs::create_dir_all(labs.join("01-runtime")).unwrap();
    std::fs::copy(root().join("labs/track.toml"), labs.join("track.toml")).unwrap();
    std::fs::write(
        labs.join("01-runtime/lab.toml"),
        r#"id = "01-runtime"
title = "t"
[[criterion]]
id = "c"
text = "C"
[[check]]
id = "health"
kind = "http"
criterion = "c"
hint = "h"
doc = "README.md"
request = { path = "/healthz" }
expect = { status = 200 }
[[check]]
id = "needs-capture"
kind = "http"
criterion = "c"
hint = "h"
doc = "README.md"
request = { path = "/invoices/{{invoice_id}}" }
expect = { status = 200 }
"#,
    )
    .unwrap();
    let port = free_port();
    let r = run(labgrade()
        .arg("--labs")
        .arg(&labs)
        .args(["check", "1", "--format", "json", "-c"])
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string()));
    let report = r.json();
    assert_eq!(report["checks"][1]["outcome"], "skipped", "{}", report["checks"][1]);
    assert!(report["checks"][1]["message"].as_str().unwrap().contains("invoice_id"));
    assert_eq!(report["score"], 50.0);
    assert_eq!(r.code, 1);
}

/// With --url labgrade neither sees the service's output nor can hand it a stand-in's URL:
/// the log and provider checks are skipped, never passed; what needs neither still runs.
#[test]
fn url_mode_skips_log_and_upstream_checks() {
    let _guard = serial();
    ensure_fixture_installed();
    let port = free_port();
    let mut svc = reference_on(port, "postgres://postgres@127.0.0.1:5432/test");
    wait_port(port);
    let url = format!("http://127.0.0.1:{port}");
    let r = run(labgrade()
        .args(["check", "8", "--url", &url, "--format", "json", "-c"])
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_JWT_SECRET", "url-mode-secret"));
    let _ = svc.kill();
    let _ = svc.wait();
    let report = r.json();
    let outcome = |id: &str| {
        report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for id in ["request-log-lines", "upstream-ok", "upstream-hang-504", "upstream-500-logged", "no-secrets-in-logs"] {
        assert_eq!(outcome(id), "skipped", "{id}: {}", r.stdout);
    }
    for id in ["request-id-echoed", "request-id-generated", "runbook-doc"] {
        assert_eq!(outcome(id), "pass", "{id}: {}", r.stdout);
    }
    assert_eq!(r.code, 1, "skipped required checks keep the lab from passing");
}

/// A service that logs its secret and its callers' tokens fails the log check, and the
/// report shows where without repeating either.
#[test]
fn leaked_secrets_are_located_but_never_repeated() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let run = grade("08", "logs-secret,logs-token", &fixture(), &["--format", "human", "-o", out.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = std::fs::read_to_string(&out).unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "no-secrets-in-logs").unwrap();
    assert_eq!(check["outcome"], "fail");
    assert!(check["message"].as_str().unwrap().starts_with("output line "), "{}", check["message"]);
    assert!(json.contains("[redacted]"));
    for text in [&run.stdout, &run.stderr, &json] {
        assert!(!text.contains("reference-secret-not-for-production"), "secret in a report");
        assert!(!text.contains("eyJ"), "a token in a report");
    }
}

/// The grader's inputs change from run to run (a service cannot pass by remembering them),
/// and `--seed` replays a run's inputs exactly: the seed is in the JSON report.
#[test]
fn generated_inputs_follow_the_run_seed() {
    let fixture = fixture();
    // The fault makes invoice-create fail, so its evidence carries the request it sent.
    let sent = |extra: &[&str]| -> (u64, String) {
        let r = grade("02", "invoice-field-renamed", &fixture, extra);
        let report = r.json();
        let check = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "invoice-create").unwrap().clone();
        let curl = check["evidence"].as_array().unwrap().iter().find(|e| e["type"] == "curl").unwrap()["line"]
            .as_str()
            .unwrap()
            .to_string();
        // The body: `--data-raw '{...}'`, with the customer id (made by the service) left out.
        let body = curl.split("--data-raw").nth(1).unwrap().to_string();
        let amount = body.split("amountCents").nth(1).unwrap().chars().take(12).collect::<String>();
        (report["seed"].as_u64().unwrap(), amount)
    };
    let (s1, a1) = sent(&["--seed", "4242"]);
    let (s2, a2) = sent(&["--seed", "4242"]);
    assert_eq!((s1, s2), (4242, 4242));
    assert_eq!(a1, a2, "the same seed sends the same amount");
    let (s3, a3) = sent(&[]);
    let (s4, a4) = sent(&[]);
    assert!(s3 != s4 && s3 != 0, "each run without --seed picks its own seed: {s3} {s4}");
    assert!(a3 != a4 || a3 != a1, "runs without --seed send other amounts: {a1} {a3} {a4}");
}
