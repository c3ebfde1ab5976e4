//! The database side against real servers: `sql`, `plan` and `seed` on PostgreSQL,
//! MariaDB and SQLite; ephemeral databases gone after every kind of run end; a clear
//! error where no Docker engine answers.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const MARIADB: &str = "mysql://root@127.0.0.1:3306/test";

/// A config whose "service" is a static file server, so the run is about the database.
fn dialect_config(dir: &Path, db_url: &str) -> std::path::PathBuf {
    let port = free_port();
    let text = format!(
        "[service]\nstart = \"exec python3 -m http.server {port} --bind 127.0.0.1\"\n\
         base_url = \"http://127.0.0.1:{port}\"\nready = \"/\"\n\n\
         [database]\nprovision = \"ephemeral\"\nurl = \"{db_url}\"\n"
    );
    let path = dir.join("labgrade.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn grade_dialect(lab: &str, db_url: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let config = dialect_config(dir.path(), db_url);
    let _guard = serial();
    run(labgrade()
        .args(["--labs"])
        .arg(root().join("tests/fixtures/dialect-labs"))
        .args(["check", lab, "--format", "json", "-c"])
        .arg(&config))
}

fn dialect_is_graded_for_real(db_url: &str) {
    let good = grade_dialect("01", db_url);
    let report = good.json();
    assert_eq!(not_passed(&report), Vec::<String>::new(), "{db_url}: {}", good.stdout);
    let seeded = report["steps"].as_array().unwrap().iter().find(|s| s["id"] == "seed-invoices").unwrap();
    assert!(seeded["message"].as_str().unwrap().contains("seeded 50000 rows into invoices"), "{seeded}");
    assert_eq!(good.code, 0);

    let bad = grade_dialect("02", db_url);
    let report = bad.json();
    assert_eq!(not_passed(&report), vec!["hot-query-index", "index-hygiene"], "{db_url}: {}", bad.stdout);
    let checks = report["checks"].as_array().unwrap();
    let plan = checks.iter().find(|c| c["id"] == "hot-query-index").unwrap();
    assert_eq!(plan["outcome"], "fail");
    let tree = plan["evidence"].as_array().unwrap().iter().find(|e| e["type"] == "plan").expect("plan evidence");
    let at = tree["offending"].as_u64().expect("an offending step is marked") as usize;
    assert!(tree["lines"][at].as_str().unwrap().contains("invoices"), "{tree}");
    let hygiene = checks.iter().find(|c| c["id"] == "index-hygiene").unwrap();
    assert!(
        hygiene["message"].as_str().unwrap().contains("redundant")
            && hygiene.to_string().contains("invoices_status is a prefix of invoices_status_created"),
        "{hygiene}"
    );
}

#[test]
fn postgres_sql_plan_and_seed() {
    dialect_is_graded_for_real(POSTGRES);
}

#[test]
fn mariadb_sql_plan_and_seed() {
    dialect_is_graded_for_real(MARIADB);
}

#[test]
fn sqlite_sql_plan_and_seed() {
    dialect_is_graded_for_real("sqlite://");
}

/// `labgrade_<pid>_…` databases on the local PostgreSQL.
fn ephemeral_databases(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atc"])
        .arg(format!("SELECT datname FROM pg_database WHERE datname LIKE 'labgrade\\_{pid}\\_%'"))
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Start `labgrade check lab` on the reference service and return the child and its port.
fn spawn_reference(lab: &str, faults: &str) -> (std::process::Child, u16) {
    ensure_fixture_installed();
    let port = free_port();
    let child = labgrade()
        .args(["check", lab, "--format", "json", "-c"])
        .arg(fixture().join("labgrade.toml"))
        .env("LEDGER_PORT", port.to_string())
        .env("FIXTURE_FAULTS", faults)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, port)
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ephemeral_database_is_dropped_after_a_passing_and_a_failing_run() {
    let _guard = serial();
    for faults in ["", "refuses-to-start"] {
        let (child, port) = spawn_reference("04", faults);
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["passed"], faults.is_empty(), "{faults:?}");
        assert_eq!(ephemeral_databases(pid), Vec::<String>::new(), "database left after a run with {faults:?}");
        assert!(processes_with_env(&format!("LEDGER_PORT={port}")).is_empty());
    }
}

#[test]
fn ephemeral_database_is_dropped_on_ctrl_c_mid_seed() {
    let _guard = serial();
    let (child, port) = spawn_reference("05", "");
    let pid = child.id();
    wait_for("the run's database", Duration::from_secs(30), || !ephemeral_databases(pid).is_empty());
    // The million-row seed runs for seconds: interrupt it in the middle.
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropped database labgrade_"));
    assert_eq!(ephemeral_databases(pid), Vec::<String>::new());
    assert!(processes_with_env(&format!("LEDGER_PORT={port}")).is_empty());
}

#[test]
fn databases_of_a_killed_grader_are_swept_by_the_next_run() {
    let _guard = serial();
    let (mut child, port) = spawn_reference("04", "");
    let pid = child.id();
    wait_for("the run's database", Duration::from_secs(30), || !ephemeral_databases(pid).is_empty());
    child.kill().unwrap(); // SIGKILL: nothing of the grader's cleanup runs
    child.wait().unwrap();
    for p in processes_with_env(&format!("LEDGER_PORT={port}")) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
    assert_eq!(ephemeral_databases(pid).len(), 1, "the killed grader's database is still there");
    let (next, _) = spawn_reference("02", "");
    let out = next.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ephemeral_databases(pid), Vec::<String>::new(), "the next run swept it");
}

