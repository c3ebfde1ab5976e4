//! Query plans, dialect-free: each dialect's EXPLAIN output becomes one [`PlanNode`] tree,
//! and judging a plan (index used, no full scan, no sort, row estimates) and a table's index
//! set (count, redundant prefixes) are pure functions of that tree and the catalog.

mod mysql;
mod postgres;
mod sqlite;

pub use mysql::parse as parse_mysql;
pub use postgres::parse as parse_postgres;
pub use sqlite::parse as parse_sqlite;

/// What a plan node does to its table, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads every row of the table (Seq Scan, `ALL`, `SCAN t`).
    FullScan,
    /// Reads through an index.
    IndexScan,
    /// Sorts its input (Sort, filesort, temp B-tree).
    Sort,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanNode {
    /// What the dialect calls the step, e.g. "Index Scan Backward" or "ref".
    pub label: String,
    pub access: Access,
    pub relation: Option<String>,
    pub index: Option<String>,
    /// The planner's row estimate for this node, where the dialect gives one.
    pub rows: Option<f64>,
    pub children: Vec<PlanNode>,
}

impl PlanNode {
    pub fn new(label: impl Into<String>, access: Access) -> PlanNode {
        PlanNode { label: label.into(), access, relation: None, index: None, rows: None, children: vec![] }
    }

    /// One line per node, indented by depth, in the order a reader scans the tree.
    pub fn lines(&self) -> Vec<String> {
        self.flatten().iter().map(|(depth, n)| format!("{}{}", "  ".repeat(*depth), n.describe())).collect()
    }

    /// Nodes in pre-order with their depth; indexes line up with [`PlanNode::lines`].
    pub fn flatten(&self) -> Vec<(usize, &PlanNode)> {
        fn walk<'a>(n: &'a PlanNode, depth: usize, out: &mut Vec<(usize, &'a PlanNode)>) {
            out.push((depth, n));
            for c in &n.children {
                walk(c, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(self, 0, &mut out);
        out
    }

    pub fn describe(&self) -> String {
        let mut s = self.label.clone();
        if let Some(i) = &self.index {
            s.push_str(&format!(" using {i}"));
        }
        if let Some(r) = &self.relation {
            s.push_str(&format!(" on {r}"));
        }
        if let Some(rows) = self.rows {
            s.push_str(&format!(" (rows={rows})"));
        }
        s
    }
}

/// One index of a table, from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    pub name: String,
    /// Key columns in order, lower-case; `expr` for an expression.
    pub columns: Vec<String>,
    pub unique: bool,
    pub partial: bool,
}

/// Indexes made pointless by another whose key columns start with theirs:
/// `(redundant, covered_by)`. Unique and partial indexes do more than speed up reads, so
/// they are never called redundant; expression indexes are left alone.
pub fn redundant_prefixes(indexes: &[IndexInfo]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, a) in indexes.iter().enumerate() {
        if a.unique || a.partial || a.columns.is_empty() || a.columns.iter().any(|c| c == "expr") {
            continue;
        }
        let cover = indexes.iter().enumerate().find(|(j, b)| {
            *j != i
                && !b.partial
                && b.columns.len() >= a.columns.len()
                && b.columns[..a.columns.len()] == a.columns[..]
                // Of two identical indexes, only the later one is the redundant one.
                && (b.columns.len() > a.columns.len() || *j < i)
        });
        if let Some((_, b)) = cover {
            out.push((a.name.clone(), b.name.clone()));
        }
    }
    out
}

/// What a plan must show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanExpect {
    /// Some node reads `table` through an index with this name and/or these leading columns.
    pub uses_index: Option<IndexWanted>,
    /// No full scan of these tables.
    pub no_full_scan: Vec<String>,
    pub no_sort: bool,
    /// No node that reads a table estimates more rows than this.
    pub max_rows: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexWanted {
    pub table: String,
    pub name: Option<String>,
    pub leading: Vec<String>,
}

/// One judged expectation of a plan; `node` points into [`PlanNode::lines`].
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
    pub node: Option<usize>,
}

fn same(a: &str, b: &str) -> bool {
    a.trim_matches('"').eq_ignore_ascii_case(b.trim_matches('"'))
}

