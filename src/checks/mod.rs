//! The closed set of check kinds. One kind = one file here + one variant of [`CheckSpec`].
//! Checks never print: they return an [`Outcome`].

pub mod artifact;
pub mod auth_matrix;
pub mod command;
pub mod doc;
pub mod http;
pub mod job;
pub mod load_probe;
pub mod logs;
pub mod metrics;
mod outcome;
pub mod plan;
pub mod probe;
pub mod shutdown;
pub mod slo;
pub mod sql;
pub mod startup;
pub mod stream;

pub use outcome::{Bar, Distribution, Evidence, GridCell, Outcome, UpstreamCall, Verdict};

use crate::config::Config;
use crate::spec::de::Doc;
use crate::spec::{Diagnostic, Lab};
use crate::template::Vars;
use crate::token::TokenSpec;
use std::ops::Range;
use toml::de::DeTable;

#[derive(Debug, Clone)]
pub enum CheckSpec {
    Http(http::Spec),
    LoadProbe(load_probe::Spec),
    Doc(doc::Spec),
    Artifact(artifact::Spec),
    Startup(startup::Spec),
    Shutdown(shutdown::Spec),
    Command(command::Spec),
    Sql(sql::Spec),
    Plan(plan::Spec),
    AuthMatrix(auth_matrix::Spec),
    Job(job::Spec),
    Stream(stream::Spec),
    Logs(logs::Spec),
    Metrics(metrics::Spec),
    Slo(slo::Spec),
    Probe(probe::Spec),
}

/// What a check may use while it runs.
pub struct Ctx<'a> {
    pub lab: &'a Lab,
    /// The running check's token policy (its own lab's `token`).
    pub token: bool,
    /// The lab whose folder holds the running check's files (it may be included).
    pub files_of: String,
    pub config: &'a Config,
    pub base_url: url::Url,
    pub client: reqwest::Client,
    /// Values captured by earlier checks.
    pub vars: Vars,
    /// Values that must never appear in a report: the learner's secret, minted tokens.
    pub secrets: Vec<String>,
    /// Grading a service the user runs (`--url`): nothing may be started.
    pub url_mode: bool,
    pub db: DbHandle,
    /// The root pid of the service labgrade started (None with `--url` or before it starts).
    pub service_pid: Option<i32>,
    /// The run seed (seeded rows follow it).
    pub seed: u64,
    /// Values of seeded columns later seeds refer to, by `table.column`.
    pub seeded: std::collections::BTreeMap<String, Vec<crate::db::generate::Cell>>,
    /// Stand-in dependencies running for this lab (none with `--url`).
    pub upstreams: Vec<crate::upstream::Upstream>,
    /// What the running service printed (None with `--url` or before it starts).
    pub service_output: Option<crate::service::Output>,
}

/// The learner's database for this run, connected on first use.
#[derive(Debug, Default)]
pub struct DbHandle {
    pub url: Option<String>,
    /// The grader created it for this run (nothing seeded needs deleting).
    pub throwaway: bool,
    pub conn: Option<crate::db::Database>,
}

/// What a check needs of the shared service instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// It talks to the running service.
    Service,
    /// It starts instances of its own, so the port must be free.
    Exclusive,
    /// It reads files or runs other commands.
    Nothing,
}

