//! `kind = "job"`: work that belongs in the background. Submit (expect 202 within a bound,
//! and where the job lives: a Location header or an id in the body), poll with backoff
//! until a terminal state or a deadline, then fetch the result and judge it like an `http`
//! check. The verdict tells apart "not finished in 15 s (last state: running)", "finished
//! in state failed" and "the job resource has the wrong shape".

use super::http;
use super::{Ctx, Evidence, Outcome};
use crate::request::{AuthSpec, RequestSpec};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub submit: RequestSpec,
    /// The 202 must arrive within this many milliseconds.
    #[serde(default = "accept_ms")]
    pub accept_within_ms: u64,
    /// Seconds from the 202 until the job must have reached a terminal state.
    #[serde(default = "deadline")]
    pub deadline_secs: u64,
    /// JSON pointer to the state in the job resource.
    #[serde(default = "state_ptr")]
    pub state_at: String,
    #[serde(default = "pending")]
    pub pending: Vec<String>,
    #[serde(default = "succeeded")]
    pub succeeded: Vec<String>,
    #[serde(default = "failed")]
    pub failed: Vec<String>,
    /// Where the result lives, relative to the job's URL (`{job}` is that URL).
    #[serde(default = "result_path")]
    pub result: String,
    /// What the result must be.
    #[serde(default)]
    pub expect: http::Expect,
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

fn accept_ms() -> u64 {
    1000
}
fn deadline() -> u64 {
    15
}
fn state_ptr() -> String {
    "/status".into()
}
fn pending() -> Vec<String> {
    vec!["queued".into(), "running".into()]
}
fn succeeded() -> Vec<String> {
    vec!["succeeded".into()]
}
fn failed() -> Vec<String> {
    vec!["failed".into()]
}
fn result_path() -> String {
    "{job}/result".into()
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=300).contains(&self.deadline_secs) {
            return Err("deadline_secs must be 1..300".into());
        }
        if !self.state_at.starts_with('/') {
            return Err(format!("state_at {:?}: expected a JSON pointer like \"/status\"", self.state_at));
        }
        if !self.result.contains("{job}") {
            return Err("result must contain {job}, the job's URL (e.g. \"{job}/result\")".into());
        }
        Ok(())
    }
}

/// What one poll of the job resource says. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    Pending(String),
    Succeeded,
    Failed(String),
    /// Not a job resource this spec can read: a message saying why.
    Shape(String),
}