pub fn judge(plan: &PlanNode, expect: &PlanExpect, indexes: &[IndexInfo]) -> Vec<Finding> {
    let nodes = plan.flatten();
    fn on<'n, 'a>(
        nodes: &'n [(usize, &'a PlanNode)],
        table: &'n str,
    ) -> impl Iterator<Item = (usize, &'n (usize, &'a PlanNode))> + 'n {
        nodes.iter().enumerate().filter(move |(_, (_, n))| n.relation.as_deref().is_some_and(|r| same(r, table)))
    }
    let mut out = Vec::new();
    if let Some(want) = &expect.uses_index {
        let wanted = describe_wanted(want);
        let columns_of =
            |name: &str| indexes.iter().find(|i| same(&i.name, name)).map(|i| i.columns.clone()).unwrap_or_default();
        let fits = |n: &PlanNode| {
            let Some(name) = n.index.as_deref() else { return false };
            n.access == Access::IndexScan
                && want.name.as_deref().is_none_or(|w| same(w, name))
                && (want.leading.is_empty() || {
                    let cols = columns_of(name);
                    cols.len() >= want.leading.len() && cols.iter().zip(&want.leading).all(|(c, w)| same(c, w))
                })
        };
        let hit = on(&nodes, &want.table).find(|(_, (_, n))| fits(n));
        let finding = match hit {
            Some((i, (_, n))) => Finding {
                what: format!("index use on {}", want.table),
                expected: wanted,
                actual: index_text(n, &columns_of),
                passed: true,
                node: Some(i),
            },
            None => {
                let first = on(&nodes, &want.table).next();
                let actual = match first {
                    Some((_, (_, n))) if n.index.is_some() => index_text(n, &columns_of),
                    Some((_, (_, n))) => format!("{} of {} (no index)", n.label, want.table),
                    None => format!("no step of the plan reads {}", want.table),
                };
                Finding {
                    what: format!("index use on {}", want.table),
                    expected: wanted,
                    actual,
                    passed: false,
                    node: first.map(|(i, _)| i),
                }
            }
        };
        out.push(finding);
    }
    for table in &expect.no_full_scan {
        let scan = on(&nodes, table).find(|(_, (_, n))| n.access == Access::FullScan);
        out.push(Finding {
            what: format!("no full scan of {table}"),
            expected: format!("{table} read through an index"),
            actual: match scan {
                Some((_, (_, n))) => format!("{} reads every row of {table}", n.label),
                None => "no full scan".into(),
            },
            passed: scan.is_none(),
            node: scan.map(|(i, _)| i),
        });
    }
    if expect.no_sort {
        let sort = nodes.iter().enumerate().find(|(_, (_, n))| n.access == Access::Sort);
        out.push(Finding {
            what: "no sort step".into(),
            expected: "rows come out of an index already in order".into(),
            actual: match sort {
                Some((_, (_, n))) => format!("a {} step sorts the rows", n.label),
                None => "no sort step".into(),
            },
            passed: sort.is_none(),
            node: sort.map(|(i, _)| i),
        });
    }
    if let Some(max) = expect.max_rows {
        let over = nodes.iter().enumerate().find(|(_, (_, n))| n.relation.is_some() && n.rows.is_some_and(|r| r > max));
        out.push(Finding {
            what: "estimated rows".into(),
            expected: format!("at most {max} rows estimated for any table read"),
            actual: match over {
                Some((_, (_, n))) => format!("{} estimates {} rows", n.label, n.rows.unwrap_or_default()),
                None => "within the limit".into(),
            },
            passed: over.is_none(),
            node: over.map(|(i, _)| i),
        });
    }
    out
}

fn describe_wanted(w: &IndexWanted) -> String {
    match (&w.name, w.leading.is_empty()) {
        (Some(n), true) => format!("{} read through index {n}", w.table),
        (Some(n), false) => format!("{} read through index {n} leading with ({})", w.table, w.leading.join(", ")),
        (None, false) => format!("{} read through an index leading with ({})", w.table, w.leading.join(", ")),
        (None, true) => format!("{} read through an index", w.table),
    }
}

