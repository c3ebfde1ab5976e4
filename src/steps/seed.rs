//! `kind = "seed"`: bulk rows into one of the learner's tables from generators, e.g.
//!
//! ```toml
//! [[step]]
//! id = "seed-invoices"
//! kind = "seed"
//! table = "invoices"
//! rows = 1_000_000
//! optional = ["currency"]
//! columns = { id = "uuid", customer_id = { ref = "customers.id" }, amount_cents = { int = [100, 500000] } }
//! ```
//!
//! Columns in `optional` are left out when the learner's table does not have them. On a
//! learner-owned database the seeded rows are deleted by key when the lab ends.

use crate::checks::{Ctx, Evidence, Outcome};
use crate::db::generate::Gen;
use crate::db::{DbErrorKind, provision, seed as writer};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub table: String,
    pub rows: u64,
    pub columns: BTreeMap<String, Gen>,
    #[serde(default)]
    pub optional: Vec<String>,
    /// The key column, for deleting seeded rows from a learner-owned database.
    #[serde(default = "id")]
    pub key: String,
    /// Variable name → column: the value of a row in the middle of the seed.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

fn id() -> String {
    "id".into()
}

pub const MAX_ROWS: u64 = 10_000_000;

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_ROWS).contains(&self.rows) {
            return Err(format!("rows = {}: expected 1..={MAX_ROWS}", self.rows));
        }
        if self.columns.is_empty() {
            return Err("a seed needs at least one column".into());
        }
        for (name, g) in &self.columns {
            g.validate().map_err(|e| format!("columns.{name}: {e}"))?;
        }
        if !self.columns.contains_key(&self.key) {
            return Err(format!("key = {:?} is not one of the seeded columns", self.key));
        }
        for (var, col) in &self.capture {
            if !self.columns.contains_key(col) {
                return Err(format!("capture.{var} = {col:?} is not one of the seeded columns"));
            }
        }
        for o in &self.optional {
            if !self.columns.contains_key(o) || *o == self.key {
                return Err(format!("optional {o:?} must be a seeded column other than the key"));
            }
        }
        Ok(())
    }

    /// `table.column` names this seed provides to later `ref` generators.
    pub fn refs(&self) -> impl Iterator<Item = &str> {
        self.columns.values().filter_map(|g| match g {
            Gen::Ref(r) => Some(r.as_str()),
            _ => None,
        })
    }
}

pub async fn run(step_id: &str, spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let db = match ctx.database().await {
        Ok(db) => db,
        Err(o) => return o,
    };
    // Keep only what is needed later: values other seeds reference, captures, and the keys
    // to delete afterwards — a million rows of everything would be memory for nothing.
    let mut keep: Vec<String> = spec.capture.values().cloned().collect();
    let throwaway = ctx.database_is_throwaway();
    if !throwaway {
        keep.push(spec.key.clone());
    }
    for r in ctx.lab.steps.iter().filter_map(|s| match &s.spec {
        crate::steps::StepSpec::Seed(other) => Some(other.refs().collect::<Vec<_>>()),
        _ => None,
    }) {
        for full in r {
            if let Some((t, c)) = full.split_once('.')
                && t == spec.table
            {
                keep.push(c.to_string());
            }
        }
    }
    let columns: Vec<(String, Gen)> = spec.columns.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // The run seed and the step's id: the same rows for the same seed, other rows next run.
    let stream = format!("{}/{step_id}", ctx.seed);
    let plan = writer::Plan {
        step: &stream,
        table: &spec.table,
        rows: spec.rows,
        columns: &columns,
        optional: &spec.optional,
        keep: &keep,
    };
    match writer::seed(&db, &plan, &ctx.seeded).await {
        Ok(mut done) => {
            for (var, col) in &spec.capture {
                if let Some(v) = done.kept.get(col).and_then(|v| v.get(v.len() / 2)) {
                    let value = match writer::cell_value(v) {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    ctx.vars.insert(var.clone(), value);
                }
            }
            if !throwaway && let Some(keys) = done.kept.get(&spec.key) {
                provision::delete_later(ctx.database_url().unwrap_or_default(), &spec.table, &spec.key, keys.clone());
            }
            for (col, values) in std::mem::take(&mut done.kept) {
                ctx.seeded.insert(format!("{}.{col}", spec.table), values);
            }
            let secs = done.took.as_secs_f64();
            let rows = if done.rows == 1 { "1 row".to_string() } else { format!("{} rows", done.rows) };
            // A rate only means something at volume.
            let rate = if done.rows >= 10_000 {
                format!(" ({:.0} rows/s)", done.rows as f64 / secs.max(1e-6))
            } else {
                String::new()
            };
            let mut o = Outcome::pass(format!("seeded {rows} into {} in {secs:.1} s{rate}, then ANALYZE", spec.table));
            if !done.skipped.is_empty() {
                o = o.with(Evidence::Note {
                    text: format!("{} has no {}; seeded without it", spec.table, done.skipped.join(", ")),
                });
            }
            o
        }
        Err(e) if e.kind == DbErrorKind::Schema => Outcome::fail(format!("cannot seed {}: {e}", spec.table)),
        Err(e) => Outcome::error(format!("cannot seed {}: {e}", spec.table)),
    }
}