#[test]
fn container_provisioning_without_docker_names_the_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("labgrade.toml");
    std::fs::write(
        &config,
        "[service]\nstart = \"true\"\nbase_url = \"http://127.0.0.1:9\"\n[database]\nprovision = \"container\"\n",
    )
    .unwrap();
    let t = Instant::now();
    let r =
        run(labgrade().args(["check", "04", "-c"]).arg(&config).env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("Docker engine") && r.stderr.contains("provision = \"ephemeral\""), "{}", r.stderr);
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn seeded_rows_are_deleted_from_a_learner_owned_database() {
    // A learner-owned SQLite file: the seeds write 50,500 rows into it, and the end of the
    // run deletes them again by key; the tables the lab's setup made stay, empty.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let port = free_port();
    let config = dir.path().join("labgrade.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nstart = \"exec python3 -m http.server {port} --bind 127.0.0.1\"\nbase_url = \"http://127.0.0.1:{port}\"\nready = \"/\"\n[database]\nurl = \"{url}\"\n"
        ),
    )
    .unwrap();
    let _guard = serial();
    let r = run(labgrade()
        .args(["--labs"])
        .arg(root().join("tests/fixtures/dialect-labs"))
        .args(["check", "01", "--format", "json", "-c"])
        .arg(&config));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect('{}'); print(c.execute('select count(*) from invoices').fetchone()[0], c.execute('select count(*) from customers').fetchone()[0])",
            db.display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0 0", "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn force_index_plans_without_seq_scans_and_rolls_back() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use labgrade::db::Database;
        use labgrade::plan::Access;
        let db = Database::connect(POSTGRES).await.unwrap();
        let table = format!("force_index_{}", std::process::id());
        db.execute(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, customer_id int NOT NULL);
             INSERT INTO {table} SELECT g, g % 10 FROM generate_series(1, 200) g;
             CREATE INDEX {table}_customer ON {table} (customer_id); ANALYZE {table};"
        ))
        .await
        .unwrap();
        let q = format!("SELECT id FROM {table} WHERE customer_id = $1");
        let reads = |p: &labgrade::plan::PlanNode| {
            p.flatten()
                .iter()
                .filter(|(_, n)| n.relation.as_deref() == Some(table.as_str()))
                .map(|(_, n)| n.access)
                .collect::<Vec<_>>()
        };
        // 200 rows: the planner rightly scans the table.
        let natural = db.explain(&q, &[serde_json::json!(3)], false).await.unwrap();
        assert_eq!(reads(&natural), vec![Access::FullScan], "{:?}", natural.lines());
        let forced = db.explain(&q, &[serde_json::json!(3)], true).await.unwrap();
        assert!(!reads(&forced).contains(&Access::FullScan), "{:?}", forced.lines());
        assert!(forced.flatten().iter().any(|(_, n)| n.index.as_deref() == Some(format!("{table}_customer").as_str())));
        // SET LOCAL died with the rolled-back transaction.
        let after = db.rows("SELECT current_setting('enable_seqscan') AS s", &[]).await.unwrap();
        assert_eq!(after[0]["s"], "on");
        db.execute(&format!("DROP TABLE {table}")).await.unwrap();
        db.close().await;
    });
}
