//! The learner's `labgrade.toml`: how to start their service, where it listens, its
//! environment, and where their written artifacts live. Values may use `${VAR}` and
//! `${VAR:-default}` from the grader's environment.

use crate::db::Dialect;
use crate::db::provision::{DatabaseConfig, Provision};
use crate::error::Error;
use crate::spec::Diagnostic;
use crate::spec::de::Doc;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub const FILE_NAME: &str = "labgrade.toml";

/// The JSON Schema of labgrade.toml, for editors (`labgrade lab schema --kind config`).
pub fn json_schema() -> serde_json::Value {
    crate::authoring::schema::generator().into_root_schema_for::<RawConfig>().to_value()
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The config file; its folder is the learner's repo.
    pub file: PathBuf,
    pub repo: PathBuf,
    pub service: ServiceConfig,
    /// Artifact name → path relative to the repo (e.g. `openapi` → `openapi.yaml`).
    pub artifacts: BTreeMap<String, String>,
    /// `[database]`; None when absent (the service's own DATABASE_URL is then the database).
    pub database: Option<DatabaseConfig>,
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Shell command that starts the service; None when only `--url` grading is possible.
    pub start: Option<String>,
    pub base_url: url::Url,
    pub ready: String,
    pub ready_timeout: Duration,
    pub stop_grace: Duration,
    pub test: Option<String>,
    /// Overlaid on the grader's own environment when the service starts.
    pub env: BTreeMap<String, String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    service: RawService,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    artifacts: BTreeMap<String, Spanned<String>>,
    database: Option<RawDatabase>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    #[schemars(with = "Option<String>")]
    url: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    provision: Option<Spanned<String>>,
    env: Option<String>,
    image_tag: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[schemars(with = "Option<String>")]
    start: Option<Spanned<String>>,
    #[schemars(with = "String")]
    base_url: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    ready: Option<Spanned<String>>,
    #[serde(default)]
    ready_timeout_secs: Option<u64>,
    #[serde(default)]
    stop_grace_secs: Option<u64>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    test: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    env: BTreeMap<String, Spanned<String>>,
}

impl Config {
    /// Find the config: `-c PATH` if given, else `labgrade.toml` in the current directory.
    pub fn locate(given: Option<&Path>) -> Result<PathBuf, Error> {
        match given {
            Some(p) if p.is_dir() => Ok(p.join(FILE_NAME)),
            Some(p) => Ok(p.to_path_buf()),
            None => Ok(PathBuf::from(FILE_NAME)),
        }
    }

