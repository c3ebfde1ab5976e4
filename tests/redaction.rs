//! Secrets never reach an output: the learner's JWT_SECRET, the password inside the database
//! URL and every token the grader mints are redacted from every report format and from the
//! progress store — even when the service prints them (faults logs-secret, logs-token).

mod common;

use common::*;

const SECRET: &str = "jwt-secret-Zq7vX2LmN9pR4tK8";
const PASSWORD: &str = "db-password-Hj3kW6yB1sD5";

#[test]
fn every_output_of_a_run_that_leaks_is_clean() {
    ensure_fixture_installed();
    let repo = repo_copy_changed(&[], &Default::default());
    let out = tempfile::tempdir().unwrap();
    let file = |name: &str| out.path().join(name);
    let port = free_port();
    let _guard = serial();
    let mut cmd = labgrade();
    cmd.args(["check", "08", "--format", "human", "--format", "junit", "--format", "github"])
        .arg("-o")
        .arg(format!("json={}", file("report.json").display()))
        .arg("-o")
        .arg(format!("junit={}", file("junit.xml").display()))
        .arg("-o")
        .arg(format!("github={}", file("job-summary.md").display()))
        .arg("-c")
        .arg(repo.path().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string())
        .env("LEDGER_JWT_SECRET", SECRET)
        // Trust auth accepts any password, so the URL can carry one.
        .env("LEDGER_DATABASE_URL", format!("postgres://postgres:{PASSWORD}@127.0.0.1:5432/test"))
        .env("GITHUB_STEP_SUMMARY", file("summary.md"))
        .env("FIXTURE_FAULTS", "logs-secret,logs-token")
        .env("NO_COLOR", "1");
    let run = run(&mut cmd);
    assert_eq!(run.code, 1, "the leaks fail the lab: {}\n{}", run.stdout, run.stderr);
    // The service did print them: the failing check shows where, redacted.
    assert!(run.stdout.contains("no-secrets-in-logs"), "{}", run.stdout);
    assert!(run.stdout.contains("[redacted]"), "{}", run.stdout);

    let mut outputs = vec![("stdout".to_string(), run.stdout.clone()), ("stderr".to_string(), run.stderr.clone())];
    for name in ["report.json", "junit.xml", "job-summary.md", "summary.md"] {
        outputs.push((name.to_string(), std::fs::read_to_string(file(name)).unwrap_or_default()));
    }
    let store = repo.path().join(".labgrade/progress.json");
    outputs.push(("progress.json".into(), std::fs::read_to_string(&store).expect("the attempt was recorded")));
    for (name, text) in &outputs {
        // stderr is quiet on a run like this; the job summary goes to the -o github file.
        if !matches!(name.as_str(), "stderr" | "summary.md") {
            assert!(!text.is_empty(), "{name} is empty");
        }
    }
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}").unwrap();
    for (name, text) in &outputs {
        assert!(!text.contains(SECRET), "{name} holds the JWT secret");
        assert!(!text.contains(PASSWORD), "{name} holds the database password");
        assert!(!jwt.is_match(text), "{name} holds a bearer token: {:?}", jwt.find(text));
    }
    assert!(processes_with_env(&format!("LEDGER_PORT={port}")).is_empty());
}
