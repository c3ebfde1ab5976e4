//! Shared harness for integration tests: the real `labgrade` binary against the real
//! Node.js reference service and the PostgreSQL server on this machine.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture() -> PathBuf {
    root().join("fixtures/reference-service")
}

/// Serialises the tests that start a service across processes (nextest runs each test in its
/// own process): latency checks must never share the two cores with another graded service.
pub struct Serial(#[allow(dead_code)] nix::fcntl::Flock<File>);

pub fn serial() -> Serial {
    let path = std::env::temp_dir().join("labgrade-integration.lock");
    let f = File::options().create(true).truncate(false).write(true).open(path).expect("lock file");
    Serial(nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).expect("flock"))
}

/// `npm ci` for the fixture once, if its node_modules is missing.
pub fn ensure_fixture_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if fixture().join("node_modules/pg").exists() {
            return;
        }
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(fixture())
            .status()
            .expect("npm runs");
        assert!(st.success(), "npm ci failed in fixtures/reference-service");
    });
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

pub fn labgrade() -> Command {
    Command::new(env!("CARGO_BIN_EXE_labgrade"))
}

pub fn run(cmd: &mut Command) -> Run {
    let Output { status, stdout, stderr } = cmd.output().expect("labgrade runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Grade `lab` against the reference service (or a copy of its repo at `repo`) with `faults`.
pub fn grade(lab: &str, faults: &str, repo: &Path, extra: &[&str]) -> Run {
    ensure_fixture_installed();
    let port = free_port();
    let mut cmd = labgrade();
    // Graded runs of the fixture must not write a progress store into it.
    cmd.args(["check", lab, "--no-record", "-c"]).arg(repo.join("labgrade.toml"));
    if !extra.contains(&"--format") {
        cmd.args(["--format", "json"]);
    }
    cmd.args(extra);
    cmd.env("LEDGER_PORT", port.to_string()).env("FIXTURE_FAULTS", faults).env("NO_COLOR", "1");
    run(&mut cmd)
}

/// Ids of the checks in a JSON lab report that did not pass.
pub fn not_passed(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .filter(|c| c["outcome"] != "pass")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// A copy of the reference repo without `remove`, sharing its node_modules.
pub fn repo_copy_without(remove: &[String]) -> tempfile::TempDir {
    repo_copy_changed(remove, &Default::default())
}

/// A copy of the reference repo without the `remove` files and with each file of `write`
/// replaced by another file of the fixture (target → source).
pub fn repo_copy_changed(remove: &[String], write: &std::collections::BTreeMap<String, String>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    for r in remove {
        std::fs::remove_file(dir.path().join(r)).unwrap();
    }
    for (target, source) in write {
        std::fs::copy(fixture().join(source), dir.path().join(target)).unwrap();
    }
    std::os::unix::fs::symlink(fixture().join("node_modules"), dir.path().join("node_modules")).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name == "node_modules" || name == ".labgrade" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Pids of live processes whose environment carries `marker` (LEDGER_PORT=…): what a run
/// must not leave behind.
pub fn processes_with_env(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ"))
            && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
        {
            out.push(pid);
        }
    }
    out
}
