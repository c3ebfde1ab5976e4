//! `kind = "command"`: run the learner's own test command (`[service] test` in labgrade.toml)
//! with a timeout; it passes on exit 0. Runs like the service: in the learner's repo, in its
//! own process group, with the service's environment, and is cleaned up the same way.

use super::{Ctx, Evidence, Outcome};
use crate::service::Service;
use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default = "three_min")]
    pub timeout_secs: u64,
}

fn three_min() -> u64 {
    180
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.timeout_secs) {
            return Err("timeout_secs must be 1..3600".into());
        }
        Ok(())
    }
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let Some(cmd) = ctx.config.service.test.clone() else {
        return Outcome::fail(format!(
            "{} has no [service] test command; add the command that runs your tests, e.g. test = \"npm test\"",
            ctx.config.file.display()
        ));
    };
    let mut proc = match Service::spawn(ctx.config, &cmd, &[]) {
        Ok(p) => p,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let started = Instant::now();
    let limit = Duration::from_secs(spec.timeout_secs);
    let status = loop {
        if let Some(s) = proc.try_exit() {
            break Some(s);
        }
        if started.elapsed() >= limit {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(50)).await; // let the output pumps drain
    let tail = proc.output.tail(30);
    proc.stop(Duration::from_secs(2)).await;
    let output = Evidence::Output { label: format!("last lines of `{cmd}`"), lines: tail };
    match status {
        Some(s) if s.success() => Outcome::pass(format!("`{cmd}` passed in {took:.1} s")),
        Some(s) => Outcome::fail(format!("`{cmd}` failed ({s}) after {took:.1} s")).with(output),
        None => {
            Outcome::fail(format!("`{cmd}` did not finish within {} s and was stopped", spec.timeout_secs)).with(output)
        }
    }
}
