//! `kind = "sql"`: query the learner's database — catalog introspection included — and
//! expect rows. E.g. "is `invoices.amount_cents` an integer type?":
//!
//! ```toml
//! query = "SELECT data_type FROM information_schema.columns WHERE table_name = 'invoices' AND column_name = 'amount_cents'"
//! expect = { rows = [{ data_type = "~^(integer|bigint)$" }] }
//! ```

use super::{Ctx, Evidence, Outcome};
use crate::db::{DbErrorKind, SqlText};
use crate::matching;
use crate::template;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub query: SqlText,
    /// Bound parameters (`$1`/`?`); strings may use `{{vars}}`.
    #[serde(default)]
    pub params: Vec<Value>,
    pub expect: Expect,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exactly these rows, in order; each a subset of the row (strings may be `~regex`).
    pub rows: Option<Vec<Value>>,
    /// Exactly this many rows.
    pub count: Option<usize>,
    /// At least one row contains this subset.
    pub some: Option<Value>,
    /// No row contains this subset.
    pub none: Option<Value>,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        self.query.validate()?;
        let e = &self.expect;
        if e.rows.is_none() && e.count.is_none() && e.some.is_none() && e.none.is_none() {
            return Err("expect needs at least one of rows, count, some, none".into());
        }
        Ok(())
    }
}

/// One judged expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
}

/// Judge rows against the expectation. Pure.
pub fn judge(expect: &Expect, rows: &[Map<String, Value>]) -> Vec<Finding> {
    let as_values: Vec<Value> = rows.iter().cloned().map(Value::Object).collect();
    let mut out = Vec::new();
    if let Some(want) = &expect.rows {
        let problems = matching::json_subset(&Value::Array(want.clone()), &Value::Array(as_values.clone()));
        out.push(Finding {
            what: "rows".into(),
            expected: problems
                .iter()
                .map(|m| format!("{}: {}", at(&m.path), m.expected))
                .collect::<Vec<_>>()
                .join("; "),
            actual: problems.iter().map(|m| format!("{}: {}", at(&m.path), m.actual)).collect::<Vec<_>>().join("; "),
            passed: problems.is_empty(),
        });
    }
    if let Some(n) = expect.count {
        out.push(Finding {
            what: "row count".into(),
            expected: n.to_string(),
            actual: rows.len().to_string(),
            passed: rows.len() == n,
        });
    }
    let matches = |subset: &Value| as_values.iter().any(|r| matching::json_subset(subset, r).is_empty());
    if let Some(s) = &expect.some {
        out.push(Finding {
            what: "some row".into(),
            expected: format!("a row containing {s}"),
            actual: format!("no such row among {}", rows.len()),
            passed: matches(s),
        });
    }
    if let Some(s) = &expect.none {
        out.push(Finding {
            what: "no row".into(),
            expected: format!("no row containing {s}"),
            actual: "such a row exists".into(),
            passed: !matches(s),
        });
    }
    out
}

fn at(path: &str) -> String {
    if path.is_empty() { "rows".into() } else { format!("row {}", path.trim_start_matches('/')) }
}

/// Rows as a small text table for evidence.
pub fn table_text(rows: &[Map<String, Value>], limit: usize) -> Vec<String> {
    let mut lines: Vec<String> = rows
        .iter()
        .take(limit)
        .map(|r| r.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("  "))
        .collect();
    if rows.is_empty() {
        lines.push("(no rows)".into());
    } else if rows.len() > limit {
        lines.push(format!("… {} more rows", rows.len() - limit));
    }
    lines
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let db = match ctx.database().await {
        Ok(db) => db,
        Err(o) => return o,
    };
    let query = match spec.query.get(db.dialect()) {
        Ok(q) => q.to_string(),
        Err(e) => return Outcome::error(e),
    };
    let params = match spec.params.iter().map(|p| template::render_json(p, &ctx.vars)).collect::<Result<Vec<_>, _>>() {
        Ok(p) => p,
        Err(e) => return Outcome::skipped(format!("not run: {e}")),
    };
    let expect = match render(&spec.expect, &ctx.vars) {
        Ok(e) => e,
        Err(e) => return Outcome::skipped(format!("not run: {e}")),
    };
    let query_line = Evidence::Output { label: format!("query ({})", db.dialect().name()), lines: vec![query.clone()] };
    let rows = match db.rows(&query, &params).await {
        Ok(r) => r,
        Err(e) if e.kind == DbErrorKind::Schema => {
            return Outcome::fail(format!("the query failed on your schema: {e}")).with(query_line);
        }
        Err(e) => return Outcome::error(format!("the query failed: {e}")).with(query_line),
    };
    let findings = judge(&expect, &rows);
    let failed: Vec<&Finding> = findings.iter().filter(|f| !f.passed).collect();
    if failed.is_empty() {
        return Outcome::pass(format!("{} row(s) as expected", rows.len()));
    }
    let mut o = Outcome::fail(
        failed.iter().map(|f| format!("{}: expected {}", f.what, f.expected)).collect::<Vec<_>>().join("; "),
    );
    for f in failed {
        o = o.with(Evidence::Assert { what: f.what.clone(), expected: f.expected.clone(), actual: f.actual.clone() });
    }
    o.with(Evidence::Output { label: "rows".into(), lines: table_text(&rows, 10) }).with(query_line)
}

fn render(e: &Expect, vars: &template::Vars) -> Result<Expect, template::TemplateError> {
    let r = |v: &Option<Value>| v.as_ref().map(|v| template::render_json(v, vars)).transpose();
    Ok(Expect {
        rows: e.rows.as_ref().map(|rows| rows.iter().map(|v| template::render_json(v, vars)).collect()).transpose()?,
        count: e.count,
        some: r(&e.some)?,
        none: r(&e.none)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(v: Value) -> Vec<Map<String, Value>> {
        v.as_array().unwrap().iter().map(|r| r.as_object().unwrap().clone()).collect()
    }

    #[test]
    fn integer_money_column() {
        let e = Expect { rows: Some(vec![json!({"data_type": "~^(integer|bigint)$"})]), ..Default::default() };
        assert!(judge(&e, &rows(json!([{"data_type": "bigint"}])))[0].passed);
        let f = &judge(&e, &rows(json!([{"data_type": "double precision"}])))[0];
        assert!(!f.passed);
        assert_eq!(f.actual, "row 0/data_type: \"double precision\"");
        let f = &judge(&e, &rows(json!([])))[0];
        assert_eq!(
            (f.expected.as_str(), f.actual.as_str()),
            ("rows: an array of 1 items", "rows: an array of 0 items")
        );
    }

    #[test]
    fn some_none_and_count() {
        let r = rows(json!([{"col": "customer_id", "ref": "customers"}, {"col": "x", "ref": "y"}]));
        let e = Expect {
            some: Some(json!({"col": "customer_id", "ref": "customers"})),
            none: Some(json!({"col": "tenant_id"})),
            count: Some(2),
            ..Default::default()
        };
        assert!(judge(&e, &r).iter().all(|f| f.passed));
        let e =
            Expect { some: Some(json!({"col": "customer_id", "ref": "people"})), count: Some(1), ..Default::default() };
        assert!(judge(&e, &r).iter().all(|f| !f.passed));
    }
}
