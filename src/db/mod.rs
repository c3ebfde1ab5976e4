//! The learner's database: connect by URL (PostgreSQL, MySQL/MariaDB, SQLite), run spec
//! queries with bound parameters, and tell a learner's schema problem ("no such table")
//! apart from a grader problem (a broken spec query, a server that is down).

pub mod catalog;
pub mod generate;
pub mod provision;
pub mod seed;

use crate::plan::PlanNode;
use serde_json::{Map, Value};
use sqlx::{AssertSqlSafe, Column, Row, TypeInfo, ValueRef};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    pub fn of_url(url: &str) -> Option<Dialect> {
        let scheme = url.split(':').next().unwrap_or("");
        match scheme {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
        }
    }
}

/// SQL in a spec: one text for every dialect, or one per dialect
/// (`query = { postgres = "…", mysql = "…", sqlite = "…" }`).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SqlText {
    One(String),
    PerDialect(std::collections::BTreeMap<String, String>),
}

impl SqlText {
    pub fn validate(&self) -> Result<(), String> {
        if let SqlText::PerDialect(m) = self {
            for k in m.keys() {
                if !matches!(k.as_str(), "postgres" | "mysql" | "sqlite") {
                    return Err(format!("query for {k:?}: expected keys postgres, mysql, sqlite"));
                }
            }
        }
        Ok(())
    }

    /// The text for `dialect`; an error names the dialects the spec covers.
    pub fn get(&self, dialect: Dialect) -> Result<&str, String> {
        match self {
            SqlText::One(s) => Ok(s),
            SqlText::PerDialect(m) => {
                let key = match dialect {
                    Dialect::Postgres => "postgres",
                    Dialect::Mysql => "mysql",
                    Dialect::Sqlite => "sqlite",
                };
                m.get(key).map(String::as_str).ok_or_else(|| {
                    format!(
                        "this lab has no query for {} (it covers: {})",
                        dialect.name(),
                        m.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Pool {
    Postgres(sqlx::PgPool),
    Mysql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

/// Bind JSON parameters to any sqlx query. Strings go as text, so on PostgreSQL a spec
/// writes `$1::uuid` where the column wants another type.
macro_rules! bind_json {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Value::Null => q.bind(None::<String>),
                Value::Bool(b) => q.bind(*b),
                Value::Number(n) if n.is_i64() => q.bind(n.as_i64()),
                Value::Number(n) => q.bind(n.as_f64()),
                Value::String(s) => q.bind(s.clone()),
                other => q.bind(other.to_string()),
            };
        }
        q
    }};
}

/// A connection pool to the learner's database.
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: Pool,
    /// The URL without its password, for messages.
    pub shown: String,
}

/// Why a query did not give rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The learner's schema lacks what the query names: a missing table or column.
    Schema,
    /// The server refused or could not be reached: the grader cannot judge.
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    pub kind: DbErrorKind,
    pub message: String,
}

impl DbError {
    pub fn other(message: impl Into<String>) -> DbError {
        DbError { kind: DbErrorKind::Other, message: message.into() }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> DbError {
        let schema = match &e {
            sqlx::Error::Database(d) => {
                let code = d.code().map(|c| c.to_string()).unwrap_or_default();
                // undefined table/column (PostgreSQL), table/column not found (MySQL), and
                // SQLite's plain-text equivalents.
                matches!(code.as_str(), "42P01" | "42703" | "42S02" | "42S22")
                    || d.message().starts_with("no such table")
                    || d.message().starts_with("no such column")
            }
            _ => false,
        };
        let message = match &e {
            sqlx::Error::Database(d) => d.message().to_string(),
            other => other.to_string(),
        };
        DbError { kind: if schema { DbErrorKind::Schema } else { DbErrorKind::Other }, message }
    }
}

/// `postgres://u:secret@h/db` → `postgres://u@h/db`.
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The password in a database URL, to redact from reports.
pub fn password_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.password().map(|p| p.to_string())
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Database {
    pub async fn connect(url: &str) -> Result<Database, DbError> {
        let dialect = Dialect::of_url(url).ok_or_else(|| {
            DbError::other(format!(
                "{} is not a database URL labgrade knows; expected postgres://, mysql:// (or mariadb://) or sqlite:",
                without_password(url)
            ))
        })?;
        let shown = without_password(url);
        let fail = |e: sqlx::Error| DbError::other(format!("cannot connect to {shown}: {e}"));
        let pool = match dialect {
            Dialect::Postgres => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect(url)
                    .await
                    .map_err(fail)?,
            ),
            Dialect::Mysql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                Pool::Mysql(
                    sqlx::mysql::MySqlPoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect(&url)
                        .await
                        .map_err(fail)?,
                )
            }
            Dialect::Sqlite => Pool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect(url)
                    .await
                    .map_err(fail)?,
            ),
        };
        Ok(Database { pool, shown })
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::Mysql(_) => Dialect::Mysql,
            Pool::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Run a spec query with bound parameters; each row as a JSON object by column name.
    pub async fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Map<String, Value>>, DbError> {
        let sql = sql.trim().trim_end_matches(';').to_string();
        match &self.pool {
            Pool::Postgres(pool) => {
                // PostgreSQL turns any row into JSON itself, whatever the column types.
                let wrapped = format!("SELECT row_to_json(q)::text FROM ({sql}) AS q");
                let q = bind_json!(sqlx::query_scalar::<_, String>(AssertSqlSafe(wrapped)), params);
                let texts = q.fetch_all(pool).await?;
                texts
                    .iter()
                    .map(|t| match serde_json::from_str(t) {
                        Ok(Value::Object(m)) => Ok(m),
                        _ => Err(DbError::other(format!("PostgreSQL returned a row that is not a JSON object: {t}"))),
                    })
                    .collect()
            }
            Pool::Mysql(pool) => {
                let rows = bind_json!(sqlx::query(AssertSqlSafe(sql)), params).fetch_all(pool).await?;
                Ok(rows.iter().map(mysql_row).collect())
            }
            Pool::Sqlite(pool) => {
                let rows = bind_json!(sqlx::query(AssertSqlSafe(sql)), params).fetch_all(pool).await?;
                Ok(rows.iter().map(sqlite_row).collect())
            }
        }
    }

    /// The plan of a query, parsed. `force_index` (PostgreSQL only) plans with sequential
    /// scans switched off, inside a transaction that is rolled back: on a small table the
    /// planner rightly prefers a scan, and this asks whether an index *could* serve it.
    pub async fn explain(&self, sql: &str, params: &[Value], force_index: bool) -> Result<PlanNode, DbError> {
        let sql = sql.trim().trim_end_matches(';');
        let unparsable = |e: String| DbError::other(format!("cannot read the plan: {e}"));
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if force_index {
                    sqlx::raw_sql("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
                }
                let text = format!("EXPLAIN (FORMAT JSON) {sql}");
                let q = bind_json!(sqlx::query_scalar::<_, Value>(AssertSqlSafe(text)).persistent(false), params);
                let plan = q.fetch_one(&mut *tx).await;
                tx.rollback().await?;
                crate::plan::parse_postgres(&plan?).map_err(unparsable)
            }
            _ if force_index => Err(DbError::other("force_index works on PostgreSQL only")),
            Pool::Mysql(pool) => {
                let q = bind_json!(sqlx::query(AssertSqlSafe(format!("EXPLAIN FORMAT=JSON {sql}"))), params);
                let row = q.fetch_one(pool).await?;
                let text: String = row.try_get(0)?;
                let v: Value = serde_json::from_str(&text).map_err(|e| unparsable(e.to_string()))?;
                crate::plan::parse_mysql(&v).map_err(unparsable)
            }
            Pool::Sqlite(pool) => {
                let q = bind_json!(sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))), params);
                let rows = q.fetch_all(pool).await?;
                let mut out = Vec::new();
                for r in rows {
                    out.push((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?, r.try_get::<String, _>(3)?));
                }
                crate::plan::parse_sqlite(&out).map_err(unparsable)
            }
        }
    }

    /// Run statements without results (setup SQL); several separated by `;` are allowed.
    pub async fn execute(&self, sql: &str) -> Result<(), DbError> {
        let sql = AssertSqlSafe(sql.to_string());
        match &self.pool {
            Pool::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(drop)?,
            Pool::Mysql(p) => sqlx::raw_sql(sql).execute(p).await.map(drop)?,
            Pool::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(drop)?,
        }
        Ok(())
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p) => p.close().await,
            Pool::Mysql(p) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }
}

