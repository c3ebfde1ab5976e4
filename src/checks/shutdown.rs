//! `kind = "shutdown"`: graceful shutdown. On an instance of its own, send a slow request,
//! SIGTERM the service while it is in flight, and expect: the request still completes as
//! `expect` says, the port refuses new connections soon after the signal, and the process
//! exits with code 0 within the bound.

use super::http::{Expect, Schemas, judge as judge_response};
use super::{Ctx, Evidence, Outcome};
use crate::request::RequestSpec;
use crate::service::{Service, StartError, port_taken};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The slow request that is in flight when the signal arrives.
    pub request: RequestSpec,
    /// What it must still answer.
    pub expect: Expect,
    /// Send SIGTERM this long after the request went out.
    #[serde(default = "two_hundred")]
    pub signal_after_ms: u64,
    /// The port must refuse new connections within this long after the signal.
    #[serde(default = "one_s")]
    pub refuse_within_ms: u64,
    /// The process must have exited (code 0) within this long after the signal.
    #[serde(default = "ten_s")]
    pub exit_within_ms: u64,
}

fn two_hundred() -> u64 {
    200
}
fn one_s() -> u64 {
    1000
}
fn ten_s() -> u64 {
    10_000
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !(10..=10_000).contains(&self.signal_after_ms) {
            return Err("signal_after_ms must be 10..10000".into());
        }
        if !(100..=60_000).contains(&self.refuse_within_ms) {
            return Err("refuse_within_ms must be 100..60000".into());
        }
        if !(500..=120_000).contains(&self.exit_within_ms) {
            return Err("exit_within_ms must be 500..120000".into());
        }
        Ok(())
    }
}

/// What happened after the signal, in milliseconds since it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The in-flight request: its status and when it answered, or how it broke.
    pub in_flight: Result<(u16, u64), String>,
    /// The answer broke one of `expect`'s asserts (first one, as text).
    pub answer_problem: Option<String>,
    /// When the port first refused a connection (None: still accepting at the bound).
    pub refused_at: Option<u64>,
    /// Exit code and when (None: still running at the bound); a signal death is code -1.
    pub exit: Option<(i32, u64)>,
}

