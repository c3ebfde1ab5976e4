//! `kind = "plan"`: how the learner's database would run a query (EXPLAIN with bound
//! parameters) and what indexes a table carries. Expectations: the query reads `table`
//! through an index (by name, or by leading columns read from the catalog), never reads
//! all of it, needs no sort, estimates few rows; the table has at most N indexes and none
//! is a redundant prefix of another. The evidence is the plan tree with the offending step
//! marked.

use super::{Ctx, Evidence, Outcome};
use crate::db::{DbErrorKind, SqlText, catalog};
use crate::plan::{self, IndexWanted, PlanExpect};
use crate::template;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The table the expectations are about.
    pub table: String,
    /// The query to EXPLAIN; none when only the table's indexes are judged.
    pub query: Option<SqlText>,
    #[serde(default)]
    pub params: Vec<Value>,
    /// PostgreSQL only: plan with sequential scans off, in a rolled-back transaction. For
    /// small datasets, where a scan is rightly cheaper; it asks "could an index serve this?"
    #[serde(default)]
    pub force_index: bool,
    pub expect: Expect,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The index the query must use, by name.
    pub index: Option<String>,
    /// The columns the used index must start with, in order.
    #[serde(default)]
    pub leading: Vec<String>,
    #[serde(default)]
    pub no_seq_scan: bool,
    #[serde(default)]
    pub no_sort: bool,
    pub max_rows: Option<f64>,
    /// Write cost: at most this many indexes on `table` (the primary key counts).
    pub max_indexes: Option<usize>,
    /// No index on `table` is a prefix of another.
    #[serde(default)]
    pub no_redundant: bool,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        let e = &self.expect;
        let about_query =
            e.index.is_some() || !e.leading.is_empty() || e.no_seq_scan || e.no_sort || e.max_rows.is_some();
        match &self.query {
            Some(q) => q.validate()?,
            None if about_query || self.force_index => {
                return Err(
                    "expect.index, leading, no_seq_scan, no_sort, max_rows and force_index need a `query` to EXPLAIN"
                        .into(),
                );
            }
            None => {}
        }
        if !about_query && e.max_indexes.is_none() && !e.no_redundant {
            return Err("expect needs at least one of index, leading, no_seq_scan, no_sort, max_rows, max_indexes, no_redundant".into());
        }
        Ok(())
    }

    fn plan_expect(&self) -> PlanExpect {
        let e = &self.expect;
        PlanExpect {
            uses_index: (e.index.is_some() || !e.leading.is_empty()).then(|| IndexWanted {
                table: self.table.clone(),
                name: e.index.clone(),
                leading: e.leading.clone(),
            }),
            no_full_scan: if e.no_seq_scan { vec![self.table.clone()] } else { vec![] },
            no_sort: e.no_sort,
            max_rows: e.max_rows,
        }
    }
}

/// Judge the table's index set. Pure.
pub fn judge_indexes(expect: &Expect, table: &str, indexes: &[plan::IndexInfo]) -> Vec<plan::Finding> {
    let list =
        || indexes.iter().map(|i| format!("{} ({})", i.name, i.columns.join(", "))).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    if let Some(max) = expect.max_indexes {
        out.push(plan::Finding {
            what: format!("indexes on {table}"),
            expected: format!("at most {max}"),
            actual: format!("{}: {}", indexes.len(), list()),
            passed: indexes.len() <= max,
            node: None,
        });
    }
    if expect.no_redundant {
        let r = plan::redundant_prefixes(indexes);
        out.push(plan::Finding {
            what: format!("redundant indexes on {table}"),
            expected: "no index whose columns start another index's columns".into(),
            actual: if r.is_empty() {
                "none".into()
            } else {
                r.iter().map(|(a, b)| format!("{a} is a prefix of {b}")).collect::<Vec<_>>().join("; ")
            },
            passed: r.is_empty(),
            node: None,
        });
    }
    out
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let db = match ctx.database().await {
        Ok(db) => db,
        Err(o) => return o,
    };
    let on_error = |e: crate::db::DbError, what: &str| {
        if e.kind == DbErrorKind::Schema {
            Outcome::fail(format!("{what} failed on your schema: {e}"))
        } else {
            Outcome::error(format!("{what} failed: {e}"))
        }
    };
    let indexes = match catalog::indexes(&db, &spec.table).await {
        Ok(i) => i,
        Err(e) => return on_error(e, "reading the indexes"),
    };
    let mut findings = judge_indexes(&spec.expect, &spec.table, &indexes);
    let mut tree = None;
    let mut query_text = None;
    if let Some(q) = &spec.query {
        let query = match q.get(db.dialect()) {
            Ok(q) => q.to_string(),
            Err(e) => return Outcome::error(e),
        };
        let params =
            match spec.params.iter().map(|p| template::render_json(p, &ctx.vars)).collect::<Result<Vec<_>, _>>() {
                Ok(p) => p,
                Err(e) => return Outcome::skipped(format!("not run: {e}")),
            };
        let plan = match db.explain(&query, &params, spec.force_index).await {
            Ok(p) => p,
            Err(e) => return on_error(e, "EXPLAIN"),
        };
        findings.extend(plan::judge(&plan, &spec.plan_expect(), &indexes));
        query_text = Some(format!("{query}  -- params: {}", Value::Array(params)));
        tree = Some(plan);
    }
    let failed: Vec<&plan::Finding> = findings.iter().filter(|f| !f.passed).collect();
    if failed.is_empty() {
        let how = findings.iter().map(|f| f.actual.clone()).collect::<Vec<_>>().join("; ");
        return Outcome::pass(how);
    }
    let mut o = Outcome::fail(
        failed.iter().map(|f| format!("{}: expected {}", f.what, f.expected)).collect::<Vec<_>>().join("; "),
    );
    for f in &failed {
        o = o.with(Evidence::Assert { what: f.what.clone(), expected: f.expected.clone(), actual: f.actual.clone() });
    }
    if let Some(t) = tree {
        let offending = failed.iter().find_map(|f| f.node);
        o = o.with(Evidence::Plan { dialect: db.dialect().name().to_string(), lines: t.lines(), offending });
    }
    if let Some(q) = query_text {
        o = o.with(Evidence::Output { label: "query".into(), lines: vec![q] });
    }
    o
}
