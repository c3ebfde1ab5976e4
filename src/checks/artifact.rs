//! `kind = "artifact"`: a file the learner wrote (OpenAPI document, TOML/YAML/JSON config,
//! an SLO, Prometheus alert rules) exists, parses, satisfies a lab JSON Schema, and, for
//! OpenAPI, documents the lab's routes; an SLO must be concrete and at least as strict as
//! the lab's floor; alert rules must cover the required severities and name only metrics
//! the running service exposes.

use super::{Ctx, Evidence, Outcome};
use crate::openapi;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Default path in the learner's repo.
    pub file: String,
    /// `[artifacts]` entry in labgrade.toml that may move the file.
    pub artifact: Option<String>,
    pub format: Format,
    /// A JSON Schema file of the lab the parsed document must satisfy.
    pub schema: Option<String>,
    /// For OpenAPI: operations (`"POST /customers"`) that must be documented.
    #[serde(default)]
    pub routes: Vec<String>,
    /// For `slo`: the loosest objectives the lab accepts.
    pub floor: Option<crate::slo::Floor>,
    /// For `alert_rules`: severities (`labels.severity`) at least one alert must have.
    #[serde(default)]
    pub severities: Vec<String>,
    /// For `alert_rules`: the metrics path of the running service; every metric an `expr`
    /// names must be exposed there.
    pub exposed_by: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Openapi,
    Yaml,
    Json,
    Toml,
    Slo,
    #[serde(rename = "alert_rules")]
    AlertRules,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !self.routes.is_empty() && self.format != Format::Openapi {
            return Err("`routes` only applies to format = \"openapi\"".into());
        }
        for r in &self.routes {
            openapi::parse_operation(r)?;
        }
        if self.floor.is_some() != (self.format == Format::Slo) {
            return Err("format = \"slo\" needs `floor`, and only it takes one".into());
        }
        if (!self.severities.is_empty() || self.exposed_by.is_some()) && self.format != Format::AlertRules {
            return Err("`severities` and `exposed_by` only apply to format = \"alert_rules\"".into());
        }
        if let Some(p) = &self.exposed_by
            && !p.starts_with('/')
        {
            return Err(format!("exposed_by {p:?}: expected a path like \"/metrics\""));
        }
        Ok(())
    }

    /// Judging alert rules against live metrics needs the service.
    pub fn needs_service(&self) -> bool {
        self.exposed_by.is_some()
    }
}

/// Parse a document in `format`. Pure.
pub fn parse(format: Format, text: &str) -> Result<Value, String> {
    match format {
        Format::Openapi => openapi::parse(text),
        Format::Yaml | Format::AlertRules => yaml_serde::from_str(text).map_err(|e| format!("not valid YAML: {e}")),
        Format::Json => serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}")),
        Format::Toml | Format::Slo => {
            toml::from_str(text).map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))
        }
    }
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let path = ctx.config.artifact_path(spec.artifact.as_deref(), &spec.file);
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Outcome::fail(format!("{shown} does not exist")),
        Err(e) => return Outcome::fail(format!("cannot read {shown}: {e}")),
    };
    if let (Format::Slo, Some(floor)) = (spec.format, &spec.floor) {
        return match crate::slo::parse(&shown, &text, Some(floor)) {
            Ok(s) => Outcome::pass(format!(
                "{shown}: availability {}%, p95 {} ms, page above {}% errors over {} min",
                s.availability_percent, s.p95_latency_ms, s.error_rate_alert_percent, s.paging_window_minutes
            )),
            Err(problems) => Outcome::fail(format!("{}: {}", problems[0].location, problems[0].message))
                .with(Evidence::At {
                    file: ctx.config.in_repo(&path),
                    line: problems[0].location.line,
                    col: problems[0].location.col,
                })
                .with(Evidence::Output {
                    label: format!("{} problem(s)", problems.len()),
                    lines: problems
                        .iter()
                        .flat_map(|d| d.to_string().lines().map(str::to_string).collect::<Vec<_>>())
                        .collect(),
                }),
        };
    }
    let doc = match parse(spec.format, &text) {
        Ok(d) => d,
        Err(e) => return Outcome::fail(format!("{shown}: {e}")),
    };
    let mut problems = Vec::new();
    if let Some(file) = &spec.schema {
        let schema = match ctx.lab_file(file) {
            Ok(Some(s)) => s,
            _ => return Outcome::error(format!("lab file {file} is missing")),
        };
        let validator = match serde_json::from_str::<Value>(&schema)
            .map_err(|e| e.to_string())
            .and_then(|s| jsonschema::validator_for(&s).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => return Outcome::error(format!("lab file {file} is not a usable JSON Schema: {e}")),
        };
        for e in validator.iter_errors(&doc).take(10) {
            problems.push(Evidence::Assert {
                what: format!("{} {}", shown, e.instance_path()),
                expected: "valid against the lab's schema".into(),
                actual: e.to_string(),
            });
        }
    }
    if spec.format == Format::AlertRules {
        let exposed = match &spec.exposed_by {
            None => None,
            Some(p) => {
                let req = crate::request::RequestSpec { path: p.clone(), ..super::metrics::scrape() };
                match super::metrics::fetch(ctx, &req).await {
                    Ok(e) => Some(e.names().into_iter().map(str::to_string).collect()),
                    Err(o) => {
                        return Outcome::fail(format!("cannot check {shown} against the live metrics: {}", o.message))
                            .with_all(o.evidence);
                    }
                }
            }
        };
        let mut first_line = None;
        for (what, expected, actual) in crate::prom::rules::problems(&doc, &text, &spec.severities, exposed.as_ref()) {
            let line: Option<usize> =
                what.strip_prefix(':').and_then(|w| w.split(' ').next()).and_then(|n| n.parse().ok());
            first_line = first_line.or(line);
            problems.push(Evidence::Assert { what: format!("{shown}{what}"), expected, actual });
        }
        if let Some(line) = first_line {
            problems.push(Evidence::At { file: ctx.config.in_repo(&path), line, col: 1 });
        }
    }
    let missing = openapi::missing_routes(&doc, &spec.routes);
    for r in &missing {
        problems.push(Evidence::Assert {
            what: format!("operation {r}"),
            expected: "documented under paths".into(),
            actual: "not found".into(),
        });
    }
    if problems.is_empty() {
        let what = if spec.routes.is_empty() {
            String::new()
        } else {
            format!(", documents all {} operations", spec.routes.len())
        };
        Outcome::pass(format!("{shown} parses{what}"))
    } else {
        let n = problems.len();
        let mut out = Outcome::from_problems(problems, &format!("{shown}: {n} problem(s)"));
        if n > 1 {
            out.message = format!("{} (and {} more)", out.message, n - 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_format() {
        assert_eq!(parse(Format::Json, r#"{"a":1}"#).unwrap()["a"], 1);
        assert_eq!(parse(Format::Yaml, "a: 1").unwrap()["a"], 1);
        assert_eq!(parse(Format::Toml, "a = 1").unwrap()["a"], 1);
        assert!(parse(Format::Toml, "a = ").is_err());
        assert!(parse(Format::Openapi, "a: 1").is_err());
    }
}
