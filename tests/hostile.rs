//! The real binary against services that misbehave on purpose (`fixtures/hostile/`): whatever
//! the service does, labgrade reaches a clear verdict that names the problem, within a bounded
//! wall time and bounded memory, and leaves no process of the service behind.
//!
//! Each case is graded against the tiny track in `tests/fixtures/hostile-lab/` (one request to
//! `GET /hostile` with a 2 s timeout; lab 02 sends it four times). Each fixture's
//! labgrade.toml gives the service `HOSTILE_MARKER=<case>-<port>`, which every process it
//! starts inherits: none may be left once labgrade exits. RELIABILITY.md records the results.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Every case finishes well within this (the slowest takes about 5 s).
const WALL_LIMIT: Duration = Duration::from_secs(20);
/// Peak resident memory of labgrade (and of whatever it reaped, the service included).
const RSS_LIMIT_KIB: i64 = 200 * 1024;

struct Graded {
    case: String,
    port: u16,
    code: i32,
    /// The human report.
    stdout: String,
    stderr: String,
    /// The JSON report, if labgrade got as far as writing one.
    report: Option<serde_json::Value>,
    report_bytes: u64,
    wall: Duration,
    /// `/usr/bin/time -f %M`: labgrade's peak RSS, or a reaped descendant's if that was higher.
    max_rss_kib: i64,
    /// VmHWM of labgrade itself, sampled until it exited.
    own_hwm_kib: i64,
}

impl Graded {
    fn check(&self, i: usize) -> &serde_json::Value {
        &self.report.as_ref().unwrap_or_else(|| panic!("{}: no JSON report\n{}", self.case, self.stderr))["checks"][i]
    }

    fn message(&self, i: usize) -> String {
        self.check(i)["message"].as_str().unwrap_or_default().to_string()
    }

    /// Bounded time and memory, nothing left behind; and a line for RELIABILITY.md.
    fn assert_bounded_and_clean(&self) {
        // What the report says first: the first check that did not pass, else the first check.
        let first = match &self.report {
            Some(r) => {
                let checks = r["checks"].as_array().cloned().unwrap_or_default();
                let shown = checks.iter().find(|c| c["outcome"] != "pass").or(checks.first());
                shown.map(|c| format!("{}: {}", c["outcome"], c["message"])).unwrap_or_default()
            }
            None => self.stderr.trim().to_string(),
        };
        eprintln!(
            "HOSTILE {}: exit {}, {:.2} s, peak RSS {:.1} MiB (labgrade alone {:.1} MiB), report {} bytes: {first}",
            self.case,
            self.code,
            self.wall.as_secs_f64(),
            self.max_rss_kib as f64 / 1024.0,
            self.own_hwm_kib as f64 / 1024.0,
            self.report_bytes,
        );
        assert!(self.wall < WALL_LIMIT, "{}: took {:?}", self.case, self.wall);
        assert!(
            self.max_rss_kib > 0 && self.max_rss_kib < RSS_LIMIT_KIB,
            "{}: peak RSS {} KiB",
            self.case,
            self.max_rss_kib
        );
        assert!(!self.stderr.contains("panicked"), "{}: {}", self.case, self.stderr);
        std::thread::sleep(Duration::from_millis(100));
        let left = processes_with_env(&format!("HOSTILE_MARKER={}-{}", self.case, self.port));
        assert!(left.is_empty(), "{}: left behind: {left:?}", self.case);
    }
}

fn case_config(case: &str) -> PathBuf {
    root().join("fixtures/hostile").join(case).join("labgrade.toml")
}

