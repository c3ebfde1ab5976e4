//! JSON Schemas of the files people write — lab.toml, track.toml, labgrade.toml — for editors
//! (Taplo / Even Better TOML) and `labgrade lab schema`. Derived from the structs the grader
//! deserializes; a `[[check]]` is a oneOf over the kinds, each the common keys plus the kind's
//! own, and a `[[step]]` likewise.

use crate::checks;
use crate::lint::lab::{CheckCommon, StepCommon};
use crate::spec::lab::{Include, Readiness};
use crate::spec::{Criterion, Track};
use crate::steps;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Draft 7: what Taplo and most editors understand.
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft07().into_generator()
}

/// The schema of `labs/NN-slug/lab.toml`.
pub fn lab() -> Value {
    generator().into_root_schema_for::<LabFile>().to_value()
}

/// The schema of `labs/track.toml`.
pub fn track() -> Value {
    let mut v = generator().into_root_schema_for::<Track>().to_value();
    v["title"] = json!("track.toml");
    v
}

/// The schema of a learner's `labgrade.toml`.
pub fn config() -> Value {
    let mut v = crate::config::json_schema();
    v["title"] = json!("labgrade.toml");
    v
}

/// One lab's spec: rubric criteria, the checks that evidence them, setup steps.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "lab.toml")]
#[allow(dead_code)]
struct LabFile {
    /// Equal to the lab's folder name, e.g. "05-indexing".
    id: String,
    /// Shown in reports.
    title: String,
    /// Send the grader's default bearer token with every request unless a request says otherwise.
    #[serde(default)]
    token: bool,
    /// Inputs made anew for each run from the run seed, usable as `{{name}}`.
    #[serde(default)]
    generate: std::collections::BTreeMap<String, crate::template::Generate>,
    /// Rubric lines; every one needs at least one check.
    #[schemars(length(min = 1))]
    criterion: Vec<Criterion>,
    /// Checks, graded in the order written.
    #[serde(default)]
    check: Vec<CheckItem>,
    /// Setup that is not scored; runs before the first check written after it.
    #[serde(default)]
    step: Vec<StepItem>,
    /// Checks of earlier labs graded again under one of this lab's criteria.
    #[serde(default)]
    include: Vec<Include>,
    /// Named groups of checks.
    #[serde(default)]
    readiness: Vec<Readiness>,
}

/// The check kinds, each with its own keys.
fn check_kinds(g: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
    use checks::*;
    vec![
        ("http", http::Spec::json_schema(g)),
        ("load_probe", load_probe::Spec::json_schema(g)),
        ("doc", doc::Spec::json_schema(g)),
        ("artifact", artifact::Spec::json_schema(g)),
        ("startup", startup::Spec::json_schema(g)),
        ("shutdown", shutdown::Spec::json_schema(g)),
        ("command", command::Spec::json_schema(g)),
        ("sql", sql::Spec::json_schema(g)),
        ("plan", plan::Spec::json_schema(g)),
        ("auth_matrix", auth_matrix::Spec::json_schema(g)),
        ("job", job::Spec::json_schema(g)),
        ("stream", stream::Spec::json_schema(g)),
        ("logs", logs::Spec::json_schema(g)),
        ("metrics", metrics::Spec::json_schema(g)),
        ("slo", slo::Spec::json_schema(g)),
        ("probe", probe::Spec::json_schema(g)),
    ]
}

/// The step kinds, each with its own keys.
fn step_kinds(g: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
    use steps::*;
    vec![
        ("seed", seed::Spec::json_schema(g)),
        ("restart", restart::Spec::json_schema(g)),
        ("sql", sql::Spec::json_schema(g)),
        ("http", http::Spec::json_schema(g)),
        ("upstream", upstream::Spec::json_schema(g)),
    ]
}

