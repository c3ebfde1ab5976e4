//! `kind = "upstream"`: set how the stand-in dependency behaves for the checks that follow
//! — answer (a status, after a delay, with a JSON body) or hang. The stand-in runs on a
//! loopback port for the whole lab; its URL reaches the service through the environment
//! variable `env` when the service starts, so the runner starts it before the service.

use crate::checks::{Ctx, Outcome};
use crate::upstream::Mode;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The variable the service reads the dependency's base URL from.
    pub env: String,
    pub mode: ModeName,
    /// For `answer`: the status (default 200).
    #[serde(default = "ok")]
    pub status: u16,
    /// For `answer`: wait this long first.
    #[serde(default)]
    pub delay_ms: u64,
    /// For `answer`: the JSON body (default `{}`).
    pub json: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    Answer,
    Hang,
}

fn ok() -> u16 {
    200
}

/// What the stand-in does before any step sets it: answer 200 with `{}` at once.
pub fn initial_mode() -> Mode {
    Mode::Answer { status: 200, delay: Duration::ZERO, body: "{}".into() }
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        let valid_name = !self.env.is_empty() && self.env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(format!("env {:?} is not an environment variable name", self.env));
        }
        if !(100..=599).contains(&self.status) {
            return Err(format!("status {} is not an HTTP status", self.status));
        }
        if self.delay_ms > 120_000 {
            return Err("delay_ms is at most 120000".into());
        }
        if self.mode == ModeName::Hang && (self.json.is_some() || self.delay_ms > 0 || self.status != 200) {
            return Err("mode = \"hang\" never answers, so status, delay_ms and json do not apply".into());
        }
        Ok(())
    }

    pub fn mode(&self) -> Mode {
        match self.mode {
            ModeName::Hang => Mode::Hang,
            ModeName::Answer => Mode::Answer {
                status: self.status,
                delay: Duration::from_millis(self.delay_ms),
                body: self.json.as_ref().map_or_else(|| "{}".to_string(), |j| j.to_string()),
            },
        }
    }
}

pub fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let Some(up) = ctx.upstreams.iter().find(|u| u.env == spec.env) else {
        return Outcome::skipped(format!(
            "labgrade runs the stand-in for {} and hands its URL to the service it starts; with --url it cannot",
            spec.env
        ));
    };
    let mode = spec.mode();
    up.set_mode(mode.clone());
    Outcome::pass(format!("{} ({}) now {}", spec.env, up.url, mode.describe()))
}
