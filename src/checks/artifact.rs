//! `kind = "artifact"`: a file the learner wrote (OpenAPI document, TOML/YAML/JSON config)
//! exists, parses, satisfies a lab JSON Schema, and, for OpenAPI, documents the lab's routes.

use super::{Ctx, Evidence, Outcome};
use crate::openapi;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Openapi,
    Yaml,
    Json,
    Toml,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if !self.routes.is_empty() && self.format != Format::Openapi {
            return Err("`routes` only applies to format = \"openapi\"".into());
        }
        for r in &self.routes {
            openapi::parse_operation(r)?;
        }
        Ok(())
    }
}

/// Parse a document in `format`. Pure.
pub fn parse(format: Format, text: &str) -> Result<Value, String> {
    match format {
        Format::Openapi => openapi::parse(text),
        Format::Yaml => yaml_serde::from_str(text).map_err(|e| format!("not valid YAML: {e}")),
        Format::Json => serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}")),
        Format::Toml => toml::from_str(text).map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message())),
    }
}

pub fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let path = ctx.config.artifact_path(spec.artifact.as_deref(), &spec.file);
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Outcome::fail(format!("{shown} does not exist")),
        Err(e) => return Outcome::fail(format!("cannot read {shown}: {e}")),
    };
    let doc = match parse(spec.format, &text) {
        Ok(d) => d,
        Err(e) => return Outcome::fail(format!("{shown}: {e}")),
    };
    let mut problems = Vec::new();
    if let Some(file) = &spec.schema {
        let schema = match ctx.lab.read_file(file) {
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
        Outcome::fail(format!("{shown}: {} problem(s)", problems.len())).with_all(problems)
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