    pub fn load(path: &Path) -> Result<Config, Error> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} not found; run `labgrade init` to write one, or point at yours with -c PATH",
                    path.display()
                )
            } else {
                format!("cannot read {}: {e}", path.display())
            })
        })?;
        let env = |k: &str| std::env::var(k).ok();
        Config::parse(path, &src, &env).map_err(Error::Config)
    }

    /// Parse a config text; `lookup` reads the grader's environment (a parameter for tests).
    pub fn parse(path: &Path, src: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, Diagnostic> {
        let file = path.display().to_string();
        let doc = Doc::new(file.clone(), src);
        let root = doc.parse()?;
        let span = root.span();
        let raw: RawConfig = doc.table(root.into_inner(), span)?;
        let expand = |s: &Spanned<String>| {
            expand(s.get_ref(), lookup).map_err(|e| Diagnostic::new(&file, src, Some(s.span()), e.to_string()))
        };

        let base_url_text = expand(&raw.service.base_url)?;
        let base_url = url::Url::parse(&base_url_text).map_err(|e| {
            Diagnostic::new(
                &file,
                src,
                Some(raw.service.base_url.span()),
                format!("base_url {base_url_text:?} is not a URL ({e}); expected e.g. \"http://127.0.0.1:3000\""),
            )
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(Diagnostic::new(
                &file,
                src,
                Some(raw.service.base_url.span()),
                "base_url must start with http:// or https://",
            ));
        }
        let ready = match &raw.service.ready {
            Some(r) => {
                let r = expand(r)?;
                if !r.starts_with('/') {
                    let s = raw.service.ready.as_ref().map(|x| x.span());
                    return Err(Diagnostic::new(
                        &file,
                        src,
                        s,
                        format!("ready must be a path starting with '/', got {r:?}"),
                    ));
                }
                r
            }
            None => "/healthz".to_string(),
        };
        let mut env = BTreeMap::new();
        for (k, v) in &raw.service.env {
            env.insert(k.clone(), expand(v)?);
        }
        let mut artifacts = BTreeMap::new();
        for (k, v) in &raw.artifacts {
            artifacts.insert(k.clone(), expand(v)?);
        }
        let database = match &raw.database {
            None => None,
            Some(d) => {
                let at = |s: Option<std::ops::Range<usize>>, msg: String| Diagnostic::new(&file, src, s, msg);
                let provision = match &d.provision {
                    None => Provision::Url,
                    Some(p) => match p.get_ref().as_str() {
                        "url" => Provision::Url,
                        "ephemeral" => Provision::Ephemeral,
                        "container" => Provision::Container,
                        other => {
                            return Err(at(
                                Some(p.span()),
                                format!("provision = {other:?}; expected \"url\", \"ephemeral\" or \"container\""),
                            ));
                        }
                    },
                };
                let url = d.url.as_ref().map(expand).transpose()?;
                if let (Some(u), Some(raw_url)) = (&url, &d.url)
                    && Dialect::of_url(u).is_none()
                {
                    return Err(at(
                        Some(raw_url.span()),
                        format!(
                            "url {:?} is not a database URL; expected postgres://, mysql:// (or mariadb://) or sqlite:",
                            crate::db::without_password(u)
                        ),
                    ));
                }
                if url.is_none() && provision != Provision::Container {
                    let s = d.provision.as_ref().map(|p| p.span());
                    let what = if provision == Provision::Ephemeral {
                        "provision = \"ephemeral\" needs url = the server to create a database on, e.g. \"postgres://postgres@127.0.0.1:5432/postgres\""
                    } else {
                        "[database] needs url = your database, or provision = \"ephemeral\" or \"container\""
                    };
                    return Err(at(s, what.to_string()));
                }
                Some(DatabaseConfig {
                    provision,
                    url,
                    env: d.env.clone().unwrap_or_else(|| "DATABASE_URL".into()),
                    image_tag: d.image_tag.clone().unwrap_or_else(|| "16-alpine".into()),
                })
            }
        };
        let repo = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Config {
            file: path.to_path_buf(),
            repo,
            service: ServiceConfig {
                start: raw.service.start.as_ref().map(expand).transpose()?,
                base_url,
                ready,
                ready_timeout: Duration::from_secs(raw.service.ready_timeout_secs.unwrap_or(30)),
                stop_grace: Duration::from_secs(raw.service.stop_grace_secs.unwrap_or(5)),
                test: raw.service.test.as_ref().map(expand).transpose()?,
                env,
            },
            artifacts,
            database,
        })
    }

    /// A value of the service's environment as the service will see it: the config's env
    /// overlaid on the grader's.
    pub fn service_env(&self, key: &str) -> Option<String> {
        self.service.env.get(key).cloned().or_else(|| std::env::var(key).ok())
    }

    /// Path of a learner file: the config's `[artifacts]` entry named `artifact` if there is
    /// one, else the lab's default path, in the learner's repo.
    pub fn artifact_path(&self, artifact: Option<&str>, default: &str) -> PathBuf {
        let configured = artifact.and_then(|name| self.artifacts.get(name));
        self.repo.join(configured.map(String::as_str).unwrap_or(default))
    }

    /// A path inside the learner's repo as the repo names it (`docs/slo.toml`).
    pub fn in_repo(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.repo).unwrap_or(path).display().to_string()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("environment variable {0} is not set; set it, or give a default with ${{{0}:-default}}")]
    Unset(String),
    #[error("unclosed ${{ in {0:?}; write ${{NAME}} or ${{NAME:-default}} (and $$ for a literal $)")]
    Unclosed(String),
    #[error("{0:?} is not a variable name; expected letters, digits and _")]
    BadName(String),
}

/// Expand `${VAR}`, `${VAR:-default}` (default also when VAR is empty) and `$$`.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}').ok_or_else(|| ExpandError::Unclosed(text.to_string()))?;
            let body = &inner[..close];
            let (name, default) = match body.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (body, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ExpandError::BadName(name.to_string()));
            }
            match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(ExpandError::Unset(name.to_string())),
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The commented config `labgrade init` writes.
pub const TEMPLATE: &str = r#"# labgrade.toml — how labgrade starts and grades your service.
# Values may use ${VAR} or ${VAR:-default} from your shell's environment.