/// One alternative of the oneOf: the common keys, `kind` fixed to this kind, the kind's keys.
fn with_common(common: &Schema, kind: &str, spec: Schema) -> Value {
    let mut spec = spec.to_value();
    let mut properties = common.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut kind_prop = properties.get("kind").cloned().unwrap_or_else(|| json!({}));
    kind_prop["const"] = json!(kind);
    kind_prop.as_object_mut().map(|o| o.remove("type"));
    properties.insert("kind".into(), kind_prop);
    if let Some(own) = spec.get("properties").and_then(Value::as_object) {
        properties.extend(own.clone());
    }
    let mut required: Vec<Value> = common.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    required.extend(spec.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
    let obj = spec.as_object_mut().expect("a kind's schema is an object schema");
    obj.insert("title".into(), json!(format!("kind = \"{kind}\"")));
    obj.insert("type".into(), json!("object"));
    obj.insert("properties".into(), Value::Object(properties));
    obj.insert("required".into(), Value::Array(required));
    obj.insert("additionalProperties".into(), json!(false));
    spec
}

fn one_of(description: &str, alternatives: Vec<Value>) -> Schema {
    let mut m = Map::new();
    m.insert("description".into(), json!(description));
    m.insert("type".into(), json!("object"));
    m.insert("oneOf".into(), Value::Array(alternatives));
    Schema::from(m)
}

/// A `[[check]]`: the common keys and one kind's keys.
struct CheckItem;

impl JsonSchema for CheckItem {
    fn schema_name() -> Cow<'static, str> {
        "Check".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let common = CheckCommon::json_schema(g);
        let kinds = check_kinds(g).into_iter().map(|(k, s)| with_common(&common, k, s)).collect();
        one_of("One check: the keys every check has, and the keys of its kind.", kinds)
    }
}

/// A `[[step]]`: the common keys and one kind's keys.
struct StepItem;

impl JsonSchema for StepItem {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let common = StepCommon::json_schema(g);
        let kinds = step_kinds(g).into_iter().map(|(k, s)| with_common(&common, k, s)).collect();
        one_of("One setup step: the keys every step has, and the keys of its kind.", kinds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn problems(schema: &Value, toml_text: &str) -> Vec<String> {
        let instance: Value = toml::from_str(toml_text).expect("TOML");
        let v = jsonschema::validator_for(schema).expect("the generated schema compiles");
        v.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }

    fn problems_in(schema: &Value, file: &Path) -> Vec<String> {
        problems(schema, &std::fs::read_to_string(file).unwrap())
    }

    #[test]
    fn every_shipped_lab_validates_against_the_lab_schema() {
        let schema = lab();
        let labs = crate::lint::lab_folders(&root().join("labs"));
        assert!(labs.len() >= 9, "{labs:?}");
        for l in labs {
            let file = root().join("labs").join(&l).join("lab.toml");
            let p = problems_in(&schema, &file);
            assert!(p.is_empty(), "{}: {p:#?}", file.display());
        }
    }

    #[test]
    fn track_and_reference_config_validate() {
        let p = problems_in(&track(), &root().join("labs/track.toml"));
        assert!(p.is_empty(), "{p:#?}");
        let p = problems_in(&config(), &root().join("fixtures/reference-service/labgrade.toml"));
        assert!(p.is_empty(), "{p:#?}");
        let p = problems(&config(), crate::config::TEMPLATE);
        assert!(p.is_empty(), "{p:#?}");
    }

    #[test]
    fn mistakes_do_not_validate() {
        let good = std::fs::read_to_string(root().join("labs/01-runtime/lab.toml")).unwrap();
        assert!(problems(&lab(), &good).is_empty());
        for bad in [
            good.replacen("request = {", "requets = {", 1),
            good.replacen("kind = \"http\"", "kind = \"htp\"", 1),
            good.replacen("hint = ", "hnt = ", 1),
            good.replacen("title = ", "titel = ", 1),
            good.replacen("hint = ", "weight = 0\nhint = ", 1),
            good.replacen("[[criterion]]\n", "[[criterion]]\nweight = \"1\"\n", 1),
        ] {
            assert_ne!(bad, good);
            assert!(!problems(&lab(), &bad).is_empty(), "accepted:\n{bad}");
        }
        assert!(!problems(&config(), "[service]\nstart = \"x\"\n").is_empty(), "base_url is required");
        assert!(!problems(&track(), "title = \"t\"\npass_mark = 80\nsection = []\nlab = []\nextra = 1\n").is_empty());
    }

    #[test]
    fn every_kind_is_in_the_schema() {
        let mut g = generator();
        let checks: Vec<&str> = check_kinds(&mut g).iter().map(|(k, _)| *k).collect();
        assert_eq!(checks, crate::checks::CheckSpec::KINDS);
        let steps: Vec<&str> = step_kinds(&mut g).iter().map(|(k, _)| *k).collect();
        assert_eq!(steps, crate::steps::StepSpec::KINDS);
        let v = lab();
        assert_eq!(v["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(v["definitions"]["Check"]["oneOf"].as_array().unwrap().len(), checks.len());
    }
}
