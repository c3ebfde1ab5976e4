//! Where the learner's database comes from for a run: their own URL, a fresh database
//! created on a server for this run (`ephemeral`), or a throwaway PostgreSQL container.
//! Whatever the grader creates is registered here and removed by [`cleanup`] — on a normal
//! end, on an error, and on Ctrl-C (the caller runs it after the run future is dropped).
//! Databases left by a grader that was killed outright are swept at the next provisioning.

use super::seed;
use super::{Database, DbError, Dialect, generate::Cell};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Provision {
    /// The learner's own database at `url`.
    Url,
    /// A fresh database on the server at `url`, dropped after the run.
    Ephemeral,
    /// A throwaway PostgreSQL in a container (needs a Docker engine).
    Container,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    pub provision: Provision,
    /// The database (Url) or the server to create one on (Ephemeral); unused for Container.
    pub url: Option<String>,
    /// The environment variable the service reads its database URL from.
    pub env: String,
    /// The PostgreSQL image tag for Container.
    pub image_tag: String,
}

/// The database of one run.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub url: String,
    /// The grader created it, so nothing seeded needs deleting.
    pub throwaway: bool,
    /// Human words for the run log.
    pub description: String,
}

enum Pending {
    Drop { server: String, name: String },
    RemoveDir(tempfile::TempDir),
    Container(Box<testcontainers_modules::testcontainers::ContainerAsync<testcontainers_modules::postgres::Postgres>>),
    DeleteRows { url: String, table: String, key: String, keys: Vec<Cell> },
}

static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());

fn register(p: Pending) {
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).push(p);
}

/// Remember seeded rows of a learner-owned database, to delete them when the lab ends.
pub fn delete_later(url: &str, table: &str, key: &str, keys: Vec<Cell>) {
    register(Pending::DeleteRows { url: url.into(), table: table.into(), key: key.into(), keys });
}

const NAME_PREFIX: &str = "labgrade_";

pub async fn provision(cfg: &DatabaseConfig) -> Result<Provisioned, DbError> {
    match cfg.provision {
        Provision::Url => {
            let url = cfg.url.clone().ok_or_else(|| DbError::other("[database] has no url"))?;
            Ok(Provisioned {
                description: format!("using the database at {}", super::without_password(&url)),
                url,
                throwaway: false,
            })
        }
        Provision::Ephemeral => {
            let server = cfg.url.clone().ok_or_else(|| {
                DbError::other("[database] provision = \"ephemeral\" needs url = the server to create the database on")
            })?;
            ephemeral(&server).await
        }
        Provision::Container => container(&cfg.image_tag).await,
    }
}

async fn ephemeral(server: &str) -> Result<Provisioned, DbError> {
    let dialect = Dialect::of_url(server)
        .ok_or_else(|| DbError::other(format!("{} is not a database URL", super::without_password(server))))?;
    let name = format!("{NAME_PREFIX}{}_{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    if dialect == Dialect::Sqlite {
        let dir = tempfile::Builder::new()
            .prefix(NAME_PREFIX)
            .tempdir()
            .map_err(|e| DbError::other(format!("cannot make a temporary folder: {e}")))?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join(format!("{name}.db")).display());
        register(Pending::RemoveDir(dir));
        return Ok(Provisioned {
            description: format!("created SQLite database {url} for this run"),
            url,
            throwaway: true,
        });
    }
    let admin = Database::connect(server).await?;
    sweep_stale(&admin).await;
    let create = match dialect {
        Dialect::Mysql => format!("CREATE DATABASE `{name}`"),
        _ => format!("CREATE DATABASE \"{name}\""),
    };
    let made = admin.execute(&create).await;
    admin.close().await;
    made.map_err(|e| DbError::other(format!("cannot create a database on {}: {e}", super::without_password(server))))?;
    register(Pending::Drop { server: server.to_string(), name: name.clone() });
    let url = with_database(server, &name)?;
    Ok(Provisioned {
        description: format!("created database {name} on {} for this run", super::without_password(server)),
        url,
        throwaway: true,
    })
}

