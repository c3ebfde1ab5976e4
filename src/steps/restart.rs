//! `kind = "restart"`: stop the service (SIGTERM, grace, SIGKILL) and start it again, so
//! later checks can ask what survived — data that lives only in process memory does not.
//! The runner performs it: the running service belongs to the runner, not to a step.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {}
