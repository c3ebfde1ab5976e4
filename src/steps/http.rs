//! `kind = "http"` as a step: one request that sets up state through the service's own API
//! (send an invoice so a later check can see its ETag change). Not scored; when the status
//! is not the expected one, the checks after it are not judged.

use crate::checks::{Ctx, Evidence, Outcome, http};
use crate::matching::StatusExpect;
use crate::request::RequestSpec;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub request: RequestSpec,
    pub status: StatusExpect,
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        self.status.validate()
    }
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let prepared = match ctx.prepare(&spec.request) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let curl = Evidence::Curl { line: prepared.curl() };
    match prepared.send(&ctx.client).await {
        Ok(r) if spec.status.matches(r.status) => {
            let missing = http::capture(&spec.capture, &r, &mut ctx.vars);
            if missing.is_empty() {
                Outcome::pass(format!("{} {} → {}", prepared.method, prepared.url.path(), r.status))
            } else {
                Outcome::fail(format!("could not capture {}", missing.join(", "))).with(curl)
            }
        }
        Ok(r) => Outcome::fail(format!(
            "{} {} answered {}, expected {}",
            prepared.method,
            prepared.url.path(),
            r.status,
            spec.status.describe()
        ))
        .with(curl),
        Err(e) => Outcome::fail(format!("{} {}: {e}", prepared.method, prepared.url.path())).with(curl),
    }
}