fn index_text(n: &PlanNode, columns_of: &dyn Fn(&str) -> Vec<String>) -> String {
    let name = n.index.clone().unwrap_or_default();
    let cols = columns_of(&name);
    if cols.is_empty() {
        format!("{} using {name}", n.label)
    } else {
        format!("{} using {name} ({})", n.label, cols.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(name: &str, cols: &[&str]) -> IndexInfo {
        IndexInfo {
            name: name.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            unique: false,
            partial: false,
        }
    }

    #[test]
    fn prefix_of_another_index_is_redundant() {
        let mut pk = idx("invoices_pkey", &["id"]);
        pk.unique = true;
        let set = vec![
            pk,
            idx("by_customer", &["customer_id"]),
            idx("by_customer_created", &["customer_id", "created_at"]),
            idx("composite", &["customer_id", "created_at", "id"]),
        ];
        assert_eq!(
            redundant_prefixes(&set),
            vec![
                ("by_customer".to_string(), "by_customer_created".to_string()),
                ("by_customer_created".to_string(), "composite".to_string())
            ]
        );
    }

    #[test]
    fn unique_partial_different_order_and_duplicates() {
        let mut u = idx("u", &["customer_id"]);
        u.unique = true;
        let mut p = idx("p", &["customer_id", "created_at"]);
        p.partial = true;
        assert!(redundant_prefixes(&[u, idx("c", &["customer_id", "created_at"])]).is_empty());
        assert!(redundant_prefixes(&[idx("a", &["customer_id"]), p]).is_empty());
        assert!(redundant_prefixes(&[idx("a", &["created_at", "customer_id"]), idx("b", &["customer_id"])]).is_empty());
        assert_eq!(redundant_prefixes(&[idx("a", &["x"]), idx("b", &["x"])]), vec![("b".to_string(), "a".to_string())]);
    }

    fn scan(label: &str, access: Access, rel: &str, index: Option<&str>, rows: f64) -> PlanNode {
        PlanNode {
            label: label.into(),
            access,
            relation: Some(rel.into()),
            index: index.map(str::to_string),
            rows: Some(rows),
            children: vec![],
        }
    }

    #[test]
    fn judges_a_good_and_a_bad_plan() {
        let indexes =
            vec![idx("good", &["customer_id", "created_at", "id"]), idx("wrong", &["created_at", "customer_id"])];
        let expect = PlanExpect {
            uses_index: Some(IndexWanted {
                table: "invoices".into(),
                name: None,
                leading: vec!["customer_id".into(), "created_at".into()],
            }),
            no_full_scan: vec!["invoices".into()],
            no_sort: true,
            max_rows: Some(1000.0),
        };
        let mut good = PlanNode::new("Limit", Access::Other);
        good.children.push(scan("Index Scan", Access::IndexScan, "invoices", Some("good"), 100.0));
        assert!(judge(&good, &expect, &indexes).iter().all(|f| f.passed));

        let mut bad = PlanNode::new("Limit", Access::Other);
        let mut sort = PlanNode::new("Sort", Access::Sort);
        sort.children.push(scan("Seq Scan", Access::FullScan, "invoices", None, 5000.0));
        bad.children.push(sort);
        let f = judge(&bad, &expect, &indexes);
        assert!(f.iter().all(|f| !f.passed), "{f:?}");
        assert_eq!(f[0].node, Some(2));
        assert_eq!(f[0].actual, "Seq Scan of invoices (no index)");
        assert_eq!(f[2].node, Some(1));

        let mut wrong = PlanNode::new("Limit", Access::Other);
        wrong.children.push(scan("Index Scan Backward", Access::IndexScan, "invoices", Some("wrong"), 100.0));
        let f = judge(&wrong, &expect, &indexes);
        assert!(!f[0].passed);
        assert_eq!(f[0].actual, "Index Scan Backward using wrong (created_at, customer_id)");
        assert!(f[1].passed && f[2].passed);
        assert_eq!(wrong.lines(), vec!["Limit", "  Index Scan Backward using wrong on invoices (rows=100)"]);
    }
}

#[cfg(test)]
mod recorded {
    //! Real EXPLAIN output of the lab's hot query, recorded from each dialect.
    use super::*;
    use serde_json::Value;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn sqlite(text: &str) -> PlanNode {
        let rows: Vec<(i64, i64, i64, String)> = serde_json::from_str(text).unwrap();
        parse_sqlite(&rows.into_iter().map(|(id, parent, _, d)| (id, parent, d)).collect::<Vec<_>>()).unwrap()
    }

    fn hot_query() -> PlanExpect {
        PlanExpect {
            uses_index: Some(IndexWanted {
                table: "invoices".into(),
                name: None,
                leading: vec!["customer_id".into(), "created_at".into()],
            }),
            no_full_scan: vec!["invoices".into()],
            no_sort: true,
            max_rows: None,
        }
    }

    fn passed(plan: &PlanNode, indexes: &[IndexInfo]) -> Vec<bool> {
        judge(plan, &hot_query(), indexes).iter().map(|f| f.passed).collect()
    }

    fn ic() -> Vec<IndexInfo> {
        vec![IndexInfo {
            name: "ic".into(),
            columns: vec!["customer_id".into(), "created_at".into()],
            unique: false,
            partial: false,
        }]
    }

    #[test]
    fn postgres_plans() {
        let bad = parse_postgres(&json(include_str!("testdata/postgres-seqscan-sort.json"))).unwrap();
        assert!(bad.lines()[2].trim().starts_with("Sort"), "{:?}", bad.lines());
        assert!(bad.lines()[3].trim().starts_with("Parallel Seq Scan on invoices"), "{:?}", bad.lines());
        assert_eq!(passed(&bad, &[]), vec![false, false, false]);

        let good = parse_postgres(&json(include_str!("testdata/postgres-index-backward.json"))).unwrap();
        assert!(good.lines()[1].trim().starts_with("Index Scan Backward using ic on invoices"), "{:?}", good.lines());
        assert_eq!(passed(&good, &ic()), vec![true, true, true]);

        let wrong = parse_postgres(&json(include_str!("testdata/postgres-wrong-order.json"))).unwrap();
        let cols = vec![IndexInfo {
            name: "wrong".into(),
            columns: vec!["created_at".into(), "customer_id".into()],
            unique: false,
            partial: false,
        }];
        assert_eq!(passed(&wrong, &cols), vec![false, true, true]);
    }

    #[test]
    fn mariadb_plans() {
        let bad = parse_mysql(&json(include_str!("testdata/mariadb-seqscan-sort.json"))).unwrap();
        assert_eq!(
            bad.lines(),
            vec!["query_block", "  read_sorted_file", "    filesort", "      access ALL on invoices (rows=19973)"]
        );
        assert_eq!(passed(&bad, &[]), vec![false, false, false]);
        let good = parse_mysql(&json(include_str!("testdata/mariadb-index.json"))).unwrap();
        assert_eq!(good.lines(), vec!["query_block", "  access ref using ic on invoices (rows=200)"]);
        assert_eq!(passed(&good, &ic()), vec![true, true, true]);
    }

    #[test]
    fn mysql8_ordering_operation_is_a_sort() {
        let v = json(
            r#"{"query_block": {"select_id": 1, "ordering_operation": {"using_filesort": true,
                "table": {"table_name": "invoices", "access_type": "ALL", "rows_examined_per_scan": 1000}}}}"#,
        );
        let p = parse_mysql(&v).unwrap();
        assert_eq!(p.lines(), vec!["query_block", "  ordering_operation", "    access ALL on invoices (rows=1000)"]);
        assert_eq!(passed(&p, &[]), vec![false, false, false]);
    }

    #[test]
    fn sqlite_plans() {
        let bad = sqlite(include_str!("testdata/sqlite-scan-sort.json"));
        assert_eq!(bad.lines(), vec!["QUERY PLAN", "  SCAN on invoices", "  USE TEMP B-TREE FOR ORDER BY"]);
        assert_eq!(passed(&bad, &[]), vec![false, false, false]);
        let good = sqlite(include_str!("testdata/sqlite-index.json"));
        assert_eq!(good.lines(), vec!["QUERY PLAN", "  SEARCH using ic on invoices"]);
        assert_eq!(passed(&good, &ic()), vec![true, true, true]);
    }

    #[test]
    fn sqlite_nesting_follows_parent_ids() {
        let rows = vec![
            (2, 0, "SCAN a".to_string()),
            (5, 2, "SEARCH b USING INDEX bi (x=?)".to_string()),
            (9, 0, "USE TEMP B-TREE FOR ORDER BY".to_string()),
        ];
        let p = parse_sqlite(&rows).unwrap();
        assert_eq!(
            p.lines(),
            vec!["QUERY PLAN", "  SCAN on a", "    SEARCH using bi on b", "  USE TEMP B-TREE FOR ORDER BY"]
        );
    }
}
