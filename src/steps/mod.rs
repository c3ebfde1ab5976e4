//! Steps: setup a lab needs between checks that is not itself scored — seed rows, restart
//! the service, run setup SQL, make one request through the service's API, set how a
//! stand-in dependency behaves. One kind = one file here + one variant of [`StepSpec`].
//! Steps sit between checks in the order the spec writes them.

pub mod http;
pub mod restart;
pub mod seed;
pub mod sql;
pub mod upstream;

use crate::spec::Diagnostic;
use crate::spec::de::Doc;
use std::ops::Range;
use toml::de::DeTable;

#[derive(Debug, Clone)]
pub enum StepSpec {
    Seed(seed::Spec),
    Restart(restart::Spec),
    Sql(sql::Spec),
    Http(Box<http::Spec>),
    Upstream(upstream::Spec),
}

impl StepSpec {
    pub const KINDS: &'static [&'static str] = &["seed", "restart", "sql", "http", "upstream"];

    pub fn kind(&self) -> &'static str {
        match self {
            StepSpec::Seed(_) => "seed",
            StepSpec::Restart(_) => "restart",
            StepSpec::Sql(_) => "sql",
            StepSpec::Http(_) => "http",
            StepSpec::Upstream(_) => "upstream",
        }
    }

    /// Does it read or write the learner's database?
    pub fn uses_database(&self) -> bool {
        matches!(self, StepSpec::Seed(_) | StepSpec::Sql(_))
    }

    pub fn parse<'i>(
        doc: &Doc<'i>,
        kind: &str,
        kind_span: Range<usize>,
        rest: DeTable<'i>,
        span: Range<usize>,
    ) -> Result<StepSpec, Diagnostic> {
        let spec = match kind {
            "seed" => StepSpec::Seed(doc.table(rest, span.clone())?),
            "restart" => StepSpec::Restart(doc.table(rest, span.clone())?),
            "sql" => StepSpec::Sql(doc.table(rest, span.clone())?),
            "http" => StepSpec::Http(Box::new(doc.table(rest, span.clone())?)),
            "upstream" => StepSpec::Upstream(doc.table(rest, span.clone())?),
            other => {
                return Err(doc.err(
                    kind_span,
                    format!("unknown step kind {other:?}; expected one of: {}", Self::KINDS.join(", ")),
                ));
            }
        };
        let invalid = match &spec {
            StepSpec::Seed(s) => s.validate(),
            StepSpec::Restart(_) => Ok(()),
            StepSpec::Sql(s) => s.validate(),
            StepSpec::Http(s) => s.validate(),
            StepSpec::Upstream(s) => s.validate(),
        };
        invalid.map_err(|msg| doc.err(span.start..span.start + 1, msg))?;
        Ok(spec)
    }
}
