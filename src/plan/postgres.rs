//! PostgreSQL `EXPLAIN (FORMAT JSON)`: `[{"Plan": {"Node Type": …, "Plans": [...]}}]`.

use super::{Access, PlanNode};
use serde_json::Value;

pub fn parse(explain: &Value) -> Result<PlanNode, String> {
    let root = match explain {
        Value::Array(a) => a.first().and_then(|p| p.get("Plan")),
        Value::Object(o) => o.get("Plan"),
        _ => None,
    };
    let root = root.ok_or("EXPLAIN output has no \"Plan\"")?;
    Ok(node(root, None))
}

fn node(v: &Value, parent_relation: Option<&str>) -> PlanNode {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let kind = s("Node Type").unwrap_or_else(|| "?".into());
    let access = match kind.as_str() {
        "Seq Scan" => Access::FullScan,
        "Index Scan" | "Index Only Scan" | "Bitmap Index Scan" => Access::IndexScan,
        "Sort" | "Incremental Sort" => Access::Sort,
        _ => Access::Other,
    };
    let mut label = kind.clone();
    if v.get("Parallel Aware").and_then(Value::as_bool) == Some(true) {
        label = format!("Parallel {label}");
    }
    if s("Scan Direction").as_deref() == Some("Backward") {
        label.push_str(" Backward");
    }
    // A Bitmap Index Scan names no table; it reads for the Bitmap Heap Scan above it.
    let relation = s("Relation Name")
        .or_else(|| (kind == "Bitmap Index Scan").then(|| parent_relation.map(str::to_string)).flatten());
    let children = v
        .get("Plans")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|c| node(c, relation.as_deref())).collect())
        .unwrap_or_default();
    PlanNode {
        label,
        access,
        relation,
        index: s("Index Name"),
        rows: v.get("Plan Rows").and_then(Value::as_f64),
        children,
    }
}
