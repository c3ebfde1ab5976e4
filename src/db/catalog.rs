//! What the catalog says about a learner's table: its columns and its indexes, read the
//! same way on each dialect so plan analysis and seeding stay dialect-free.

use super::{Database, DbError, DbErrorKind, Dialect};
use crate::plan::IndexInfo;
use serde_json::Value;

/// Column names of `table` in catalog order; a missing table is a schema error.
pub async fn columns(db: &Database, table: &str) -> Result<Vec<(String, String)>, DbError> {
    let sql = match db.dialect() {
        Dialect::Postgres => {
            "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
        Dialect::Mysql => {
            "SELECT column_name AS name, data_type AS type FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position"
        }
        Dialect::Sqlite => "SELECT name, type FROM pragma_table_info(?) ORDER BY cid",
    };
    let rows = db.rows(sql, &[Value::from(table)]).await?;
    if rows.is_empty() {
        return Err(DbError { kind: DbErrorKind::Schema, message: format!("there is no table {table:?}") });
    }
    Ok(rows
        .iter()
        .map(|r| (text(r.get("name")).to_ascii_lowercase(), text(r.get("type")).to_ascii_lowercase()))
        .collect())
}

/// The indexes on `table`, key columns in order (`expr` for an expression).
pub async fn indexes(db: &Database, table: &str) -> Result<Vec<IndexInfo>, DbError> {
    columns(db, table).await?;
    let p = [Value::from(table)];
    match db.dialect() {
        Dialect::Postgres => {
            let sql = "SELECT i.relname::text AS name, x.indisunique AS uniq, x.indpred IS NOT NULL AS partial, \
                coalesce((SELECT json_agg(coalesce(a.attname::text, 'expr') ORDER BY k.n) \
                  FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                  LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
                  WHERE k.n <= x.indnkeyatts), '[]'::json) AS cols \
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                WHERE x.indrelid = to_regclass($1) ORDER BY i.relname";
            let rows = db.rows(sql, &p).await?;
            Ok(rows
                .iter()
                .map(|r| IndexInfo {
                    name: text(r.get("name")),
                    columns: r
                        .get("cols")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(|c| text(Some(c)).to_ascii_lowercase()).collect())
                        .unwrap_or_default(),
                    unique: r.get("uniq") == Some(&Value::Bool(true)),
                    partial: r.get("partial") == Some(&Value::Bool(true)),
                })
                .collect())
        }
        Dialect::Mysql => {
            let sql = "SELECT index_name AS name, MIN(non_unique) AS non_unique, \
                GROUP_CONCAT(COALESCE(column_name, 'expr') ORDER BY seq_in_index SEPARATOR ',') AS cols \
                FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? \
                GROUP BY index_name ORDER BY index_name";
            let rows = db.rows(sql, &p).await?;
            Ok(rows
                .iter()
                .map(|r| IndexInfo {
                    name: text(r.get("name")),
                    columns: text(r.get("cols")).split(',').map(|c| c.to_ascii_lowercase()).collect(),
                    unique: r.get("non_unique").and_then(Value::as_i64) == Some(0),
                    partial: false,
                })
                .collect())
        }
        Dialect::Sqlite => {
            let sql = "SELECT il.name AS name, il.\"unique\" AS uniq, il.partial AS partial, ii.name AS col \
                FROM pragma_index_list(?) AS il JOIN pragma_index_info(il.name) AS ii \
                ORDER BY il.name, ii.seqno";
            let rows = db.rows(sql, &p).await?;
            let mut out: Vec<IndexInfo> = Vec::new();
            for r in rows {
                let name = text(r.get("name"));
                let col = match r.get("col") {
                    Some(Value::Null) | None => "expr".to_string(),
                    c => text(c).to_ascii_lowercase(),
                };
                match out.last_mut() {
                    Some(last) if last.name == name => last.columns.push(col),
                    _ => out.push(IndexInfo {
                        name,
                        columns: vec![col],
                        unique: r.get("uniq").and_then(Value::as_i64) == Some(1),
                        partial: r.get("partial").and_then(Value::as_i64) == Some(1),
                    }),
                }
            }
            Ok(out)
        }
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}