impl Ctx<'_> {
    /// Read a file of the running check's lab (a schema, a data file).
    pub fn lab_file(&self, rel: &str) -> std::io::Result<Option<String>> {
        self.lab.source.read(&format!("{}/{}", self.files_of, rel))
    }

    /// Turn a request spec into a request to send, with the lab's token policy applied.
    /// On failure, the outcome the check should end with: skipped when it needs a value no
    /// earlier check captured, error when the grader cannot build it.
    pub fn prepare(&mut self, r: &crate::request::RequestSpec) -> Result<crate::request::Prepared, Outcome> {
        let spec = r.token_spec(self.token);
        let token = match &spec {
            None => None,
            Some(t) => Some(self.token(t).map_err(Outcome::error)?),
        };
        let mut prepared = r.prepare(&self.base_url, &self.vars, token).map_err(|e| match e {
            crate::request::PrepareError::Template(e) => Outcome::skipped(format!(
                "not run: {e} (no earlier check captured it — see the checks before this one)"
            )),
            other => Outcome::error(other.to_string()),
        })?;
        prepared.token_args = spec.map(|t| t.cli_args()).unwrap_or_default();
        Ok(prepared)
    }

    /// The learner's database; the outcome to end with when there is none to reach.
    pub async fn database(&mut self) -> Result<crate::db::Database, Outcome> {
        if let Some(db) = &self.db.conn {
            return Ok(db.clone());
        }
        let url = self.db.url.clone().ok_or_else(|| {
            Outcome::error(
                "this check reads your database, but labgrade.toml has no [database] url and DATABASE_URL is set \
                 neither in [service.env] nor in the environment",
            )
        })?;
        if let Some(p) = crate::db::password_of(&url) {
            self.secrets.push(p);
        }
        let db = crate::db::Database::connect(&url).await.map_err(|e| Outcome::error(e.to_string()))?;
        self.db.conn = Some(db.clone());
        Ok(db)
    }

    pub fn database_is_throwaway(&self) -> bool {
        self.db.throwaway
    }

    pub fn database_url(&self) -> Option<&str> {
        self.db.url.as_deref()
    }

    /// Mint a token with the learner's JWT_SECRET (from `[service.env]` or the environment).
    pub fn token(&mut self, spec: &TokenSpec) -> Result<String, String> {
        let secret = self.config.service_env("JWT_SECRET").filter(|s| !s.is_empty()).ok_or_else(|| {
            "this check sends a bearer token, but JWT_SECRET is set neither in [service.env] of labgrade.toml nor in the environment".to_string()
        })?;
        if !self.secrets.contains(&secret) {
            self.secrets.push(secret.clone());
        }
        let t = crate::token::mint(&secret, spec)?;
        self.secrets.push(t.clone());
        Ok(t)
    }
}

