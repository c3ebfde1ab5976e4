//! Bulk rows into the learner's tables: COPY on PostgreSQL, batched multi-row INSERTs on
//! MySQL/MariaDB and SQLite, then ANALYZE so the planner sees the new volume.

use super::generate::{Cell, Gen, Ready, Rng, format_micros};
use super::{Database, DbError, DbErrorKind, Dialect, Pool, catalog};
use sqlx::AssertSqlSafe;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One table's seed, resolved from the spec.
pub struct Plan<'a> {
    pub step: &'a str,
    pub table: &'a str,
    pub rows: u64,
    /// Column → generator, in the spec's order.
    pub columns: &'a [(String, Gen)],
    /// Columns left out when the learner's table does not have them.
    pub optional: &'a [String],
    /// Columns whose values later steps need (refs, captures, cleanup of seeded rows).
    pub keep: &'a [String],
}

pub struct Seeded {
    pub rows: u64,
    pub took: Duration,
    /// Values of the kept columns, by column.
    pub kept: BTreeMap<String, Vec<Cell>>,
    /// Optional columns the table did not have.
    pub skipped: Vec<String>,
}

const BATCH_ROWS: u64 = 500;

pub async fn seed(db: &Database, plan: &Plan<'_>, parents: &BTreeMap<String, Vec<Cell>>) -> Result<Seeded, DbError> {
    let started = Instant::now();
    let have: Vec<String> = catalog::columns(db, plan.table).await?.into_iter().map(|(n, _)| n).collect();
    let mut used: Vec<&(String, Gen)> = Vec::new();
    let mut skipped = Vec::new();
    for c in plan.columns {
        if have.iter().any(|h| h.eq_ignore_ascii_case(&c.0)) {
            used.push(c);
        } else if plan.optional.iter().any(|o| o == &c.0) {
            skipped.push(c.0.clone());
        } else {
            return Err(DbError {
                kind: DbErrorKind::Schema,
                message: format!(
                    "table {} has no column {:?} (it has: {}); this lab seeds that column",
                    plan.table,
                    c.0,
                    have.join(", ")
                ),
            });
        }
    }
    let lookup = |k: &str| parents.get(k).map(Vec::as_slice);
    let gens: Vec<Ready> =
        used.iter().map(|(_, g)| g.ready(&lookup)).collect::<Result<_, _>>().map_err(DbError::other)?;
    let names: Vec<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
    let keep_at: Vec<(usize, String)> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| plan.keep.iter().any(|k| k == *n))
        .map(|(i, n)| (i, n.to_string()))
        .collect();
    let mut kept: BTreeMap<String, Vec<Cell>> = keep_at.iter().map(|(_, n)| (n.clone(), Vec::new())).collect();
    let mut rng = Rng::new(plan.step);
    let mut row = Vec::with_capacity(gens.len());
    let mut next_row = |n: u64, row: &mut Vec<Cell>, kept: &mut BTreeMap<String, Vec<Cell>>| {
        row.clear();
        row.extend(gens.iter().map(|g| g.make(n, &mut rng)));
        for (i, name) in &keep_at {
            if let Some(v) = kept.get_mut(name) {
                v.push(row[*i].clone());
            }
        }
    };
    // How far it is (rows/s, what is left) for the reporters, a few times a second.
    let mut throttle = crate::events::Throttle::new(Duration::from_millis(250));
    let mut report = |done: u64, last: bool| {
        if last || throttle.due() {
            let what = if last { " (all sent; the database is writing them, then ANALYZE)" } else { "" };
            crate::events::progress(crate::events::Progress {
                unit: crate::events::Unit::Rows,
                label: format!("seeding {}{what}", plan.table),
                done,
                total: Some(plan.rows),
                elapsed: started.elapsed(),
                window: None,
            });
        }
    };
    let cols = names.iter().map(|n| quote_ident(db.dialect(), n)).collect::<Vec<_>>().join(", ");
    let table = quote_ident(db.dialect(), plan.table);

    match &db.pool {
        Pool::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            let mut copy = conn.copy_in_raw(&format!("COPY {table} ({cols}) FROM STDIN")).await?;
            let mut buf = Vec::with_capacity(1 << 20);
            for n in 1..=plan.rows {
                next_row(n, &mut row, &mut kept);
                copy_line(&row, &mut buf);
                if buf.len() >= 1 << 20 {
                    copy.send(std::mem::take(&mut buf)).await?;
                    buf.reserve(1 << 20);
                    report(n, false);
                }
            }
            if !buf.is_empty() {
                copy.send(buf).await?;
            }
            report(plan.rows, true);
            copy.finish().await?;
            sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE {table}"))).execute(&mut *conn).await?;
        }
        Pool::Mysql(_) | Pool::Sqlite(_) => {
            let dialect = db.dialect();
            let mut n = 1;
            let mut sql = String::new();
            while n <= plan.rows {
                sql.clear();
                sql.push_str(&format!("INSERT INTO {table} ({cols}) VALUES "));
                let end = (n + BATCH_ROWS - 1).min(plan.rows);
                for i in n..=end {
                    next_row(i, &mut row, &mut kept);
                    if i > n {
                        sql.push(',');
                    }
                    sql.push('(');
                    for (j, c) in row.iter().enumerate() {
                        if j > 0 {
                            sql.push(',');
                        }
                        literal(dialect, c, &mut sql);
                    }
                    sql.push(')');
                }
                db.execute(&sql).await?;
                report(end, end == plan.rows);
                n = end + 1;
            }
            db.execute(&match dialect {
                Dialect::Mysql => format!("ANALYZE TABLE {table}"),
                _ => "ANALYZE".to_string(),
            })
            .await?;
        }
    }
    Ok(Seeded { rows: plan.rows, took: started.elapsed(), kept, skipped })
}

