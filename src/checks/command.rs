//! `kind = "command"`: run the learner's own test command (`[service] test` in labgrade.toml)
//! with a timeout; it passes on exit 0. Runs like the service: in the learner's repo, in its
//! own process group, with the service's environment, and is cleaned up the same way.

use super::{Ctx, Evidence, Outcome};
use crate::service::Service;
use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    let failing = proc.output.with_lines(|lines| failing_tests(lines.iter().map(|(_, l)| l.as_str())));
    proc.stop(Duration::from_secs(2)).await;
    let output = Evidence::Output { label: format!("last lines of `{cmd}`"), lines: tail };
    let mut outcome = match status {
        Some(s) if s.success() => return Outcome::pass(format!("`{cmd}` passed in {took:.1} s")),
        Some(s) => Outcome::fail(format!("`{cmd}` failed ({s}) after {took:.1} s")),
        None => Outcome::fail(format!("`{cmd}` did not finish within {} s and was stopped", spec.timeout_secs)),
    };
    // The summary at the end of the output rarely says which test failed; name them first.
    if !failing.is_empty() {
        outcome = outcome.with(Evidence::Output { label: "failing tests".into(), lines: failing });
    }
    outcome.with(output)
}

/// Most lines kept about failing tests, so a suite that fails everywhere stays readable.
const MAX_FAILING_LINES: usize = 40;

/// The lines of a test run's output that name a failing test, with the assertion message
/// that follows each where the format gives one. Knows TAP (node --test, tap), Jest/Vitest,
/// Mocha, pytest, cargo test and go test; anything else yields nothing. Pure.
pub fn failing_tests<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    // Lines of a TAP failure's YAML block worth showing, until the block ends.
    let mut in_tap_block = false;
    for line in lines {
        let t = line.trim_start();
        if in_tap_block {
            if t == "..." || t.starts_with("ok ") || t.starts_with("not ok ") || t.starts_with("# Subtest") {
                in_tap_block = false;
            } else if ["error:", "expected:", "actual:", "operator:", "code:", "message:"]
                .iter()
                .any(|k| t.starts_with(k))
            {
                out.push(format!("    {t}"));
                continue;
            } else {
                continue;
            }
        }
        let failing = (t.starts_with("not ok ") && !t.contains("# SKIP") && !t.contains("# TODO"))
            || t.starts_with("✕ ")
            || t.starts_with("× ")
            || t.starts_with("FAILED ")
            || t.starts_with("--- FAIL: ")
            || (t.starts_with("test ") && t.ends_with(" ... FAILED"));
        if failing {
            // node --test repeats a failing file as a parent "not ok" without a message of its
            // own; the subtest line before it already names the test.
            out.push(t.to_string());
            in_tap_block = t.starts_with("not ok ");
        }
        if out.len() >= MAX_FAILING_LINES {
            out.push("…".into());
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::failing_tests;

    #[test]
    fn tap_failures_are_named_with_their_message() {
        let out = "# Subtest: adds\nok 1 - adds\n  ---\n  duration_ms: 1\n  ...\n# Subtest: rejects PORT=abc\nnot ok 2 - rejects PORT=abc\n  ---\n  duration_ms: 3\n  failureType: 'testCodeFailure'\n  error: 'Expected values to be strictly equal'\n  expected: 1\n  actual: 0\n  stack: |-\n    at x\n  ...\nok 3 - skipped one # SKIP\n# fail 1";
        assert_eq!(
            failing_tests(out.lines()),
            vec![
                "not ok 2 - rejects PORT=abc",
                "    error: 'Expected values to be strictly equal'",
                "    expected: 1",
                "    actual: 0",
            ]
        );
    }

    #[test]
    fn other_runners_and_a_passing_run() {
        let out = "  ✓ works\n  ✕ parses config (3 ms)\nFAILED tests/test_cfg.py::test_port - assert 0 == 1\n--- FAIL: TestPort (0.00s)\ntest config::port ... FAILED\ntest config::ok ... ok";
        assert_eq!(failing_tests(out.lines()).len(), 4);
        assert!(failing_tests("ok 1 - a\n# pass 1\nnot ok 2 - b # TODO later".lines()).is_empty());
    }
}