pub fn read_state(spec: &Spec, status: u16, body: Option<&Value>) -> Poll {
    if status != 200 {
        return Poll::Shape(format!("GET on the job answered {status}, expected 200"));
    }
    let Some(state) = body.and_then(|b| b.pointer(&spec.state_at)) else {
        return Poll::Shape(format!("the job resource has no {} (a JSON object with the job's state)", spec.state_at));
    };
    let Some(s) = state.as_str() else {
        return Poll::Shape(format!("{} is {state}, expected a string", spec.state_at));
    };
    if spec.succeeded.iter().any(|x| x == s) {
        Poll::Succeeded
    } else if spec.failed.iter().any(|x| x == s) {
        Poll::Failed(s.into())
    } else if spec.pending.iter().any(|x| x == s) {
        Poll::Pending(s.into())
    } else {
        let known: Vec<&str> =
            spec.pending.iter().chain(&spec.succeeded).chain(&spec.failed).map(String::as_str).collect();
        Poll::Shape(format!("{} is {s:?}, expected one of {}", spec.state_at, known.join(", ")))
    }
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let submit = match ctx.prepare(&spec.submit) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let submit_curl = Evidence::Curl { line: submit.curl() };
    let resp = match submit.send(&ctx.client).await {
        Ok(r) => r,
        Err(e) => return Outcome::fail(format!("{} {}: {e}", submit.method, submit.url.path())).with(submit_curl),
    };
    let took = resp.elapsed.as_secs_f64() * 1000.0;
    if resp.status != 202 {
        return Outcome::fail(format!(
            "{} {} answered {}, expected 202 Accepted with the job's location",
            submit.method,
            submit.url.path(),
            resp.status
        ))
        .with(submit_curl);
    }
    if took > spec.accept_within_ms as f64 {
        return Outcome::fail(format!(
            "the 202 came after {took:.0} ms; the limit is {} ms — the work is being done inside the request",
            spec.accept_within_ms
        ))
        .with(submit_curl);
    }
    let job_path = match resp.header("location") {
        Some(l) => l.to_string(),
        None => {
            return Outcome::fail("the 202 has no Location header saying where the job can be polled")
                .with(submit_curl);
        }
    };
    // The job's own requests use the submit's token policy.
    let token = ctx.token;
    let get = |path: String| RequestSpec {
        path,
        auth: spec.submit.auth.clone().or(if token { Some(AuthSpec::Flag(true)) } else { None }),
        ..RequestSpec::default()
    };
    let poll_req = match ctx.prepare(&get(job_path.clone())) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let poll_curl = Evidence::Curl { line: poll_req.curl() };
    let started = Instant::now();
    let deadline = Duration::from_secs(spec.deadline_secs);
    let mut wait = Duration::from_millis(50);
    let mut seen: Vec<String> = Vec::new();
    let last = loop {
        let state = match poll_req.send(&ctx.client).await {
            Ok(r) => read_state(spec, r.status, r.json().as_ref()),
            Err(e) => Poll::Shape(format!("GET {job_path}: {e}")),
        };
        let name = match &state {
            Poll::Pending(s) | Poll::Failed(s) => s.clone(),
            Poll::Succeeded => "succeeded".into(),
            Poll::Shape(_) => "?".into(),
        };
        if seen.last() != Some(&name) {
            seen.push(name);
        }
        match state {
            Poll::Pending(s) if started.elapsed() >= deadline => break Poll::Pending(s),
            Poll::Pending(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            other => break other,
        }
    };
    let timeline = Evidence::Note {
        text: format!(
            "202 after {took:.0} ms at {job_path}; states seen: {} over {:.1} s",
            seen.join(" → "),
            started.elapsed().as_secs_f64()
        ),
    };
    match last {
        Poll::Pending(s) => {
            return Outcome::fail(format!(
                "not finished in {} s (last state: {s}); the job must reach a terminal state",
                spec.deadline_secs
            ))
            .with(timeline)
            .with(poll_curl);
        }
        Poll::Failed(s) => {
            return Outcome::fail(format!("the job finished in state {s}")).with(timeline).with(poll_curl);
        }
        Poll::Shape(why) => return Outcome::fail(format!("wrong shape: {why}")).with(timeline).with(poll_curl),
        Poll::Succeeded => {}
    }
    let result_path = spec.result.replace("{job}", job_path.trim_end_matches('/'));
    let result_req = match ctx.prepare(&get(result_path)) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let mut o = http::exchange(&result_req, &spec.expect, &spec.capture, ctx).await;
    o.evidence.insert(0, timeline);
    if o.verdict == super::Verdict::Pass {
        o.message =
            format!("accepted in {took:.0} ms, succeeded in {:.1} s; {}", started.elapsed().as_secs_f64(), o.message);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        toml::from_str("submit = { method = \"POST\", path = \"/reports\" }").unwrap()
    }

    #[test]
    fn states_are_told_apart() {
        let s = spec();
        assert_eq!(read_state(&s, 200, Some(&json!({"status": "running"}))), Poll::Pending("running".into()));
        assert_eq!(read_state(&s, 200, Some(&json!({"status": "succeeded"}))), Poll::Succeeded);
        assert_eq!(read_state(&s, 200, Some(&json!({"status": "failed"}))), Poll::Failed("failed".into()));
        assert!(
            matches!(read_state(&s, 200, Some(&json!({"state": "done"}))), Poll::Shape(m) if m.contains("no /status"))
        );
        assert!(
            matches!(read_state(&s, 200, Some(&json!({"status": "done"}))), Poll::Shape(m) if m.contains("expected one of queued"))
        );
        assert!(matches!(read_state(&s, 404, None), Poll::Shape(m) if m.contains("404")));
        assert!(matches!(read_state(&s, 200, Some(&json!({"status": 3}))), Poll::Shape(_)));
    }

    #[test]
    fn result_path_must_name_the_job() {
        let mut s = spec();
        assert!(s.validate().is_ok());
        s.result = "/result".into();
        assert!(s.validate().is_err());
    }
}