/// The server URL with its database name replaced.
fn with_database(server: &str, name: &str) -> Result<String, DbError> {
    let mut u = url::Url::parse(server).map_err(|e| DbError::other(format!("bad database URL: {e}")))?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

/// Drop `labgrade_<pid>_…` databases whose grader process is gone (killed with SIGKILL, or a
/// machine that lost power) — but only on a server on this machine, where the pid means
/// something.
async fn sweep_stale(admin: &Database) {
    let local = url::Url::parse(&admin.shown)
        .ok()
        .and_then(|u| u.host_str().map(|h| matches!(h, "127.0.0.1" | "localhost" | "[::1]" | "::1")))
        .unwrap_or(false);
    if !local {
        return;
    }
    let sql = match admin.dialect() {
        Dialect::Postgres => "SELECT datname::text AS name FROM pg_database WHERE datname LIKE 'labgrade\\_%'",
        Dialect::Mysql => {
            "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'labgrade\\_%'"
        }
        Dialect::Sqlite => return,
    };
    let Ok(rows) = admin.rows(sql, &[]).await else { return };
    for r in rows {
        let Some(name) = r.get("name").and_then(|v| v.as_str()) else { continue };
        let pid = name.strip_prefix(NAME_PREFIX).and_then(|s| s.split('_').next()).and_then(|p| p.parse::<i32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if pid.is_some() && !alive {
            let _ = drop_database(admin, name).await;
        }
    }
}

async fn drop_database(admin: &Database, name: &str) -> Result<(), DbError> {
    match admin.dialect() {
        Dialect::Mysql => admin.execute(&format!("DROP DATABASE IF EXISTS `{name}`")).await,
        _ => {
            // WITH (FORCE) ends sessions still connected (a service killed mid-query).
            let forced = admin.execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            match forced {
                Err(e) if e.message.contains("syntax") => {
                    admin.execute(&format!("DROP DATABASE IF EXISTS \"{name}\"")).await
                }
                other => other,
            }
        }
    }
}

async fn container(tag: &str) -> Result<Provisioned, DbError> {
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::{ImageExt, core::client::docker_client_instance};
    let no_engine = |why: String| {
        DbError::other(format!(
            "[database] provision = \"container\" needs a Docker engine, and none answers here ({why}). \
             Use provision = \"ephemeral\" with url = a PostgreSQL server you run (e.g. \
             \"postgres://postgres@127.0.0.1:5432/postgres\"), or url = your own database without provision."
        ))
    };
    let ping = async {
        let docker = docker_client_instance().await.map_err(|e| e.to_string())?;
        docker.ping().await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Err(_) => return Err(no_engine("no answer within 5 s".into())),
        Ok(Err(e)) => return Err(no_engine(e)),
        Ok(Ok(_)) => {}
    }
    let node = testcontainers_modules::postgres::Postgres::default()
        .with_host_auth()
        .with_tag(tag)
        .start()
        .await
        .map_err(|e| DbError::other(format!("cannot start a PostgreSQL container: {e}")))?;
    let port =
        node.get_host_port_ipv4(5432).await.map_err(|e| DbError::other(format!("container has no port: {e}")))?;
    register(Pending::Container(Box::new(node)));
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    Ok(Provisioned { description: format!("started PostgreSQL {tag} in a container at {url}"), url, throwaway: true })
}

/// Remove everything this process provisioned or seeded; one line per action for the log.
pub async fn cleanup() -> Vec<String> {
    let pending: Vec<Pending> = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    let mut log = Vec::new();
    // Seeded rows first (children were seeded after parents, so delete in reverse).
    for p in pending.into_iter().rev() {
        match p {
            Pending::DeleteRows { url, table, key, keys } => {
                let r = async {
                    let db = Database::connect(&url).await?;
                    let n = seed::delete(&db, &table, &key, &keys).await;
                    db.close().await;
                    n
                }
                .await;
                log.push(match r {
                    Ok(n) => format!("deleted the {n} rows it seeded into {table}"),
                    Err(e) => format!("could not delete the rows it seeded into {table}: {e}"),
                });
            }
            Pending::Drop { server, name } => {
                let r = async {
                    let admin = Database::connect(&server).await?;
                    let r = drop_database(&admin, &name).await;
                    admin.close().await;
                    r
                }
                .await;
                log.push(match r {
                    Ok(()) => format!("dropped database {name}"),
                    Err(e) => format!("could not drop database {name}: {e}"),
                });
            }
            Pending::RemoveDir(dir) => {
                let shown = dir.path().display().to_string();
                log.push(match dir.close() {
                    Ok(()) => format!("removed {shown}"),
                    Err(e) => format!("could not remove {shown}: {e}"),
                });
            }
            Pending::Container(c) => {
                log.push(match c.rm().await {
                    Ok(()) => "removed the PostgreSQL container".into(),
                    Err(e) => format!("could not remove the PostgreSQL container: {e}"),
                });
            }
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "labgrade_1_ab").unwrap(),
            "postgres://postgres@127.0.0.1:5432/labgrade_1_ab"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/", "labgrade_1_ab").unwrap(),
            "mysql://root@127.0.0.1:3306/labgrade_1_ab"
        );
    }
}
