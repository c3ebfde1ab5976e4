//! The supervisor: starts the learner's service in its own process group, captures its
//! output, waits until it is ready, and stops it — SIGTERM to the group, SIGKILL after a
//! grace period, then any descendant that escaped the group. Dropping a [`Service`] kills
//! whatever is left, so an error or a panic leaves nothing behind either.

use crate::config::Config;
use crate::error::Error;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

const MAX_LINES: usize = 200_000;
const MAX_LINE: usize = 64 * 1024;
/// The most of a service's output kept in memory; later lines are counted, not kept (the
/// pipe is still drained, so a service that floods its output never blocks on it).
pub const OUTPUT_CAP: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Everything the service printed, line by line: the first [`MAX_LINES`] lines and at most
/// [`OUTPUT_CAP`] bytes of them, each line cut at [`MAX_LINE`] bytes.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    lines: Vec<(Stream, String)>,
    bytes: usize,
    /// Lines past the caps: counted, not kept.
    dropped: u64,
}

impl Output {
    fn push(&self, s: Stream, line: String) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if c.lines.len() < MAX_LINES && c.bytes + line.len() <= OUTPUT_CAP {
            c.bytes += line.len();
            c.lines.push((s, line));
        } else {
            c.dropped += 1;
        }
    }

    /// Read every captured line without copying them.
    pub fn with_lines<T>(&self, f: impl FnOnce(&[(Stream, String)]) -> T) -> T {
        f(&self.0.lock().unwrap_or_else(|e| e.into_inner()).lines)
    }

    /// The last `n` lines kept, and a line saying how many were not kept, if any.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let v = &c.lines;
        let mut out: Vec<String> = v[v.len().saturating_sub(n)..].iter().map(|(_, l)| l.clone()).collect();
        if c.dropped > 0 {
            out.push(format!(
                "[labgrade kept the first {} lines ({:.1} MiB) of this output; {} later line(s) were not kept]",
                v.len(),
                c.bytes as f64 / (1024.0 * 1024.0),
                c.dropped
            ));
        }
        out
    }
}

/// The output of every instance of the service a lab run starts — the shared one, each start
/// after a restart, and those `startup` and `shutdown` checks start themselves — in the order
/// they started, so a check that judges the whole run can read all of it.
#[derive(Clone, Default)]
pub struct RunOutputs(Arc<Mutex<Vec<(String, Output)>>>);

tokio::task_local! {
    static RUN_OUTPUTS: RunOutputs;
}

impl RunOutputs {
    /// Run `fut` with every instance it starts recorded here.
    pub async fn recording<F: std::future::Future>(&self, fut: F) -> F::Output {
        RUN_OUTPUTS.scope(self.clone(), fut).await
    }

    /// The instances the running lab has started so far, each with a name (none outside a
    /// run that records).
    pub fn of_this_run() -> Vec<(String, Output)> {
        RUN_OUTPUTS.try_with(|r| r.0.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }

    fn add(&self, overrides: &[(String, Option<String>)], output: Output) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Names only: an override's value may itself be a secret.
        let changed: Vec<String> = overrides
            .iter()
            .map(|(k, v)| if v.is_some() { format!("{k} changed") } else { format!("{k} unset") })
            .collect();
        let mut name = format!("start {} of the service", all.len() + 1);
        if !changed.is_empty() {
            name.push_str(&format!(" ({})", changed.join(", ")));
        }
        all.push((name, output));
    }
}

pub struct Service {
    child: Child,
    pgid: Option<i32>,
    pub output: Output,
    pub base_url: url::Url,
}

#[derive(Debug)]
pub struct StopReport {
    pub exit: Option<i32>,
    pub signal: Option<i32>,
    /// True when SIGTERM was not enough and SIGKILL was sent.
    pub killed: bool,
    pub took: Duration,
    pub stray_killed: usize,
}

/// Is something already answering at this address? (We would be grading the wrong service.)
pub async fn port_taken(base_url: &url::Url) -> Option<String> {
    let host = base_url.host_str()?.trim_matches(['[', ']']).to_string();
    let port = base_url.port_or_known_default()?;
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Some(addr),
        _ => None,
    }
}

/// Why a service could not be started. Only the first two stop a run (exit 2); a service that
/// does not become ready is the learner's failure, judged check by check.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Environment(String),
    #[error("{message}")]
    NotReady { message: String, tail: Vec<String> },
}

impl From<StartError> for Error {
    fn from(e: StartError) -> Error {
        match e {
            StartError::Usage(m) => Error::Usage(m),
            StartError::Environment(m) => Error::Environment(m),
            StartError::NotReady { message, tail } => Error::Environment(format!("{message}\n{}", tail_text(&tail))),
        }
    }
}

