//! `kind = "startup"`: start the learner's service with its environment changed (a variable
//! removed, a bad value) and judge how it fails: it must exit non-zero within a bound, say
//! which variable is wrong, and never accept a connection meanwhile. With `expect.ready`,
//! the positive case: with the full environment it becomes ready.

use super::{Ctx, Evidence, Outcome};
use crate::matching::Pattern;
use crate::service::{Service, StartError, port_taken};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Variables removed from the service's environment.
    #[serde(default)]
    pub env_remove: Vec<String>,
    /// Variables set (overriding `[service.env]`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub expect: Expect,
    /// With `expect.ready`: GET requests to the started instance and what each must answer
    /// (e.g. `/readyz` 503 while the database is unreachable).
    #[serde(default)]
    pub probes: Vec<Probe>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub path: String,
    pub status: u16,
    /// The Content-Type must contain this text (or match `~regex`).
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// true: it must become ready; false: it must refuse to start.
    #[serde(default)]
    pub ready: bool,
    #[serde(default = "five_s")]
    pub within_ms: u64,
    /// Its output must contain this text (or match `~regex`).
    pub output: Option<String>,
}

fn five_s() -> u64 {
    5000
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(o) = &self.expect.output {
            Pattern::parse(o)?;
            if self.expect.ready {
                return Err("expect.output only applies when the service must refuse to start (ready = false)".into());
            }
        }
        if !self.probes.is_empty() && !self.expect.ready {
            return Err("probes only apply when the service must become ready (expect.ready = true)".into());
        }
        for p in &self.probes {
            if !p.path.starts_with('/') {
                return Err(format!("probe path {:?} must start with /", p.path));
            }
            if let Some(c) = &p.content_type {
                Pattern::parse(c)?;
            }
        }
        if !(100..=120_000).contains(&self.expect.within_ms) {
            return Err("expect.within_ms must be 100..120000".into());
        }
        Ok(())
    }

    fn overrides(&self) -> Vec<(String, Option<String>)> {
        let mut o: Vec<_> = self.env_remove.iter().map(|k| (k.clone(), None)).collect();
        o.extend(self.env.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
        o
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.env_remove.iter().map(|k| format!("without {k}")).collect();
        parts.extend(self.env.iter().map(|(k, v)| format!("with {k}={v}")));
        if parts.is_empty() { "with its full environment".into() } else { parts.join(", ") }
    }
}

/// What happened to a start that should have failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// None: still running at the deadline.
    pub exit_code: Option<i32>,
    pub took: Duration,
    pub accepted_connection: bool,
    pub output: Vec<String>,
}