/// Judge a shutdown against the bounds. Pure.
pub fn judge(o: &Observed, spec: &Spec) -> Vec<Evidence> {
    let mut problems = Vec::new();
    let assert =
        |what: &str, expected: String, actual: String| Evidence::Assert { what: what.into(), expected, actual };
    match &o.in_flight {
        Err(e) => problems.push(assert(
            "in-flight request",
            "to complete after SIGTERM".into(),
            format!("it was cut off: {e}"),
        )),
        Ok(_) => {
            if let Some(p) = &o.answer_problem {
                problems.push(assert("in-flight answer", "what the request asks for".into(), p.clone()));
            }
        }
    }
    match o.refused_at {
        Some(ms) if ms <= spec.refuse_within_ms => {}
        Some(ms) => problems.push(assert(
            "new connections",
            format!("refused within {} ms of SIGTERM", spec.refuse_within_ms),
            format!("refused only after {ms} ms"),
        )),
        None => problems.push(assert(
            "new connections",
            format!("refused within {} ms of SIGTERM", spec.refuse_within_ms),
            "still accepted — stop listening as soon as the signal arrives".into(),
        )),
    }
    match o.exit {
        Some((0, ms)) if ms <= spec.exit_within_ms => {}
        Some((0, ms)) => {
            problems.push(assert("exit", format!("within {} ms", spec.exit_within_ms), format!("after {ms} ms")))
        }
        Some((code, ms)) => problems.push(assert(
            "exit code",
            "0 (a requested shutdown is not a failure)".into(),
            if code < 0 { format!("killed by a signal after {ms} ms") } else { format!("{code} after {ms} ms") },
        )),
        None => problems.push(assert(
            "exit",
            format!("code 0 within {} ms of SIGTERM", spec.exit_within_ms),
            "still running — it was killed".into(),
        )),
    }
    problems
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    if ctx.url_mode {
        return Outcome::skipped("not run with --url: this check stops the service with SIGTERM");
    }
    let prepared = match ctx.prepare(&spec.request) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let mut svc = match Service::start(ctx.config, &[]).await {
        Ok(s) => s,
        Err(StartError::NotReady { message, tail }) => {
            return Outcome::fail(message).with(Evidence::Output { label: "service output".into(), lines: tail });
        }
        Err(e) => return Outcome::error(e.to_string()),
    };
    let Some(pid) = svc.pid() else {
        return Outcome::error("the service has no pid to signal");
    };
    let client = ctx.client.clone();
    let sent_at = Instant::now();
    let request = {
        let p = prepared.clone();
        tokio::spawn(async move { p.send(&client).await })
    };
    tokio::time::sleep(Duration::from_millis(spec.signal_after_ms)).await;
    if request.is_finished() {
        let how = match request.await {
            Ok(Ok(r)) => format!("it answered {} in {} ms", r.status, r.elapsed.as_millis()),
            Ok(Err(e)) => format!("it ended first: {e}"),
            Err(e) => e.to_string(),
        };
        svc.stop(ctx.config.service.stop_grace).await;
        return Outcome::error(format!(
            "the slow request was no longer in flight when the signal was due ({how}); \
             the lab's request must take longer than signal_after_ms = {}",
            spec.signal_after_ms
        ));
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let signalled = Instant::now();
    let since = |t: Instant| t.duration_since(signalled).as_millis() as u64;

    // Poll the port and the process until both have settled or the exit bound passes.
    let bound = Duration::from_millis(spec.exit_within_ms);
    let refuse_bound = Duration::from_millis(spec.refuse_within_ms.max(spec.exit_within_ms));
    let (mut refused_at, mut exit) = (None, None);
    let mut request = Some(request);
    let mut in_flight = None;
    while signalled.elapsed() < bound {
        if exit.is_none()
            && let Some(s) = svc.try_exit()
        {
            exit = Some((s.code().unwrap_or(-1), since(Instant::now())));
        }
        if refused_at.is_none()
            && signalled.elapsed() < refuse_bound
            && port_taken(&ctx.config.service.base_url).await.is_none()
        {
            refused_at = Some(since(Instant::now()));
        }
        if let Some(r) = request.take_if(|r| r.is_finished()) {
            in_flight = Some(r.await.map_err(|e| e.to_string()).and_then(|r| r));
        }
        if exit.is_some() && refused_at.is_some() && request.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(r) = request.take() {
        r.abort();
    }
    let answered_at = in_flight
        .as_ref()
        .and_then(|r| r.as_ref().ok())
        .map(|r| (sent_at + r.elapsed).saturating_duration_since(signalled).as_millis() as u64);
    tokio::time::sleep(Duration::from_millis(50)).await; // let the output pumps drain
    let tail = svc.output.tail(15);
    svc.stop(Duration::from_millis(500)).await;

    let (in_flight, answer_problem) = match in_flight {
        None => (Err("no answer before the process was stopped".to_string()), None),
        Some(Err(e)) => (Err(e), None),
        Some(Ok(resp)) => {
            let (results, _) = judge_response(&spec.expect, &resp, &Schemas { lab: None, openapi: None });
            let problem = results
                .iter()
                .find(|r| !r.passed)
                .map(|r| format!("{}: expected {}, got {}", r.what, r.expected, r.actual));
            (Ok((resp.status, answered_at.unwrap_or(0))), problem)
        }
    };
    let observed = Observed { in_flight, answer_problem, refused_at, exit };
    let timeline = Evidence::Note { text: timeline(&observed, spec.signal_after_ms) };
    let problems = judge(&observed, spec);
    let request_line = format!("{} {}", prepared.method, prepared.url.path());
    if problems.is_empty() {
        return Outcome::pass(format!(
            "SIGTERM during {request_line}: it completed, new connections were refused, exit 0"
        ))
        .with(timeline);
    }
    let first = match &problems[0] {
        Evidence::Assert { what, expected, actual } => format!("{what}: expected {expected}, got {actual}"),
        _ => String::new(),
    };
    Outcome::fail(format!("SIGTERM during {request_line}: {first}"))
        .with_all(problems.into_iter().skip(1))
        .with(timeline)
        .with(Evidence::Output { label: "service output".into(), lines: tail })
        .with(Evidence::Note {
            text: format!(
                "reproduce: start the service, then\n  {} & sleep {:.1}; kill -TERM $(pgrep -f '{}'); wait",
                prepared.curl(),
                spec.signal_after_ms as f64 / 1000.0,
                ctx.config.service.start.as_deref().unwrap_or("your start command")
            ),
        })
}

/// The order of events, as a learner would read it.
fn timeline(o: &Observed, signal_after_ms: u64) -> String {
    let mut events: Vec<(i64, String)> =
        vec![(-(signal_after_ms as i64), "request sent".into()), (0, "SIGTERM sent".into())];
    match &o.in_flight {
        Ok((status, at)) => events.push((*at as i64, format!("in-flight request answered {status}"))),
        Err(e) => events.push((i64::MAX, format!("in-flight request: {e}"))),
    }
    if let Some(at) = o.refused_at {
        events.push((at as i64, "port refuses new connections".into()));
    }
    match o.exit {
        Some((code, at)) => events.push((at as i64, format!("process exited with code {code}"))),
        None => events.push((i64::MAX, "process still running at the bound".into())),
    }
    events.sort_by_key(|(t, _)| *t);
    let mut s = String::from("timeline (ms from SIGTERM):");
    for (t, what) in events {
        let at = if t == i64::MAX { "     —".to_string() } else { format!("{t:>+6}") };
        s.push_str(&format!("\n  {at}  {what}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            request: RequestSpec::default(),
            expect: Expect::default(),
            signal_after_ms: 200,
            refuse_within_ms: 1000,
            exit_within_ms: 10_000,
        }
    }

    fn observed(in_flight: Result<(u16, u64), String>, refused_at: Option<u64>, exit: Option<(i32, u64)>) -> Observed {
        Observed { in_flight, answer_problem: None, refused_at, exit }
    }

    #[test]
    fn a_graceful_shutdown_passes() {
        assert!(judge(&observed(Ok((200, 800)), Some(20), Some((0, 850))), &spec()).is_empty());
    }

    #[test]
    fn each_way_of_getting_it_wrong_is_named() {
        // Dropped the request and exited at once.
        let p = judge(&observed(Err("connection reset".into()), Some(5), Some((0, 5))), &spec());
        assert!(matches!(&p[..], [Evidence::Assert { what, .. }] if what == "in-flight request"));
        // Ignored the signal: kept listening, never exited.
        let p = judge(&observed(Ok((200, 800)), None, None), &spec());
        assert_eq!(p.len(), 2);
        // Drained, but exit code 1; and a late refusal.
        let p = judge(&observed(Ok((200, 800)), Some(1500), Some((1, 900))), &spec());
        assert!(matches!(&p[0], Evidence::Assert { actual, .. } if actual == "refused only after 1500 ms"));
        assert!(
            matches!(&p[1], Evidence::Assert { what, actual, .. } if what == "exit code" && actual == "1 after 900 ms")
        );
        // A wrong answer to the in-flight request.
        let mut o = observed(Ok((500, 800)), Some(5), Some((0, 900)));
        o.answer_problem = Some("status: expected 200, got 500".into());
        assert_eq!(judge(&o, &spec()).len(), 1);
    }

    #[test]
    fn the_timeline_is_in_order() {
        let t = timeline(&observed(Ok((200, 812)), Some(3), Some((0, 840))), 200);
        let order: Vec<&str> = t.lines().skip(1).map(|l| l[10..].trim()).collect();
        assert_eq!(
            order,
            [
                "request sent",
                "SIGTERM sent",
                "port refuses new connections",
                "in-flight request answered 200",
                "process exited with code 0"
            ]
        );
    }
}