impl Service {
    /// Start the service with its configured command and wait until it is ready.
    pub async fn start(config: &Config, env_overrides: &[(String, Option<String>)]) -> Result<Service, StartError> {
        let start = config.service.start.as_deref().ok_or_else(|| {
            StartError::Usage(format!(
                "{} has no [service] start command; add one, or grade a running service with --url",
                config.file.display()
            ))
        })?;
        if let Some(addr) = port_taken(&config.service.base_url).await {
            return Err(StartError::Environment(format!(
                "something else is already listening on {addr} — you would be grading the wrong service. Stop it, or change the port in {}",
                config.file.display()
            )));
        }
        let mut service = Service::spawn(config, start, env_overrides)?;
        let advice = format!("if it needs longer, raise ready_timeout_secs in {}", config.file.display());
        service.wait_ready(config, config.service.ready_timeout, &advice).await?;
        Ok(service)
    }

    /// Run `command` the way the service runs: from the learner's repo, with the grader's
    /// environment overlaid with `[service.env]` and then `env_overrides` (None removes).
    pub fn spawn(
        config: &Config,
        command: &str,
        env_overrides: &[(String, Option<String>)],
    ) -> Result<Service, StartError> {
        let svc = &config.service;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(shell_line(command))
            .current_dir(&config.repo)
            .envs(&svc.env)
            // The learner's code never sees the key that signs its reports.
            .env_remove(crate::signing::KEY_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in env_overrides {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd.spawn().map_err(|e| {
            StartError::Environment(format!("could not run `{command}` in {}: {e}", config.repo.display()))
        })?;
        let pgid = child.id().map(|p| p as i32);
        if let Some(p) = pgid {
            crate::procs::register(p);
        }
        let output = Output::default();
        if svc.start.as_deref() == Some(command) {
            let _ = RUN_OUTPUTS.try_with(|r| r.add(env_overrides, output.clone()));
        }
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, Stream::Stdout, output.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, Stream::Stderr, output.clone()));
        }
        Ok(Service { child, pgid, output, base_url: svc.base_url.clone() })
    }

    /// The exit status if the process has exited (without waiting).
    /// The pid of the process the start command became (the root of its tree).
    pub fn pid(&self) -> Option<i32> {
        self.child.id().map(|p| p as i32)
    }

    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Poll the ready path until it answers 2xx, the process exits, or `timeout` passes.
    /// `advice` ends the message when time runs out (what the learner can do about it).
    pub async fn wait_ready(
        &mut self,
        config: &Config,
        timeout: Duration,
        advice: &str,
    ) -> Result<Duration, StartError> {
        let svc = &config.service;
        let url = svc.base_url.join(&svc.ready).map_err(|e| StartError::Usage(format!("bad ready path: {e}")))?;
        let client = crate::request::client();
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        let mut last: String;
        loop {
            if let Some(status) = self.try_exit() {
                tokio::time::sleep(Duration::from_millis(50)).await; // let the pumps drain
                return Err(StartError::NotReady {
                    message: format!("the service exited ({status}) before it became ready at {url}"),
                    tail: self.output.tail(20),
                });
            }
            match client.get(url.clone()).timeout(Duration::from_secs(1)).send().await {
                Ok(r) if r.status().is_success() => return Ok(started.elapsed()),
                Ok(r) => last = format!("{url} answered {}", r.status()),
                Err(e) => last = crate::request::describe(&e, Duration::from_secs(1)),
            }
            if started.elapsed() >= timeout {
                return Err(StartError::NotReady {
                    message: format!(
                        "the service did not become ready within {:.0} s ({last}); {advice}",
                        timeout.as_secs_f64()
                    ),
                    tail: self.output.tail(20),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(250));
        }
    }

    /// SIGTERM the group, give the whole group `grace` to exit, then SIGKILL the group and
    /// any descendant that escaped it.
    pub async fn stop(mut self, grace: Duration) -> StopReport {
        let started = Instant::now();
        let mut killed = false;
        if let Some(pg) = self.pgid {
            let _ = killpg(Pid::from_raw(pg), Signal::SIGTERM);
        }
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(s)) => Some(s),
            _ => None,
        };
        // A shell wrapper may be gone while its children still shut down in the group.
        if let Some(pg) = self.pgid {
            while group_alive(pg) && started.elapsed() < grace {
                let keep: Vec<i32> = self.child.id().map(|p| p as i32).into_iter().collect();
                crate::procs::reap_orphans(&keep);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if group_alive(pg) || status.is_none() {
                killed = true;
                let _ = killpg(Pid::from_raw(pg), Signal::SIGKILL);
            }
        }
        let status = match status {
            Some(s) => Some(s),
            None => tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await.ok().and_then(Result::ok),
        };
        let root = self.pgid.take();
        let stray_killed = crate::procs::kill_strays(root, &[]);
        if let Some(r) = root {
            crate::procs::unregister(r);
        }
        use std::os::unix::process::ExitStatusExt;
        StopReport {
            exit: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            killed,
            took: started.elapsed(),
            stray_killed,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(pg) = self.pgid.take() {
            let _ = killpg(Pid::from_raw(pg), Signal::SIGKILL);
            let _ = self.child.start_kill();
            let _ = self.child.try_wait();
            let me = self.child.id().map(|p| p as i32);
            crate::procs::kill_strays(Some(pg), &me.into_iter().collect::<Vec<_>>());
            crate::procs::unregister(pg);
        }
    }
}

/// Lines of output as a block for an error message.
pub fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        "(it printed nothing)".into()
    } else {
        format!(
            "last {} line(s) of its output:\n{}",
            tail.len(),
            tail.iter().map(|l| format!("  │ {l}")).collect::<Vec<_>>().join("\n")
        )
    }
}

