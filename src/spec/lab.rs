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
    /// Checks of other labs this one re-runs (`[[include]]`), expanded into `checks` by
    /// [`Lab::expand`] once those labs are loaded.
    pub includes: Vec<Include>,
    /// The readiness summary at the end of the report (`[[readiness]]`).
    pub readiness: Vec<Readiness>,
    /// Inputs made anew for each run (`[generate]`), as template variables.
    pub generate: std::collections::BTreeMap<String, crate::template::Generate>,
}

/// `[[include]]`: checks of another lab, re-run here by id (not by copy), scored under one
/// of this lab's criteria.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Include {
    pub lab: String,
    pub checks: Vec<String>,
    /// Steps of that lab the checks depend on (seeds, upstream stand-ins), by id; they run
    /// right before the included checks.
    #[serde(default)]
    pub steps: Vec<String>,
    pub criterion: String,
    /// Weight of each included check (default: the weight it has in its own lab).
    pub weight: Option<f64>,
    #[serde(skip, default = "Location::nowhere")]
    pub location: Location,
    /// Its checks run before the check with this index, like a step's.
    #[serde(skip)]
    pub before: usize,
}

/// `[[readiness]]`: one line of the readiness summary, true when all its checks passed.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    pub key: String,
    pub title: String,
    /// Check ids of this lab (included ones as `LAB/ID`).
    pub checks: Vec<String>,
    #[serde(skip, default = "Location::nowhere")]
    pub location: Location,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    /// A lab is not passed while a blocking check fails, whatever the score.
    pub blocking: bool,
    pub spec: CheckSpec,
    pub location: Location,
    /// The lab the check is written in, when it is included from another one (its doc link
    /// and schema files are that lab's).
    pub origin: Option<String>,
    /// Send the grader's default bearer token (its own lab's `token`).
    pub token: bool,
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
    #[serde(default)]
    generate: std::collections::BTreeMap<String, crate::template::Generate>,
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
    /// `required` is the older name of the same key.
    #[serde(default, alias = "required")]
    blocking: bool,
}

const COMMON_KEYS: &[&str] = &["id", "kind", "criterion", "weight", "hint", "doc", "blocking", "required"];