/// Judge a refusal against the expectation. Pure.
pub fn judge(r: &Refusal, expect: &Expect) -> Vec<Evidence> {
    let mut problems = Vec::new();
    let bound = format!("{:.0} s", expect.within_ms as f64 / 1000.0);
    match r.exit_code {
        None => problems.push(Evidence::Assert {
            what: "exit".into(),
            expected: format!("a non-zero exit within {bound}"),
            actual: format!("still running after {bound} — it should refuse to start"),
        }),
        Some(0) => problems.push(Evidence::Assert {
            what: "exit code".into(),
            expected: "non-zero (a configuration error is a failure)".into(),
            actual: "0".into(),
        }),
        Some(_) => {}
    }
    if r.accepted_connection {
        problems.push(Evidence::Assert {
            what: "port".into(),
            expected: "never accepts a connection".into(),
            actual: "it accepted a connection before it gave up".into(),
        });
    }
    if let Some(want) = &expect.output {
        let text = r.output.join("\n");
        let found = match Pattern::parse(want) {
            Ok(Pattern::Exact(s)) => text.contains(&s),
            Ok(p) => p.is_match(&text),
            Err(_) => false,
        };
        if !found {
            problems.push(Evidence::Assert {
                what: "output".into(),
                expected: format!("to name the problem ({want})"),
                actual: if text.trim().is_empty() {
                    "it printed nothing".into()
                } else {
                    "it does not mention it".into()
                },
            });
        }
    }
    problems
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    if ctx.url_mode {
        return Outcome::skipped("not run with --url: this check starts the service itself");
    }
    if let Some(addr) = port_taken(&ctx.config.service.base_url).await {
        return Outcome::error(format!(
            "{addr} is taken by another process, so a start of the service could not be judged"
        ));
    }
    let Some(cmd) = ctx.config.service.start.clone() else {
        return Outcome::error("labgrade.toml has no [service] start command");
    };
    let within = Duration::from_millis(spec.expect.within_ms);
    let how = spec.describe();
    let mut svc = match Service::spawn(ctx.config, &cmd, &spec.overrides()) {
        Ok(s) => s,
        Err(e) => return Outcome::error(e.to_string()),
    };

    if spec.expect.ready {
        let advice = "this lab expects a start within that time — look for slow work before listen()";
        let result = svc.wait_ready(ctx.config, within, advice).await;
        let probed = match result {
            Ok(_) => probe(&spec.probes, ctx).await,
            Err(_) => Vec::new(),
        };
        let tail = svc.output.tail(20);
        svc.stop(ctx.config.service.stop_grace).await;
        return match result {
            Ok(took) if probed.iter().all(|(_, problem)| problem.is_none()) => {
                let answers: Vec<String> = probed.into_iter().map(|(line, _)| line).collect();
                let also = if answers.is_empty() { String::new() } else { format!("; {}", answers.join(", ")) };
                Outcome::pass(format!("started {how} and became ready in {:.1} s{also}", took.as_secs_f64()))
            }
            Ok(_) => {
                let problems: Vec<Evidence> = probed.into_iter().filter_map(|(_, p)| p).collect();
                let what = match &problems[0] {
                    Evidence::Assert { what, expected, actual } => format!("{what}: expected {expected}, got {actual}"),
                    _ => String::new(),
                };
                Outcome::fail(format!("started {how}: {what}"))
                    .with_all(problems.into_iter().skip(1))
                    .with(Evidence::Output { label: "its output".into(), lines: tail })
                    .with(Evidence::Note {
                        text: format!("reproduce: {} (then curl the paths above)", reproduce(spec, &cmd)),
                    })
            }
            Err(StartError::NotReady { message, tail: t }) => Outcome::fail(format!("started {how}: {message}"))
                .with(Evidence::Output { label: "output".into(), lines: t }),
            Err(e) => Outcome::error(e.to_string()).with(Evidence::Output { label: "output".into(), lines: tail }),
        };
    }

    let started = Instant::now();
    let mut accepted = false;
    let exit = loop {
        if let Some(status) = svc.try_exit() {
            break Some(status);
        }
        if !accepted && port_taken(&ctx.config.service.base_url).await.is_some() {
            accepted = true;
        }
        if started.elapsed() >= within {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(50)).await; // let the output pumps drain
    let refusal = Refusal {
        exit_code: exit.map(|s| s.code().unwrap_or(-1)),
        took,
        accepted_connection: accepted,
        output: svc.output.tail(20),
    };
    svc.stop(ctx.config.service.stop_grace).await;

    let problems = judge(&refusal, &spec.expect);
    let exit_text = match refusal.exit_code {
        Some(c) => format!("exited with code {c} after {:.1} s", took.as_secs_f64()),
        None => format!("was still running after {:.1} s and was stopped", took.as_secs_f64()),
    };
    let tail = refusal.output[refusal.output.len().saturating_sub(20)..].to_vec();
    let output = Evidence::Output { label: "its output".into(), lines: tail };
    if problems.is_empty() {
        return Outcome::pass(format!("started {how}: {exit_text}, naming the problem")).with(output);
    }
    let first = match &problems[0] {
        Evidence::Assert { what, expected, actual } => format!("{what}: expected {expected}, got {actual}"),
        _ => String::new(),
    };
    Outcome::fail(format!("started {how}: {first}"))
        .with_all(problems.into_iter().skip(1))
        .with(Evidence::Note { text: format!("it {exit_text}") })
        .with(output)
        .with(Evidence::Note { text: format!("reproduce: {}", reproduce(spec, &cmd)) })
}

/// Send each probe to the instance: `(what it answered, the problem if it is wrong)`.
async fn probe(probes: &[Probe], ctx: &Ctx<'_>) -> Vec<(String, Option<Evidence>)> {
    let mut out = Vec::new();
    for p in probes {
        let Ok(url) = ctx.config.service.base_url.join(&p.path) else { continue };
        let got = ctx.client.get(url).timeout(Duration::from_secs(5)).send().await;
        let (line, problem) = match got {
            Err(e) => (
                format!("GET {} failed", p.path),
                Some(Evidence::Assert {
                    what: format!("GET {}", p.path),
                    expected: format!("status {}", p.status),
                    actual: crate::request::describe(&e, Duration::from_secs(5)),
                }),
            ),
            Ok(r) => {
                let status = r.status().as_u16();
                let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let line = format!("GET {} → {status}", p.path);
                let ct_ok = p.content_type.as_deref().is_none_or(|want| match Pattern::parse(want) {
                    Ok(Pattern::Exact(s)) => ct.contains(&s),
                    Ok(pat) => pat.is_match(&ct),
                    Err(_) => false,
                });
                let problem = if status != p.status {
                    Some(Evidence::Assert {
                        what: format!("GET {}", p.path),
                        expected: format!("status {}", p.status),
                        actual: format!("{status}"),
                    })
                } else if !ct_ok {
                    Some(Evidence::Assert {
                        what: format!("GET {} content-type", p.path),
                        expected: p.content_type.clone().unwrap_or_default(),
                        actual: if ct.is_empty() { "none".into() } else { ct },
                    })
                } else {
                    None
                };
                (line, problem)
            }
        };
        out.push((line, problem));
    }
    out
}

/// A shell line that starts the service the same way (values of removed variables are not
/// needed; overridden ones are shown, since they are the bad values under test).
fn reproduce(spec: &Spec, cmd: &str) -> String {
    let mut parts = vec!["env".to_string()];
    parts.extend(spec.env_remove.iter().map(|k| format!("-u {k}")));
    parts.extend(spec.env.iter().map(|(k, v)| crate::request::shell_quote(&format!("{k}={v}"))));
    parts.push(cmd.to_string());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(output: Option<&str>) -> Expect {
        Expect { ready: false, within_ms: 5000, output: output.map(str::to_string) }
    }

    fn refusal(code: Option<i32>, accepted: bool, out: &[&str]) -> Refusal {
        Refusal {
            exit_code: code,
            took: Duration::from_millis(300),
            accepted_connection: accepted,
            output: out.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_clean_refusal_passes() {
        assert!(
            judge(&refusal(Some(1), false, &["config error: DATABASE_URL is required"]), &expect(Some("DATABASE_URL")))
                .is_empty()
        );
    }

    #[test]
    fn still_running_exit_zero_listening_and_silence_each_fail() {
        let p = judge(&refusal(None, true, &[]), &expect(Some("PORT")));
        assert_eq!(p.len(), 3);
        assert!(
            matches!(&p[0], Evidence::Assert { actual, .. } if actual.contains("still running after 5 s — it should refuse to start"))
        );
        let p = judge(&refusal(Some(0), false, &["PORT bad"]), &expect(Some("PORT")));
        assert!(matches!(&p[..], [Evidence::Assert { what, .. }] if what == "exit code"));
        let p = judge(&refusal(Some(1), false, &["something failed"]), &expect(Some("~\\bPORT\\b")));
        assert!(matches!(&p[..], [Evidence::Assert { what, .. }] if what == "output"));
    }

    #[test]
    fn reproduce_line_removes_and_sets() {
        let s = Spec {
            env_remove: vec!["DATABASE_URL".into()],
            env: [("PORT".to_string(), "abc".to_string())].into(),
            expect: expect(None),
            probes: Vec::new(),
        };
        assert_eq!(reproduce(&s, "node src/server.js"), "env -u DATABASE_URL PORT=abc node src/server.js");
    }
}
