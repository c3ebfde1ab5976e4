//! One lab: rubric criteria and the checks that evidence them (`labs/NN-slug/lab.toml`).

use super::de::{Doc, split_table, string_entry};
use super::diag::{Diagnostic, Location};
use super::source::LabSource;
use crate::checks::CheckSpec;
use crate::steps::StepSpec;
use serde::Deserialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub struct Lab {
    pub id: String,
    pub title: String,
    /// Send the grader's default bearer token with every request unless a request says otherwise.
    pub token: bool,
    pub criteria: Vec<Criterion>,
    pub checks: Vec<Check>,
    /// Setup steps, each placed before the check that follows it in the spec.
    pub steps: Vec<Step>,
    pub source: LabSource,
    /// Display name of the spec file, for locations.
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub id: String,
    /// The rubric line, verbatim.
    pub text: String,
    #[serde(default = "one")]
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub id: String,
    pub criterion: String,
    pub weight: f64,
    pub hint: String,
    pub doc: String,
    /// A lab is not passed while a required check fails, whatever the score.
    pub required: bool,
    pub spec: CheckSpec,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub spec: StepSpec,
    pub location: Location,
    /// Runs before the check with this index (`checks.len()`: after the last check).
    pub before: usize,
    /// The checks that depend on this step. When it does not succeed (or, like a restart
    /// under `--url`, cannot run), only these are left unjudged; without the list, every
    /// later check that needs the service or the database is.
    pub needed_by: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepCommon {
    id: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    needed_by: Vec<String>,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    id: String,
    title: String,
    #[serde(default)]
    token: bool,
    #[serde(rename = "criterion")]
    criteria: Vec<Criterion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    id: String,
    #[allow(dead_code)]
    kind: String,
    criterion: String,
    #[serde(default = "one")]
    weight: f64,
    hint: String,
    doc: String,
    #[serde(default)]
    required: bool,
}

const COMMON_KEYS: &[&str] = &["id", "kind", "criterion", "weight", "hint", "doc", "required"];

impl Lab {
    pub fn parse(source: &LabSource, rel: &str, src: &str) -> Result<Lab, Diagnostic> {
        let file = source.display(rel);
        let doc = Doc::new(file.clone(), src);
        let root = doc.parse()?;
        let root_span = root.span();
        let (arrays, head_tbl) = split_table(root.into_inner(), &["check", "step"]);
        let head: Head = doc.table(head_tbl, root_span.clone())?;

        let mut checks = Vec::new();
        let mut check_starts = Vec::new();
        let mut step_items = Vec::new();
        for (key, arr) in arrays {
            let key = key.get_ref().to_string();
            let arr_span = arr.span();
            let toml::de::DeValue::Array(items) = arr.into_inner() else {
                return Err(doc.err(arr_span, format!("`{key}` must be an array of tables: write [[{key}]]")));
            };
            for item in items.iter().cloned() {
                if key == "check" {
                    check_starts.push(item.span().start);
                    checks.push(parse_check(&doc, item)?);
                } else {
                    step_items.push(item);
                }
            }
        }
        let mut steps = Vec::new();
        for item in step_items {
            let start = item.span().start;
            let mut step = parse_step(&doc, item)?;
            // A step runs before the first check written after it.
            step.before = check_starts.iter().filter(|&&c| c < start).count();
            steps.push(step);
        }
        steps.sort_by_key(|s| s.before);
        let lab = Lab {
            id: head.id,
            title: head.title,
            token: head.token,
            criteria: head.criteria,
            checks,
            steps,
            source: source.clone(),
            file,
        };
        lab.validate(&doc)?;
        Ok(lab)
    }

    fn validate(&self, doc: &Doc) -> Result<(), Diagnostic> {
        let locate = |needle: &str| {
            let at = doc.src.find(needle).unwrap_or(0);
            at..at + needle.len()
        };
        let mut seen = BTreeSet::new();
        for c in &self.criteria {
            if !seen.insert(c.id.as_str()) {
                return Err(doc.err(locate(&format!("\"{}\"", c.id)), format!("criterion {:?} is defined twice", c.id)));
            }
        }
        let mut ids = BTreeSet::new();
        for step in &self.steps {
            if !ids.insert(step.id.as_str()) {
                return Err(Diagnostic {
                    location: step.location.clone(),
                    message: format!("step id {:?} is used twice; ids must be unique in a lab", step.id),
                    snippet: None,
                });
            }
        }
        for check in &self.checks {
            let here = |msg: String| Diagnostic { location: check.location.clone(), message: msg, snippet: None };
            if !ids.insert(check.id.as_str()) {
                return Err(here(format!(
                    "id {:?} is used twice; check and step ids must be unique in a lab",
                    check.id
                )));
            }
            if !self.criteria.iter().any(|c| c.id == check.criterion) {
                let known: Vec<_> = self.criteria.iter().map(|c| c.id.as_str()).collect();
                return Err(here(format!(
                    "check {:?} names criterion {:?}; expected one of: {}",
                    check.id,
                    check.criterion,
                    known.join(", ")
                )));
            }
            if check.weight <= 0.0 || !check.weight.is_finite() {
                return Err(here(format!(
                    "check {:?} has weight {}; expected a positive number",
                    check.id, check.weight
                )));
            }
        }
        for step in &self.steps {
            for id in &step.needed_by {
                if !self.checks.iter().any(|c| &c.id == id) {
                    return Err(Diagnostic {
                        location: step.location.clone(),
                        message: format!("needed_by names check {id:?}, which this lab does not define"),
                        snippet: None,
                    });
                }
            }
        }
        for c in &self.criteria {
            if !self.checks.iter().any(|k| k.criterion == c.id) {
                return Err(doc.err(
                    locate(&format!("\"{}\"", c.id)),
                    format!("criterion {:?} has no check; every rubric line needs evidence", c.id),
                ));
            }
        }
        Ok(())
    }

    /// Read a file that belongs to this lab (a schema, a data file).
    pub fn read_file(&self, rel: &str) -> std::io::Result<Option<String>> {
        self.source.read(&format!("{}/{}", self.id, rel))
    }
}

fn parse_check<'i>(doc: &Doc<'i>, item: toml::Spanned<toml::de::DeValue<'i>>) -> Result<Check, Diagnostic> {
    let span = item.span();
    let location = Location::at(&doc.file, doc.src, span.start);
    let toml::de::DeValue::Table(table) = item.into_inner() else {
        return Err(doc.err(span, "each [[check]] must be a table"));
    };
    let Some((kind_span, kind)) = string_entry(&table, "kind") else {
        return Err(
            doc.err(span, format!("this check has no `kind`; expected one of: {}", CheckSpec::KINDS.join(", ")))
        );
    };
    let (common_tbl, rest) = split_table(table, COMMON_KEYS);
    let common: Common = doc.table(common_tbl, span.clone())?;
    let spec = CheckSpec::parse(doc, &kind, kind_span, rest, span)?;
    Ok(Check {
        id: common.id,
        criterion: common.criterion,
        weight: common.weight,
        hint: common.hint,
        doc: common.doc,
        required: common.required,
        spec,
        location,
    })
}

fn parse_step<'i>(doc: &Doc<'i>, item: toml::Spanned<toml::de::DeValue<'i>>) -> Result<Step, Diagnostic> {
    let span = item.span();
    let location = Location::at(&doc.file, doc.src, span.start);
    let toml::de::DeValue::Table(table) = item.into_inner() else {
        return Err(doc.err(span, "each [[step]] must be a table"));
    };
    let Some((kind_span, kind)) = string_entry(&table, "kind") else {
        return Err(doc.err(span, format!("this step has no `kind`; expected one of: {}", StepSpec::KINDS.join(", "))));
    };
    let (common_tbl, rest) = split_table(table, &["id", "kind", "needed_by"]);
    let common: StepCommon = doc.table(common_tbl, span.clone())?;
    let spec = StepSpec::parse(doc, &kind, kind_span, rest, span)?;
    Ok(Step { id: common.id, spec, location, before: 0, needed_by: common.needed_by })
}