/// Grade `case` with lab `lab` of the hostile track on `port`, under `/usr/bin/time -f %M`
/// (whose maxrss is labgrade's peak, or that of a process it reaped if higher — not the test
/// harness's, as wait4 of a child spawned from this large process would report); `watch` is
/// called with labgrade's pid every few milliseconds while it runs.
fn grade_on(case: &str, lab: &str, port: u16, watch: &mut dyn FnMut(i32)) -> Graded {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let started = Instant::now();
    let mut child = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(file("rss"))
        .arg(env!("CARGO_BIN_EXE_labgrade"))
        .arg("--labs")
        .arg(root().join("tests/fixtures/hostile-lab"))
        .args(["check", lab, "--format", "human", "--format", "json", "-o"])
        .arg(format!("json={}", file("report.json").display()))
        .arg("-c")
        .arg(case_config(case))
        .env("HOSTILE_PORT", port.to_string())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(file("stdout")).unwrap())
        .stderr(std::fs::File::create(file("stderr")).unwrap())
        .spawn()
        .unwrap();
    let time_pid = child.id() as i32;
    let mut labgrade_pid = None;
    let mut own_hwm_kib = 0;
    let status = loop {
        if labgrade_pid.is_none() {
            labgrade_pid = child_of(time_pid);
        }
        if let Some(pid) = labgrade_pid {
            if let Some(hwm) = vm_hwm_kib(pid) {
                own_hwm_kib = own_hwm_kib.max(hwm);
            }
            watch(pid);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            if let Some(pid) = labgrade_pid {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            panic!("{case}: labgrade still running after 90 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    let rss = std::fs::read_to_string(file("rss")).unwrap();
    // GNU time writes "Command exited with non-zero status N" before the format's line.
    let max_rss_kib = rss.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(-1);
    let report_text = std::fs::read_to_string(file("report.json")).ok();
    Graded {
        case: case.to_string(),
        port,
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(file("stdout")).unwrap(),
        stderr: std::fs::read_to_string(file("stderr")).unwrap(),
        report_bytes: report_text.as_ref().map_or(0, |t| t.len() as u64),
        report: report_text.map(|t| serde_json::from_str(&t).expect("the JSON report parses")),
        wall,
        max_rss_kib,
        own_hwm_kib,
    }
}

/// The (one) child of `pid`, from /proc.
fn child_of(pid: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?.split_whitespace().next()?.parse().ok()
}

fn grade(case: &str, lab: &str) -> Graded {
    grade_on(case, lab, free_port(), &mut |_| {})
}

fn vm_hwm_kib(pid: i32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (ppid, session id) of a process, from /proc/<pid>/stat.
fn parent_and_session(pid: i32) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some((f.get(1)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

fn assert_fails_with(g: &Graded, needle: &str) {
    assert_eq!(g.code, 1, "{}: exit {}\n{}\n{}", g.case, g.code, g.stdout, g.stderr);
    assert_eq!(g.check(0)["outcome"], "fail", "{}: {}", g.case, g.check(0));
    let m = g.message(0);
    assert!(m.contains(needle), "{}: expected {needle:?} in {m:?}", g.case);
}

#[test]
fn never_accepts_is_not_ready() {
    let _g = serial();
    let g = grade("never-accepts", "01");
    assert_fails_with(&g, "did not become ready within 3 s (no answer within 1.0 s)");
    g.assert_bounded_and_clean();
}

#[test]
fn never_responds_times_out() {
    let _g = serial();
    let g = grade("never-responds", "01");
    assert_fails_with(&g, "GET /hostile: no answer within 2.0 s");
    g.assert_bounded_and_clean();
}

#[test]
fn garbage_is_not_http() {
    let _g = serial();
    let g = grade("garbage", "01");
    assert_fails_with(&g, "the answer is not well-formed HTTP/1.1");
    g.assert_bounded_and_clean();
}

#[test]
fn a_gibibyte_body_is_cut_at_16_mib() {
    let _g = serial();
    let g = grade("huge-body", "01");
    assert_fails_with(&g, "expected a JSON body");
    let evidence = g.check(0)["evidence"].to_string();
    assert!(evidence.contains("the body was cut at 16 MiB"), "{}", &evidence[..evidence.len().min(2000)]);
    g.assert_bounded_and_clean();
}

/// What a report shows of a huge body is an excerpt, not 16 MiB: each shown line is cut.
#[test]
fn a_gibibyte_body_leaves_small_reports() {
    let _g = serial();
    let g = grade("huge-body", "01");
    assert!(g.report_bytes < 1 << 20, "JSON report of {} bytes", g.report_bytes);
    assert!(g.stdout.len() < 1 << 20, "human report of {} bytes", g.stdout.len());
}

#[test]
fn a_one_byte_per_second_body_times_out() {
    let _g = serial();
    let g = grade("slow-drip", "01");
    assert_fails_with(&g, "answered 200, but the body was still arriving after 2.0 s");
    assert!(g.message(0).contains("of 1024 bytes so far"), "{}", g.message(0));
    g.assert_bounded_and_clean();
}

#[test]
fn a_response_closed_midway_says_where() {
    let _g = serial();
    let g = grade("closes-mid-response", "01");
    assert_fails_with(&g, "answered 200, but the connection closed after 100 of 1024 bytes of the body");
    g.assert_bounded_and_clean();
}

#[test]
fn a_crash_after_two_requests_fails_what_follows() {
    let _g = serial();
    let g = grade("crashes-after-2", "02");
    assert_eq!(g.code, 1, "{}\n{}", g.stdout, g.stderr);
    let outcomes: Vec<&str> = (0..4).map(|i| g.check(i)["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["pass", "pass", "fail", "fail"], "{}", g.stdout);
    assert!(g.message(2).contains("the connection closed before a response arrived"), "{}", g.message(2));
    // The check after the crash is told the service is gone, with its exit status.
    assert!(
        g.message(3).contains("the service exited (exit status: 3) during the run, before this check"),
        "{}",
        g.message(3)
    );
    g.assert_bounded_and_clean();
}

#[test]
fn sigterm_ignored_is_killed_after_the_grace() {
    let _g = serial();
    let g = grade("ignores-sigterm", "01");
    // The lab itself passes: ignoring SIGTERM is judged by a lab's shutdown checks, not here.
    assert_eq!(g.code, 0, "{}\n{}", g.stdout, g.stderr);
    assert!(g.stdout.contains("it ignored SIGTERM for 1 s and was killed"), "{}", g.stdout);
    g.assert_bounded_and_clean();
}

/// A double-forked daemon in its own session is orphaned at once; because labgrade is a child
/// subreaper, the orphan becomes labgrade's child (not init's), and is killed at the end.
#[test]
fn a_setsid_daemon_is_adopted_and_killed() {
    let _g = serial();
    let port = free_port();
    let marker = format!("HOSTILE_MARKER=setsid-child-{port}");
    let mut seen: Option<(i32, i32, i32)> = None; // the daemon's session, labgrade's session, labgrade
    let g = grade_on("setsid-child", "01", port, &mut |labgrade| {
        if seen.is_some() {
            return;
        }
        let daemons: Vec<i32> = processes_with_env(&marker)
            .into_iter()
            .filter(|p| processes_with_env("HOSTILE_DAEMON=1").contains(p))
            .collect();
        if let Some(&d) = daemons.first()
            && let Some((ppid, sid)) = parent_and_session(d)
            && ppid == labgrade
        {
            seen = Some((sid, parent_and_session(labgrade).map_or(0, |(_, s)| s), labgrade));
        }
    });
    let (sid, labgrade_sid, _) =
        seen.unwrap_or_else(|| panic!("never saw the daemon re-parented to labgrade\n{}", g.stdout));
    assert_ne!(sid, labgrade_sid, "the daemon left the session (setsid), so no group or session kill reaches it");
    assert_eq!(g.code, 0, "{}\n{}", g.stdout, g.stderr);
    assert!(g.stdout.contains("killed 1 leftover process(es) it had started"), "{}", g.stdout);
    g.assert_bounded_and_clean();
}

/// A service that prints 64 KiB lines as fast as the pipe takes them for four seconds: the
/// grader keeps the first 32 MiB of its output and drains the rest.
#[test]
fn flooded_output_is_capped() {
    let _g = serial();
    let g = grade("floods-output", "02");
    assert_eq!(g.code, 0, "{}\n{}", g.stdout, g.stderr);
    assert!(g.own_hwm_kib < 100 * 1024, "labgrade's own peak: {} KiB", g.own_hwm_kib);
    g.assert_bounded_and_clean();
}

#[test]
fn invalid_utf8_in_headers_and_body_is_shown_not_fatal() {
    let _g = serial();
    let g = grade("invalid-utf8", "01");
    assert_fails_with(&g, "expected a JSON body");
    let evidence = g.check(0)["evidence"].to_string();
    assert!(evidence.contains("x-bad: \u{fffd}\u{fffd}\u{fffd}( not utf-8"), "{evidence}");
    g.assert_bounded_and_clean();
}

#[test]
fn a_mebibyte_header_is_refused_by_name() {
    let _g = serial();
    let g = grade("huge-headers", "01");
    assert_fails_with(&g, "status line and headers are over 408 KiB");
    g.assert_bounded_and_clean();
}

#[test]
fn a_port_taken_by_another_process_is_refused() {
    let _g = serial();
    let port = free_port();
    let mut other = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', {port}))\ns.listen()\nprint('up', flush=True)\ntime.sleep(120)"
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(other.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "up");
    let g = grade_on("port-taken", "01", port, &mut |_| {});
    let other_alive = other.try_wait().unwrap().is_none();
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(g.code, 2, "{}\n{}", g.stdout, g.stderr);
    let expected =
        format!("something else is already listening on 127.0.0.1:{port} — you would be grading the wrong service");
    assert!(g.stderr.contains(&expected), "{}", g.stderr);
    assert!(other_alive, "labgrade must not touch a process it did not start");
    g.assert_bounded_and_clean();
}

/// A lab has an overall deadline: four requests that each run out their 2 s timeout are
/// stopped at 3 s, with exit 2 and the report so far.
#[test]
fn a_lab_past_its_deadline_is_stopped_with_the_report_so_far() {
    let _g = serial();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labgrade"))
        .arg("--labs")
        .arg(root().join("tests/fixtures/hostile-lab"))
        .args(["check", "02", "--deadline-secs", "3", "--format", "human", "-o"])
        .arg(format!("json={}", report.display()))
        .arg("-c")
        .arg(case_config("never-responds"))
        .env("HOSTILE_PORT", port.to_string())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(wall < Duration::from_secs(7), "took {wall:?}");
    assert!(stderr.contains("did not finish within its deadline of 3 s"), "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["interrupted"], true, "{r}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(processes_with_env(&format!("HOSTILE_MARKER=never-responds-{port}")).is_empty());
}

/// A probe sends many requests; against a service that answers none of them it must still end
/// within its budget (4 s here) — three silent requests in a row end it at once — and say so.
#[test]
fn a_probe_of_a_hanging_service_ends_within_its_budget() {
    let _g = serial();
    let g = grade("never-responds", "03");
    assert_fails_with(&g, "no answer within 1.0 s");
    let ms = g.check(0)["duration_ms"].as_f64().unwrap_or(f64::MAX);
    assert!(ms <= 4_500.0, "the probe took {ms} ms, past its 4 s budget");
    assert!(g.stdout.contains("the service stopped answering"), "{}", g.stdout);
    g.assert_bounded_and_clean();
}

/// A service that crashes on the third request: the probe names the input that killed it and
/// stops, instead of counting every later refused connection as a finding of its own.
#[test]
fn a_probe_names_the_input_that_crashed_the_service() {
    let _g = serial();
    let g = grade("crashes-after-2", "03");
    assert_fails_with(&g, "query q=");
    assert!(g.stdout.contains("the service stopped answering"), "{}", g.stdout);
    g.assert_bounded_and_clean();
}