[service]
# Shell command that starts your service, run from this folder in its own process group.
start = "node src/server.js"
# Where it listens. labgrade only grades loopback addresses unless you pass --allow-remote.
base_url = "http://127.0.0.1:3000"
# Polled until it answers 2xx before any check runs.
ready = "/healthz"
ready_timeout_secs = 30
# Seconds between SIGTERM and SIGKILL when labgrade stops your service.
stop_grace_secs = 5
# Your own test command (lab 03 runs it).
test = "npm test"

[service.env]
# Added to the environment your service starts with.
PORT = "3000"
DATABASE_URL = "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ledger}"
# labgrade signs its test tokens with this secret; it never prints it.
JWT_SECRET = "${JWT_SECRET:-change-me-to-a-long-random-string}"

[database]
# The database the labs from 04 on read and seed. Either your own database:
#   url = "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ledger}"
# or a fresh one per run, created on this server, handed to your service as DATABASE_URL,
# and dropped afterwards (also on failure or Ctrl-C):
provision = "ephemeral"
url = "postgres://postgres@127.0.0.1:5432/postgres"
# or provision = "container" for a throwaway PostgreSQL (needs a Docker engine).

[artifacts]
# Written deliverables the labs read, relative to this folder (these are the defaults).
boundary = "BOUNDARY.md"
openapi = "openapi.yaml"
data_model = "DATA_MODEL.md"
indexes = "INDEXES.md"
authz = "authz.toml"
auth = "AUTH.md"
async = "ASYNC.md"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/home/x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(expand("${HOME}/a", &env).unwrap(), "/home/x/a");
        assert_eq!(expand("${PORT:-3000}", &env).unwrap(), "3000");
        assert_eq!(expand("${EMPTY:-d}", &env).unwrap(), "d");
        assert_eq!(expand("a$$b $x", &env).unwrap(), "a$b $x");
        assert_eq!(expand("${P:-a:-b}", &env).unwrap(), "a:-b");
    }

    #[test]
    fn expansion_errors_say_what_to_do() {
        assert_eq!(expand("${NOPE}", &env), Err(ExpandError::Unset("NOPE".into())));
        assert!(matches!(expand("${HOME", &env), Err(ExpandError::Unclosed(_))));
        assert!(matches!(expand("${A-B}", &env), Err(ExpandError::BadName(_))));
    }

    #[test]
    fn template_parses() {
        let c = Config::parse(Path::new("x/labgrade.toml"), TEMPLATE, &env).unwrap();
        assert_eq!(c.service.base_url.as_str(), "http://127.0.0.1:3000/");
        assert_eq!(c.repo, Path::new("x"));
        assert_eq!(c.artifacts["openapi"], "openapi.yaml");
        let db = c.database.unwrap();
        assert_eq!(db.provision, Provision::Ephemeral);
        assert_eq!(db.env, "DATABASE_URL");
    }

    #[test]
    fn database_section_errors_are_located() {
        let head = "[service]\nbase_url = \"http://127.0.0.1:3000\"\n[database]\n";
        let e = Config::parse(Path::new("l.toml"), &format!("{head}provision = \"docker\"\n"), &env).unwrap_err();
        assert_eq!(e.location.line, 4, "{e}");
        assert!(e.message.contains("expected \"url\", \"ephemeral\""), "{e}");
        let e = Config::parse(Path::new("l.toml"), &format!("{head}provision = \"ephemeral\"\n"), &env).unwrap_err();
        assert!(e.message.contains("needs url"), "{e}");
        let e = Config::parse(Path::new("l.toml"), &format!("{head}url = \"redis://x\"\n"), &env).unwrap_err();
        assert_eq!((e.location.line, e.location.col), (4, 7), "{e}");
        let c = Config::parse(Path::new("l.toml"), &format!("{head}provision = \"container\"\n"), &env).unwrap();
        assert_eq!(c.database.unwrap().image_tag, "16-alpine");
    }

    #[test]
    fn unset_variable_is_located() {
        let src = "[service]\nstart = \"x\"\nbase_url = \"http://127.0.0.1:${NOPE}\"\n";
        let e = Config::parse(Path::new("labgrade.toml"), src, &env).unwrap_err();
        assert_eq!((e.location.line, e.location.col), (3, 12));
        assert!(e.message.contains("NOPE is not set"), "{}", e.message);
    }

    #[test]
    fn unknown_key_is_located() {
        let src = "[service]\nbase_url = \"http://127.0.0.1:3000\"\nstrat = \"node x\"\n";
        let e = Config::parse(Path::new("labgrade.toml"), src, &env).unwrap_err();
        assert_eq!(e.location.line, 3, "{e}");
        assert!(e.message.contains("strat"), "{e}");
    }
}