impl CheckSpec {
    pub const KINDS: &'static [&'static str] = &[
        "http",
        "load_probe",
        "doc",
        "artifact",
        "startup",
        "shutdown",
        "command",
        "sql",
        "plan",
        "auth_matrix",
        "job",
        "stream",
        "logs",
        "metrics",
        "slo",
        "probe",
    ];

    pub fn needs(&self) -> Needs {
        match self {
            // The database's schema is often made by the service's migrations at startup.
            CheckSpec::Http(_)
            | CheckSpec::LoadProbe(_)
            | CheckSpec::Sql(_)
            | CheckSpec::Plan(_)
            | CheckSpec::AuthMatrix(_)
            | CheckSpec::Job(_)
            | CheckSpec::Stream(_)
            | CheckSpec::Logs(_)
            | CheckSpec::Metrics(_)
            | CheckSpec::Slo(_)
            | CheckSpec::Probe(_) => Needs::Service,
            // The learner's tests may bind PORT themselves, so the shared instance steps aside.
            CheckSpec::Startup(_) | CheckSpec::Shutdown(_) | CheckSpec::Command(_) => Needs::Exclusive,
            CheckSpec::Artifact(s) if s.needs_service() => Needs::Service,
            CheckSpec::Doc(_) | CheckSpec::Artifact(_) => Needs::Nothing,
        }
    }

    /// The learner's file this check judges as a whole, if any (a failure then points at it).
    /// Checks that judge a file only in part (`slo`) point at it themselves when it is at fault.
    pub fn learner_file(&self, config: &Config) -> Option<std::path::PathBuf> {
        match self {
            CheckSpec::Artifact(s) => Some(config.artifact_path(s.artifact.as_deref(), &s.file)),
            CheckSpec::Doc(s) => Some(config.artifact_path(s.artifact.as_deref(), &s.file)),
            CheckSpec::AuthMatrix(s) if s.against_learner() => {
                Some(config.artifact_path(s.artifact.as_deref(), &s.file))
            }
            _ => None,
        }
    }

    pub fn uses_database(&self) -> bool {
        matches!(self, CheckSpec::Sql(_) | CheckSpec::Plan(_))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Http(_) => "http",
            CheckSpec::LoadProbe(_) => "load_probe",
            CheckSpec::Doc(_) => "doc",
            CheckSpec::Artifact(_) => "artifact",
            CheckSpec::Startup(_) => "startup",
            CheckSpec::Shutdown(_) => "shutdown",
            CheckSpec::Command(_) => "command",
            CheckSpec::Sql(_) => "sql",
            CheckSpec::Plan(_) => "plan",
            CheckSpec::AuthMatrix(_) => "auth_matrix",
            CheckSpec::Job(_) => "job",
            CheckSpec::Stream(_) => "stream",
            CheckSpec::Logs(_) => "logs",
            CheckSpec::Metrics(_) => "metrics",
            CheckSpec::Slo(_) => "slo",
            CheckSpec::Probe(_) => "probe",
        }
    }

    /// Build the variant named by `kind` from the check's remaining keys.
    pub fn parse<'i>(
        doc: &Doc<'i>,
        kind: &str,
        kind_span: Range<usize>,
        rest: DeTable<'i>,
        span: Range<usize>,
    ) -> Result<CheckSpec, Diagnostic> {
        let spec = match kind {
            "http" => CheckSpec::Http(doc.table(rest, span.clone())?),
            "load_probe" => CheckSpec::LoadProbe(doc.table(rest, span.clone())?),
            "doc" => CheckSpec::Doc(doc.table(rest, span.clone())?),
            "artifact" => CheckSpec::Artifact(doc.table(rest, span.clone())?),
            "startup" => CheckSpec::Startup(doc.table(rest, span.clone())?),
            "shutdown" => CheckSpec::Shutdown(doc.table(rest, span.clone())?),
            "command" => CheckSpec::Command(doc.table(rest, span.clone())?),
            "sql" => CheckSpec::Sql(doc.table(rest, span.clone())?),
            "plan" => CheckSpec::Plan(doc.table(rest, span.clone())?),
            "auth_matrix" => CheckSpec::AuthMatrix(doc.table(rest, span.clone())?),
            "job" => CheckSpec::Job(doc.table(rest, span.clone())?),
            "stream" => CheckSpec::Stream(doc.table(rest, span.clone())?),
            "logs" => CheckSpec::Logs(doc.table(rest, span.clone())?),
            "metrics" => CheckSpec::Metrics(doc.table(rest, span.clone())?),
            "slo" => CheckSpec::Slo(doc.table(rest, span.clone())?),
            "probe" => CheckSpec::Probe(doc.table(rest, span.clone())?),
            other => {
                return Err(doc.err(
                    kind_span,
                    format!("unknown check kind {other:?}; expected one of: {}", Self::KINDS.join(", ")),
                ));
            }
        };
        let invalid = match &spec {
            CheckSpec::Http(s) => s.validate(),
            CheckSpec::LoadProbe(s) => s.validate(),
            CheckSpec::Doc(s) => s.validate(),
            CheckSpec::Artifact(s) => s.validate(),
            CheckSpec::Startup(s) => s.validate(),
            CheckSpec::Shutdown(s) => s.validate(),
            CheckSpec::Command(s) => s.validate(),
            CheckSpec::Sql(s) => s.validate(),
            CheckSpec::Plan(s) => s.validate(),
            CheckSpec::AuthMatrix(s) => s.validate(),
            CheckSpec::Job(s) => s.validate(),
            CheckSpec::Stream(s) => s.validate(),
            CheckSpec::Logs(s) => s.validate(),
            CheckSpec::Metrics(s) => s.validate(),
            CheckSpec::Slo(s) => s.validate(),
            CheckSpec::Probe(s) => s.validate(),
        };
        invalid.map_err(|msg| doc.err(span.start..span.start + 1, msg))?;
        Ok(spec)
    }

    pub async fn run(&self, ctx: &mut Ctx<'_>) -> Outcome {
        match self {
            CheckSpec::Http(s) => http::run(s, ctx).await,
            CheckSpec::LoadProbe(s) => load_probe::run(s, ctx).await,
            CheckSpec::Doc(s) => doc::run(s, ctx),
            CheckSpec::Artifact(s) => artifact::run(s, ctx).await,
            CheckSpec::Startup(s) => startup::run(s, ctx).await,
            CheckSpec::Shutdown(s) => shutdown::run(s, ctx).await,
            CheckSpec::Command(s) => command::run(s, ctx).await,
            CheckSpec::Sql(s) => sql::run(s, ctx).await,
            CheckSpec::Plan(s) => plan::run(s, ctx).await,
            CheckSpec::AuthMatrix(s) => auth_matrix::run(s, ctx).await,
            CheckSpec::Job(s) => job::run(s, ctx).await,
            CheckSpec::Stream(s) => stream::run(s, ctx).await,
            CheckSpec::Logs(s) => logs::run(s, ctx).await,
            CheckSpec::Metrics(s) => metrics::run(s, ctx).await,
            CheckSpec::Slo(s) => slo::run(s, ctx).await,
            CheckSpec::Probe(s) => probe::run(s, ctx).await,
        }
    }
}
