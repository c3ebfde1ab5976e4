//! SQLite `EXPLAIN QUERY PLAN`: rows of (id, parent, notused, detail) such as
//! `SEARCH invoices USING INDEX ic (customer_id=?)`, `SCAN invoices`,
//! `USE TEMP B-TREE FOR ORDER BY`. SQLite gives no row estimates.

use super::{Access, PlanNode};

pub fn parse(rows: &[(i64, i64, String)]) -> Result<PlanNode, String> {
    let mut root = PlanNode::new("QUERY PLAN", Access::Other);
    // Children follow their parent in the output, so a stack of open ids builds the tree.
    let mut path: Vec<i64> = Vec::new();
    for (id, parent, detail) in rows {
        while let Some(last) = path.last() {
            if last == parent {
                break;
            }
            path.pop();
        }
        let mut at = &mut root;
        for _ in 0..path.len() {
            at = at.children.last_mut().ok_or("EXPLAIN QUERY PLAN rows are out of order")?;
        }
        at.children.push(node(detail));
        path.push(*id);
    }
    Ok(root)
}

fn node(detail: &str) -> PlanNode {
    let words: Vec<&str> = detail.split_whitespace().collect();
    let verb = words.first().copied().unwrap_or("");
    if detail.starts_with("USE TEMP B-TREE") {
        return PlanNode::new(detail, Access::Sort);
    }
    if verb != "SCAN" && verb != "SEARCH" {
        return PlanNode::new(detail, Access::Other);
    }
    let table = words.get(1).map(|t| t.to_string());
    let index = match detail.find(" INDEX ") {
        Some(i) => detail[i + 7..].split_whitespace().next().map(str::to_string),
        None if detail.contains("INTEGER PRIMARY KEY") => Some("INTEGER PRIMARY KEY".to_string()),
        None => None,
    };
    let access = if index.is_some() { Access::IndexScan } else { Access::FullScan };
    let mut n = PlanNode::new(verb, access);
    n.relation = table;
    n.index = index;
    n
}