fn mysql_row(row: &sqlx::mysql::MySqlRow) -> Map<String, Value> {
    let mut m = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let v = match row.try_get_raw(i) {
            Ok(raw) if raw.is_null() => Value::Null,
            Ok(raw) => {
                let ty = raw.type_info().name().to_ascii_uppercase();
                if ty.contains("INT") {
                    row.try_get::<i64, _>(i)
                        .map(Value::from)
                        .or_else(|_| row.try_get::<u64, _>(i).map(Value::from))
                        .unwrap_or(Value::Null)
                } else if ty == "FLOAT" || ty == "DOUBLE" {
                    row.try_get::<f64, _>(i).map(Value::from).unwrap_or(Value::Null)
                } else {
                    row.try_get::<String, _>(i)
                        .map(Value::from)
                        .or_else(|_| {
                            row.try_get::<Vec<u8>, _>(i).map(|b| Value::from(String::from_utf8_lossy(&b).into_owned()))
                        })
                        .unwrap_or_else(|_| Value::from(format!("<{ty}>")))
                }
            }
            Err(_) => Value::Null,
        };
        m.insert(col.name().to_string(), v);
    }
    m
}

fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Map<String, Value> {
    let mut m = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let v = match row.try_get_raw(i) {
            Ok(raw) if raw.is_null() => Value::Null,
            Ok(_) => row
                .try_get::<i64, _>(i)
                .map(Value::from)
                .or_else(|_| row.try_get::<f64, _>(i).map(Value::from))
                .or_else(|_| row.try_get::<String, _>(i).map(Value::from))
                .or_else(|_| {
                    row.try_get::<Vec<u8>, _>(i).map(|b| Value::from(String::from_utf8_lossy(&b).into_owned()))
                })
                .unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        m.insert(col.name().to_string(), v);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_from_scheme() {
        assert_eq!(Dialect::of_url("postgresql://x/y"), Some(Dialect::Postgres));
        assert_eq!(Dialect::of_url("mariadb://root@h/db"), Some(Dialect::Mysql));
        assert_eq!(Dialect::of_url("sqlite:///tmp/x.db"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::of_url("redis://h"), None);
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(without_password("postgres://u:s3cret@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(password_of("postgres://u:s3cret@h/db").as_deref(), Some("s3cret"));
        assert_eq!(without_password("sqlite::memory:"), "sqlite::memory:");
    }
}
