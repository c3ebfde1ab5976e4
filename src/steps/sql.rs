//! `kind = "sql"` as a step: setup statements run against the learner's database (create a
//! scratch table, insert a fixture row). Not scored; a failure blocks the checks after it.

use crate::checks::{Ctx, Outcome};
use crate::db::{DbErrorKind, SqlText};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub sql: SqlText,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        self.sql.validate()
    }
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let db = match ctx.database().await {
        Ok(db) => db,
        Err(o) => return o,
    };
    let sql = match spec.sql.get(db.dialect()) {
        Ok(s) => s.to_string(),
        Err(e) => return Outcome::error(e),
    };
    match db.execute(&sql).await {
        Ok(()) => Outcome::pass("setup SQL ran"),
        Err(e) if e.kind == DbErrorKind::Schema => Outcome::fail(format!("setup SQL failed: {e}")),
        Err(e) => Outcome::error(format!("setup SQL failed: {e}")),
    }
}