/// Does any process (zombies of other parents included) remain in the group?
fn group_alive(pg: i32) -> bool {
    killpg(Pid::from_raw(pg), None).is_ok()
}

/// `exec` a simple command so the service itself is our child (its exit status and signals
/// are then its own, not a wrapper shell's); leave anything with shell syntax to the shell.
pub fn shell_line(start: &str) -> String {
    let simple = !start.trim().is_empty()
        && !start.contains(|c: char| ";&|<>()`$\\\n*?{}".contains(c))
        && !start.trim_start().starts_with("exec ");
    if simple { format!("exec {start}") } else { start.to_string() }
}

/// Read a stream into lines (lossy UTF-8, each line capped) until EOF.
async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, s: Stream, out: Output) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                out.push(s, String::from_utf8_lossy(&line).trim_end_matches('\r').to_string());
                line.clear();
            } else if line.len() < MAX_LINE {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        out.push(s, String::from_utf8_lossy(&line).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped_in_lines_and_bytes() {
        let out = Output::default();
        let line = "x".repeat(MAX_LINE);
        for _ in 0..(OUTPUT_CAP / MAX_LINE + 10) {
            out.push(Stream::Stdout, line.clone());
        }
        assert_eq!(out.with_lines(|l| l.len()), OUTPUT_CAP / MAX_LINE);
        let tail = out.tail(1);
        assert_eq!(tail.len(), 2);
        assert!(tail[1].contains("first 512 lines (32.0 MiB)") && tail[1].contains("10 later line(s)"), "{}", tail[1]);
    }

    #[tokio::test]
    async fn a_recorded_run_keeps_every_start_of_the_service_and_only_those() {
        let dir = std::env::temp_dir();
        let src = "[service]\nstart = \"echo started\"\nbase_url = \"http://127.0.0.1:9\"\n";
        let config = Config::parse(&dir.join("labgrade.toml"), src, &|_| None).unwrap();
        let run = RunOutputs::default();
        run.recording(async {
            let first = Service::spawn(&config, "echo started", &[]).unwrap();
            let unset = [("JWT_SECRET".to_string(), None), ("PORT".to_string(), Some("1".to_string()))];
            let second = Service::spawn(&config, "echo started", &unset).unwrap();
            // Another command (the learner's tests) is not an instance of the service.
            let tests = Service::spawn(&config, "echo tests", &[]).unwrap();
            // Let the first one print (a stop before echo ran would lose its line).
            for _ in 0..300 {
                if first.output.with_lines(|l| !l.is_empty()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            for s in [first, second, tests] {
                s.stop(Duration::from_secs(1)).await;
            }
            let all = RunOutputs::of_this_run();
            let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["start 1 of the service", "start 2 of the service (JWT_SECRET unset, PORT changed)"]);
            assert_eq!(all[0].1.with_lines(|l| l.to_vec()), vec![(Stream::Stdout, "started".to_string())]);
        })
        .await;
        // Outside a recorded run nothing is kept.
        assert!(RunOutputs::of_this_run().is_empty());
    }

    #[test]
    fn simple_commands_are_execed_compound_ones_are_not() {
        assert_eq!(shell_line("node src/server.js"), "exec node src/server.js");
        assert_eq!(shell_line("npm run build && node dist/x.js"), "npm run build && node dist/x.js");
        assert_eq!(shell_line("PORT=$P node x"), "PORT=$P node x");
        assert_eq!(shell_line("exec node x"), "exec node x");
    }
}
