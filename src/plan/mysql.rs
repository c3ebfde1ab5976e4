//! MySQL and MariaDB `EXPLAIN FORMAT=JSON`. The two differ in shape (`nested_loop`,
//! `read_sorted_file`, `ordering_operation`, …), so the tree is walked generically: an
//! object with `table_name` is a table read, a `filesort` or `using_filesort: true` is a
//! sort, and every other object that holds such nodes becomes a plain step.

use super::{Access, PlanNode};
use serde_json::Value;

pub fn parse(explain: &Value) -> Result<PlanNode, String> {
    let block = explain.get("query_block").ok_or("EXPLAIN output has no \"query_block\"")?;
    let mut root = PlanNode::new("query_block", Access::Other);
    root.children = children(block);
    Ok(root)
}

fn children(v: &Value) -> Vec<PlanNode> {
    let mut out = Vec::new();
    match v {
        Value::Array(a) => {
            for item in a {
                out.extend(children(item));
            }
        }
        Value::Object(o) => {
            for (k, child) in o {
                if !(child.is_object() || child.is_array()) {
                    continue;
                }
                if let Some(t) = child.get("table_name").filter(|_| k == "table") {
                    out.push(table(child, t));
                } else if k == "filesort" || (child.get("using_filesort") == Some(&Value::Bool(true))) {
                    let mut n =
                        PlanNode::new(if k == "filesort" { "filesort".to_string() } else { k.clone() }, Access::Sort);
                    n.children = children(child);
                    out.push(n);
                } else {
                    let nested = children(child);
                    if !nested.is_empty() {
                        let mut n = PlanNode::new(k.clone(), Access::Other);
                        n.children = nested;
                        // Collapse pure containers (`nested_loop: [ {table} ]`).
                        if k == "nested_loop" || child.is_array() {
                            out.extend(n.children);
                        } else {
                            out.push(n);
                        }
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn table(v: &Value, name: &Value) -> PlanNode {
    let access_type = v.get("access_type").and_then(Value::as_str).unwrap_or("?").to_string();
    let access = match access_type.as_str() {
        "ALL" => Access::FullScan,
        "system" | "const" => Access::Other,
        _ if v.get("key").is_some() => Access::IndexScan,
        _ => Access::Other,
    };
    let mut n = PlanNode::new(format!("access {access_type}"), access);
    n.relation = name.as_str().map(str::to_string);
    n.index = v.get("key").and_then(Value::as_str).map(str::to_string);
    n.rows = v.get("rows").or_else(|| v.get("rows_examined_per_scan")).and_then(Value::as_f64);
    // A table read can sort on its own (`using_filesort` inside the table object).
    if v.get("using_filesort") == Some(&Value::Bool(true)) {
        let mut sort = PlanNode::new("filesort", Access::Sort);
        sort.children.push(n);
        return sort;
    }
    n
}
