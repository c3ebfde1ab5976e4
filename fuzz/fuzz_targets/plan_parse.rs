//! The plan analyser on arbitrary EXPLAIN output (PostgreSQL and MySQL JSON, SQLite rows):
//! no panic, and a parsed tree can be described and judged.
#![no_main]

use labgrade::plan::{self, PlanExpect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let expect = PlanExpect { no_sort: true, no_full_scan: vec!["invoices".into()], max_rows: Some(1000.0), ..Default::default() };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        for tree in [plan::parse_postgres(&v), plan::parse_mysql(&v)].into_iter().flatten() {
            let _ = tree.describe();
            let _ = plan::judge(&tree, &expect, &[]);
        }
    }
    // SQLite's EXPLAIN QUERY PLAN: (id, parent, detail) rows, one per line "id parent detail".
    let rows: Vec<(i64, i64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ' ');
            Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next().unwrap_or("").to_string()))
        })
        .collect();
    if let Ok(tree) = plan::parse_sqlite(&rows) {
        let _ = plan::judge(&tree, &expect, &[]);
    }
});