/// Remove seeded rows again (a learner-owned database), by key, in batches.
pub async fn delete(db: &Database, table: &str, key: &str, keys: &[Cell]) -> Result<u64, DbError> {
    let dialect = db.dialect();
    let (t, k) = (quote_ident(dialect, table), quote_ident(dialect, key));
    let mut deleted = 0;
    for chunk in keys.chunks(1000) {
        let mut sql = format!("DELETE FROM {t} WHERE {k} IN (");
        for (i, c) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            literal(dialect, c, &mut sql);
        }
        sql.push(')');
        db.execute(&sql).await?;
        deleted += chunk.len() as u64;
    }
    Ok(deleted)
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_line(row: &[Cell], buf: &mut Vec<u8>) {
    use std::io::Write;
    for (i, c) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match c {
            Cell::Int(v) => {
                let _ = write!(buf, "{v}");
            }
            Cell::Time(us) => {
                let _ = write!(buf, "{}+00", format_micros(*us));
            }
            Cell::Null => buf.extend_from_slice(b"\\N"),
            Cell::Text(s) => {
                for b in s.bytes() {
                    match b {
                        b'\\' => buf.extend_from_slice(b"\\\\"),
                        b'\t' => buf.extend_from_slice(b"\\t"),
                        b'\n' => buf.extend_from_slice(b"\\n"),
                        b'\r' => buf.extend_from_slice(b"\\r"),
                        _ => buf.push(b),
                    }
                }
            }
        }
    }
    buf.push(b'\n');
}

/// A SQL literal: generated values only, with quotes doubled and backslashes escaped for MySQL.
fn literal(dialect: Dialect, c: &Cell, out: &mut String) {
    match c {
        Cell::Int(v) => out.push_str(&v.to_string()),
        Cell::Null => out.push_str("NULL"),
        Cell::Time(us) => {
            let t = format_micros(*us);
            match dialect {
                Dialect::Sqlite => out.push_str(&format!("'{}Z'", t.replacen(' ', "T", 1))),
                Dialect::Postgres => out.push_str(&format!("'{t}+00'")),
                Dialect::Mysql => out.push_str(&format!("'{t}'")),
            }
        }
        Cell::Text(s) => {
            out.push('\'');
            for ch in s.chars() {
                match ch {
                    '\'' => out.push_str("''"),
                    '\\' if dialect == Dialect::Mysql => out.push_str("\\\\"),
                    _ => out.push(ch),
                }
            }
            out.push('\'');
        }
    }
}

pub fn quote_ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// A cell as JSON, for captured variables.
pub fn cell_value(c: &Cell) -> serde_json::Value {
    match c {
        Cell::Int(v) => (*v).into(),
        Cell::Text(s) => s.clone().into(),
        Cell::Time(us) => format!("{}Z", format_micros(*us).replacen(' ', "T", 1)).into(),
        Cell::Null => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes() {
        let mut buf = Vec::new();
        copy_line(&[Cell::Int(5), Cell::Text("a\tb\\c\nd".into()), Cell::Null, Cell::Time(0)], &mut buf);
        assert_eq!(String::from_utf8(buf).unwrap(), "5\ta\\tb\\\\c\\nd\t\\N\t1970-01-01 00:00:00.000000+00\n");
    }

    #[test]
    fn literals_are_quoted_per_dialect() {
        let mut s = String::new();
        literal(Dialect::Mysql, &Cell::Text("O'Brien\\".into()), &mut s);
        assert_eq!(s, "'O''Brien\\\\'");
        s.clear();
        literal(Dialect::Sqlite, &Cell::Time(0), &mut s);
        assert_eq!(s, "'1970-01-01T00:00:00.000000Z'");
        assert_eq!(quote_ident(Dialect::Mysql, "t`x"), "`t``x`");
        assert_eq!(quote_ident(Dialect::Postgres, "invoices"), "\"invoices\"");
    }
}