impl Lab {
    pub fn parse(source: &LabSource, rel: &str, src: &str) -> Result<Lab, Diagnostic> {
        let file = source.display(rel);
        let doc = Doc::new(file.clone(), src);
        let root = doc.parse()?;
        let root_span = root.span();
        let (arrays, head_tbl) = split_table(root.into_inner(), &["check", "step", "include", "readiness"]);
        let head: Head = doc.table(head_tbl, root_span.clone())?;
        for (name, g) in &head.generate {
            if let Err(e) = g.validate() {
                let at = doc.src.find(&format!("{name} =")).unwrap_or(0);
                return Err(doc.err(at..at + name.len(), format!("generate.{name}: {e}")));
            }
        }

        let mut checks = Vec::new();
        let mut check_starts = Vec::new();
        let mut step_items = Vec::new();
        let mut include_items = Vec::new();
        let mut readiness = Vec::new();
        for (key, arr) in arrays {
            let key = key.get_ref().to_string();
            let arr_span = arr.span();
            let toml::de::DeValue::Array(items) = arr.into_inner() else {
                return Err(doc.err(arr_span, format!("`{key}` must be an array of tables: write [[{key}]]")));
            };
            for item in items.iter().cloned() {
                match key.as_str() {
                    "check" => {
                        check_starts.push(item.span().start);
                        checks.push(parse_check(&doc, item, head.token)?);
                    }
                    "include" => include_items.push(item),
                    "readiness" => readiness.push(parse_located::<Readiness>(&doc, item, "readiness")?),
                    _ => step_items.push(item),
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
        let mut includes = Vec::new();
        for item in include_items {
            let start = item.span().start;
            let mut inc = parse_located::<Include>(&doc, item, "include")?;
            inc.before = check_starts.iter().filter(|&&c| c < start).count();
            includes.push(inc);
        }
        includes.sort_by_key(|i| i.before);
        let lab = Lab {
            id: head.id,
            title: head.title,
            token: head.token,
            criteria: head.criteria,
            checks,
            steps,
            source: source.clone(),
            file,
            includes,
            readiness,
            generate: head.generate,
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
        for inc in &self.includes {
            if !self.criteria.iter().any(|c| c.id == inc.criterion) {
                let known: Vec<_> = self.criteria.iter().map(|c| c.id.as_str()).collect();
                return Err(Diagnostic {
                    location: inc.location.clone(),
                    message: format!(
                        "include names criterion {:?}; expected one of: {}",
                        inc.criterion,
                        known.join(", ")
                    ),
                    snippet: None,
                });
            }
            if inc.weight.is_some_and(|w| w <= 0.0 || !w.is_finite()) {
                return Err(Diagnostic {
                    location: inc.location.clone(),
                    message: "include has a weight that is not a positive number".into(),
                    snippet: None,
                });
            }
        }
        for c in &self.criteria {
            if !self.checks.iter().any(|k| k.criterion == c.id) && !self.includes.iter().any(|i| i.criterion == c.id) {
                return Err(doc.err(
                    locate(&format!("\"{}\"", c.id)),
                    format!("criterion {:?} has no check; every rubric line needs evidence", c.id),
                ));
            }
        }
        Ok(())
    }

    /// Put the checks each `[[include]]` names in its place, loading their labs through
    /// `load`. Included checks are re-run by id: each keeps its own definition (and where it
    /// is written), gets the id `LAB/ID` and this lab's criterion.
    pub fn expand(&mut self, mut load: impl FnMut(&str) -> Result<Lab, Diagnostic>) -> Result<(), Diagnostic> {
        if self.includes.is_empty() {
            return self.validate_readiness();
        }
        let here =
            |inc: &Include, message: String| Diagnostic { location: inc.location.clone(), message, snippet: None };
        let mut loaded: Vec<(usize, usize, Vec<Step>, Vec<Check>)> = Vec::new();
        for inc in &self.includes {
            if inc.lab == self.id {
                return Err(here(inc, "a lab cannot include its own checks".into()));
            }
            let other = load(&inc.lab)?;
            if !other.includes.is_empty() {
                return Err(here(inc, format!("lab {} includes checks itself; includes do not nest", inc.lab)));
            }
            // Included checks use their own lab's generated inputs.
            for (name, g) in &other.generate {
                self.generate.entry(name.clone()).or_insert_with(|| g.clone());
            }
            let mut picked = Vec::new();
            for id in &inc.checks {
                let Some(c) = other.checks.iter().find(|c| &c.id == id) else {
                    let ids: Vec<_> = other.checks.iter().map(|c| c.id.as_str()).collect();
                    return Err(here(inc, format!("lab {} has no check {id:?}; it has: {}", inc.lab, ids.join(", "))));
                };
                let mut c = c.clone();
                c.id = format!("{}/{}", other.id, c.id);
                c.criterion = inc.criterion.clone();
                c.weight = inc.weight.unwrap_or(c.weight);
                c.origin = Some(other.id.clone());
                c.token = other.token;
                picked.push(c);
            }
            let mut steps = Vec::new();
            for id in &inc.steps {
                let Some(s) = other.steps.iter().find(|s| &s.id == id) else {
                    let ids: Vec<_> = other.steps.iter().map(|s| s.id.as_str()).collect();
                    return Err(here(inc, format!("lab {} has no step {id:?}; it has: {}", inc.lab, ids.join(", "))));
                };
                let mut s = s.clone();
                s.id = format!("{}/{}", other.id, s.id);
                // A step that does not succeed leaves only its own lab's included checks
                // unjudged, never the rest of this lab.
                let mapped: Vec<String> = s
                    .needed_by
                    .iter()
                    .map(|c| format!("{}/{c}", other.id))
                    .filter(|c| picked.iter().any(|p| &p.id == c))
                    .collect();
                // Without a list, as in its own lab: the included checks that need the service
                // or the database (a document check is judged whatever a step did).
                let needing = || {
                    picked
                        .iter()
                        .filter(|p| p.spec.needs() != crate::checks::Needs::Nothing)
                        .map(|p| p.id.clone())
                        .collect()
                };
                s.needed_by = if mapped.is_empty() { needing() } else { mapped };
                steps.push(s);
            }
            loaded.push((inc.before, inc.location.line, steps, picked));
        }
        // Rebuild the check list with the included ones in place; steps keep running before
        // the same check as written.
        let own = std::mem::take(&mut self.checks);
        let mut new_index = Vec::with_capacity(own.len() + 1);
        let mut included_steps = Vec::new();
        // Where each include's checks start: (its `before`, its line, first index).
        let mut starts: Vec<(usize, usize, usize)> = Vec::new();
        let mut loaded = loaded.into_iter().peekable();
        let mut place = |checks: &mut Vec<Check>, before: usize, line: usize, steps: Vec<Step>, picked: Vec<Check>| {
            starts.push((before, line, checks.len()));
            included_steps.extend(steps.into_iter().map(|mut s| {
                s.before = checks.len();
                s
            }));
            checks.extend(picked);
        };
        for (i, c) in own.into_iter().enumerate() {
            while let Some((b, line, steps, picked)) = loaded.next_if(|(b, _, _, _)| *b == i) {
                place(&mut self.checks, b, line, steps, picked);
            }
            new_index.push(self.checks.len());
            self.checks.push(c);
        }
        for (b, line, steps, picked) in loaded {
            place(&mut self.checks, b, line, steps, picked);
        }
        new_index.push(self.checks.len());
        for step in &mut self.steps {
            // An own step written above an include runs before the included checks, not
            // after them.
            let above = starts.iter().find(|(b, line, _)| *b == step.before && *line > step.location.line);
            step.before = match above {
                Some((_, _, start)) => *start,
                None => new_index[step.before],
            };
        }
        // Own steps written before an include keep running before its steps.
        self.steps.extend(included_steps);
        self.steps.sort_by_key(|s| s.before);
        let mut step_ids = BTreeSet::new();
        for s in &self.steps {
            if !step_ids.insert(s.id.as_str()) {
                return Err(Diagnostic {
                    location: s.location.clone(),
                    message: format!("step {:?} is included twice", s.id),
                    snippet: None,
                });
            }
        }
        let mut seen = BTreeSet::new();
        for c in &self.checks {
            if !seen.insert(c.id.as_str()) {
                return Err(Diagnostic {
                    location: c.location.clone(),
                    message: format!("check {:?} is included twice", c.id),
                    snippet: None,
                });
            }
        }
        self.validate_readiness()
    }

    /// Every check a readiness line names exists (after includes are expanded).
    fn validate_readiness(&self) -> Result<(), Diagnostic> {
        for r in &self.readiness {
            if r.checks.is_empty() {
                return Err(Diagnostic {
                    location: r.location.clone(),
                    message: format!("readiness {:?} names no checks; it must be derived from some", r.key),
                    snippet: None,
                });
            }
            for id in &r.checks {
                if !self.checks.iter().any(|c| &c.id == id) {
                    return Err(Diagnostic {
                        location: r.location.clone(),
                        message: format!(
                            "readiness {:?} names check {id:?}, which this lab does not define or include",
                            r.key
                        ),
                        snippet: None,
                    });
                }
            }
        }
        Ok(())
    }

    /// The lab whose folder holds a check's files (its own, or the one it is included from).
    pub fn files_of<'a>(&'a self, check: &'a Check) -> &'a str {
        check.origin.as_deref().unwrap_or(&self.id)
    }

    /// Read a file that belongs to this lab (a schema, a data file).
    pub fn read_file(&self, rel: &str) -> std::io::Result<Option<String>> {
        self.source.read(&format!("{}/{}", self.id, rel))
    }
}

/// An `[[include]]` or `[[readiness]]` table, with where it starts.
fn parse_located<'i, T: serde::de::DeserializeOwned + Located>(
    doc: &Doc<'i>,
    item: toml::Spanned<toml::de::DeValue<'i>>,
    what: &str,
) -> Result<T, Diagnostic> {
    let span = item.span();
    let toml::de::DeValue::Table(table) = item.into_inner() else {
        return Err(doc.err(span, format!("each [[{what}]] must be a table")));
    };
    let mut v: T = doc.table(table, span.clone())?;
    v.set_location(Location::at(&doc.file, doc.src, span.start));
    Ok(v)
}

trait Located {
    fn set_location(&mut self, at: Location);
}

impl Located for Include {
    fn set_location(&mut self, at: Location) {
        self.location = at;
    }
}

impl Located for Readiness {
    fn set_location(&mut self, at: Location) {
        self.location = at;
    }
}

fn parse_check<'i>(
    doc: &Doc<'i>,
    item: toml::Spanned<toml::de::DeValue<'i>>,
    token: bool,
) -> Result<Check, Diagnostic> {
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
        blocking: common.blocking,
        spec,
        location,
        origin: None,
        token,
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "title = \"T\"\n[[criterion]]\nid = \"c\"\ntext = \"C\"\n";

    fn check(id: &str, kind_and_keys: &str) -> String {
        format!("[[check]]\nid = \"{id}\"\ncriterion = \"c\"\nhint = \"h\"\ndoc = \"README.md\"\n{kind_and_keys}\n")
    }

    fn lab(id: &str, body: &str) -> Lab {
        Lab::parse(&LabSource::Embedded, &format!("{id}/lab.toml"), &format!("id = \"{id}\"\n{HEAD}{body}")).unwrap()
    }

    fn other() -> Lab {
        lab(
            "01-a",
            &format!(
                "[[step]]\nid = \"prep\"\nkind = \"restart\"\n{}{}",
                check("get", "kind = \"http\"\nrequest = { path = \"/x\" }"),
                check("notes", "kind = \"doc\"\nfile = \"N.md\"\nsections = [{ heading = \"A\" }]"),
            ),
        )
    }

    #[test]
    fn an_own_step_written_above_an_include_runs_before_the_included_checks() {
        let body = format!(
            "{}[[step]]\nid = \"mine\"\nkind = \"restart\"\n\n[[include]]\nlab = \"01-a\"\nchecks = [\"get\"]\ncriterion = \"c\"\n\n{}",
            check("first", "kind = \"http\"\nrequest = { path = \"/a\" }"),
            check("last", "kind = \"http\"\nrequest = { path = \"/b\" }"),
        );
        let mut l = lab("02-b", &body);
        l.expand(|_| Ok(other())).unwrap();
        let ids: Vec<&str> = l.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["first", "01-a/get", "last"]);
        let mine = l.steps.iter().find(|s| s.id == "mine").unwrap();
        assert_eq!(mine.before, 1, "the step runs before 01-a/get, as written");
    }

    #[test]
    fn an_included_step_without_a_list_holds_back_only_checks_that_need_the_service() {
        let body =
            "[[include]]\nlab = \"01-a\"\nsteps = [\"prep\"]\nchecks = [\"get\", \"notes\"]\ncriterion = \"c\"\n";
        let mut l = lab("02-b", body);
        l.expand(|_| Ok(other())).unwrap();
        let prep = l.steps.iter().find(|s| s.id == "01-a/prep").unwrap();
        assert_eq!(prep.needed_by, vec!["01-a/get".to_string()], "a document check is judged whatever a step did");
    }
}
