//! One lab file, item by item, so that one bad `[[check]]` does not hide the others: every
//! criterion, check, step, include and readiness group is parsed on its own, then the lab is
//! checked as a whole (ids, criteria, weights, template variables, schema files).

use super::Files;
use super::includes::{self, Included};
use super::schemas;
use super::suggest::{closest, enrich, suggested};
use super::templates;
use crate::checks::CheckSpec;
use crate::spec::de::{Doc, split_table, string_entry};
use crate::spec::{Criterion, Diagnostic, Location};
use crate::steps::StepSpec;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Top-level arrays of tables.
pub const ARRAYS: &[&str] = &["criterion", "check", "step", "include", "readiness"];
/// Keys every check has beside its kind's own.
pub const CHECK_KEYS: &[&str] = &["id", "kind", "criterion", "weight", "hint", "doc", "blocking", "required"];
/// Keys every step has beside its kind's own.
pub const STEP_KEYS: &[&str] = &["id", "kind", "needed_by"];

/// The top-level keys that are not arrays of tables.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Head {
    /// Equal to the lab's folder name, e.g. "05-indexing".
    pub id: String,
    /// Shown in reports.
    pub title: String,
    /// Send the grader's default bearer token with every request unless a request says otherwise.
    #[serde(default)]
    pub token: bool,
    /// Inputs made anew for each run from the run seed, usable as `{{name}}` in every check
    /// and step: `data = { word = [8, 12] }`, `iterations = { int = [1000, 20000] }`.
    #[serde(default)]
    pub generate: std::collections::BTreeMap<String, crate::template::Generate>,
}

/// The keys every `[[check]]` has; the kind's own keys sit beside them.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CheckCommon {
    /// Unique among the lab's checks and steps.
    pub id: String,
    /// The check kind; the other keys of the table belong to it.
    pub kind: String,
    /// An id from [[criterion]].
    pub criterion: String,
    /// A positive number (default 1): the check's share of its criterion.
    #[serde(default = "one")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub weight: f64,
    /// What to do when it fails, in one or two sentences.
    pub hint: String,
    /// A README anchor in the lab folder ("README.md#errors") or an http(s) URL.
    pub doc: String,
    /// A lab is not passed while a blocking check fails, whatever the score: security,
    /// data integrity, correct results and the lab's headline objective. (`required` is
    /// the older name of the same key.)
    #[serde(default, alias = "required")]
    pub blocking: bool,
}

/// The keys every `[[step]]` has; the kind's own keys sit beside them.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StepCommon {
    /// Unique among the lab's checks and steps.
    pub id: String,
    /// The step kind; the other keys of the table belong to it.
    pub kind: String,
    /// The checks that depend on this step (default: every later check that needs the
    /// service or the database).
    #[serde(default)]
    pub needed_by: Vec<String>,
}

fn one() -> f64 {
    1.0
}

/// The span and value of `weight` in `table`, when it is a number.
pub fn weight(doc: &Doc<'_>, table: &DeTable<'_>) -> Option<(Range<usize>, f64)> {
    let (_, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == "weight")?;
    let w: f64 = doc.value(v.clone()).ok()?;
    Some((v.span(), w))
}

fn with_suggestion(d: Diagnostic, extra: &[&str]) -> Diagnostic {
    Diagnostic { message: enrich(&d.message, extra), ..d }
}

fn maybe(word: &str, candidates: &[String]) -> String {
    closest(word, candidates.iter().map(String::as_str)).map(|c| format!("; did you mean {c:?}?")).unwrap_or_default()
}

fn one_of(items: &[String]) -> String {
    if items.is_empty() { "none defined".to_string() } else { format!("one of: {}", items.join(", ")) }
}

/// A check or step as far as the whole-lab rules need it.
struct Named {
    what: String,
    id: String,
    span: Range<usize>,
}

/// Every mistake in one lab file. `folder` is the lab's folder name (its id must equal it).
pub fn lint_lab(file: &str, src: &str, folder: &str, files: &dyn Files) -> Vec<Diagnostic> {
    let doc = Doc::new(file, src);
    let root = match doc.parse() {
        Ok(r) => r,
        Err(d) => return vec![d],
    };
    let mut out = Vec::new();
    let root_span = root.span();
    let (arrays, head) = split_table(root.into_inner(), ARRAYS);
    let lab_id = string_entry(&head, "id");
    let mut generated: Vec<String> = Vec::new();
    match doc.table::<Head>(head, root_span) {
        Err(d) => out.push(with_suggestion(d, ARRAYS)),
        Ok(h) => {
            for (name, g) in &h.generate {
                if let Err(e) = g.validate() {
                    let at = src.find(&format!("{name} =")).unwrap_or(0);
                    out.push(doc.err(at..at + name.len(), format!("generate.{name}: {e}")));
                }
            }
            generated = h.generate.into_keys().collect();
        }
    }
    if let Some((span, id)) = &lab_id
        && id != folder
    {
        out.push(doc.err(span.clone(), format!("lab id {id:?} does not match its folder; expected id = {folder:?}")));
    }

    let mut items: Vec<(String, Spanned<DeValue<'_>>)> = Vec::new();
    for (key, arr) in arrays {
        let key = key.get_ref().to_string();
        let span = arr.span();
        match arr.into_inner() {
            DeValue::Array(a) => items.extend(a.into_iter().map(|i| (key.clone(), i))),
            _ => out.push(doc.err(span, format!("`{key}` must be an array of tables; expected [[{key}]]"))),
        }
    }
    items.sort_by_key(|(_, i)| i.span().start);

    let mut criteria: Vec<(String, Range<usize>)> = Vec::new();
    let mut ids: Vec<Named> = Vec::new();
    let mut check_ids: Vec<String> = Vec::new();
    let mut names_criterion: Vec<(String, Range<usize>, String)> = Vec::new();
    let mut needed_by: Vec<(Range<usize>, String)> = Vec::new();
    // What [generate] makes is known before the first check.
    let mut flow: Vec<templates::Item> =
        vec![templates::Item { what: "[generate]".into(), line: 1, uses: Vec::new(), captures: generated }];
    let mut later: Vec<(String, Spanned<DeValue<'_>>)> = Vec::new();

    for (key, item) in items {
        let span = item.span();
        let DeValue::Table(table) = item.get_ref() else {
            out.push(doc.err(span, format!("each [[{key}]] must be a table")));
            continue;
        };
        match key.as_str() {
            "criterion" => {
                if let Err(d) = doc.value::<Criterion>(item.clone()) {
                    out.push(with_suggestion(d, &[]));
                }
                if let Some((s, w)) = weight(&doc, table)
                    && !(w > 0.0 && w.is_finite())
                {
                    out.push(doc.err(s, format!("criterion has weight {w}; expected a positive number")));
                }
                if let Some((s, id)) = string_entry(table, "id") {
                    if let Some((_, first)) = criteria.iter().find(|(c, _)| *c == id) {
                        let line = Location::at("", src, first.start).line;
                        out.push(doc.err(
                            s.clone(),
                            format!("criterion {id:?} is defined twice (first at line {line}); expected unique criterion ids"),
                        ));
                    }
                    criteria.push((id, s));
                }
            }
            "check" | "step" => {
                let is_check = key == "check";
                let id = string_entry(table, "id");
                let what = match &id {
                    Some((_, i)) => format!("{key} {i:?}"),
                    None => format!("this {key}"),
                };
                let kind = string_entry(table, "kind");
                out.extend(item_errors(&doc, table, &span, kind.clone(), is_check));
                if let Some((s, i)) = &id {
                    ids.push(Named { what: what.clone(), id: i.clone(), span: s.clone() });
                    if is_check && !check_ids.contains(i) {
                        check_ids.push(i.clone());
                    }
                }
                if is_check {
                    if let Some((s, c)) = string_entry(table, "criterion") {
                        names_criterion.push((what.clone(), s, c));
                    }
                    if let Some((s, w)) = weight(&doc, table)
                        && !(w > 0.0 && w.is_finite())
                    {
                        out.push(doc.err(
                            s,
                            format!(
                                "{what} has weight {w}; expected a positive number (only a pass earns a check's weight)"
                            ),
                        ));
                    }
                    for (s, rel) in schemas::references(kind.as_ref().map(|(_, k)| k.as_str()), table) {
                        let problem = match files.read(&rel) {
                            Ok(None) => Some(format!(
                                "{what} names JSON Schema file {rel:?}, which does not exist; expected a file at {}",
                                files.display(&rel)
                            )),
                            Ok(Some(text)) => schemas::check_text(&text)
                                .err()
                                .map(|e| format!("{what} names JSON Schema file {rel:?}, which {e}")),
                            Err(e) => Some(format!("cannot read {}: {e}", files.display(&rel))),
                        };
                        if let Some(p) = problem {
                            out.push(doc.err(s, p));
                        }
                    }
                } else {
                    needed_by.extend(includes::strings(table, "needed_by"));
                }
                let (uses, captures) = templates::scan(src, table);
                let line = Location::at("", src, span.start).line;
                flow.push(templates::Item { what, line, uses, captures });
            }
            _ => {
                if key == "include" {
                    // The included steps and checks run here; later checks may use what they capture.
                    let what = "[[include]]".to_string();
                    let line = Location::at("", src, span.start).line;
                    let captures = includes::captures(table, files);
                    flow.push(templates::Item { what, line, uses: Vec::new(), captures });
                }
                later.push((key, item));
            }
        }
    }

    // Ids are unique among checks and steps.
    for (i, n) in ids.iter().enumerate() {
        if let Some(first) = ids[..i].iter().find(|f| f.id == n.id) {
            let line = Location::at("", src, first.span.start).line;
            out.push(doc.err(
                n.span.clone(),
                format!(
                    "id {:?} is used twice (first by the {} at line {line}); expected check and step ids to be unique in a lab",
                    n.id,
                    first.what.split(' ').next().unwrap_or("check")
                ),
            ));
        }
    }

    let criterion_ids: Vec<String> = criteria.iter().map(|(c, _)| c.clone()).collect();
    if criteria.is_empty() && !out.iter().any(|d| d.message.contains("`criterion`")) {
        out.push(doc.err(0..0, "this lab has no [[criterion]]; expected at least one rubric line"));
    }
    for (what, s, c) in &names_criterion {
        if !criterion_ids.contains(c) {
            out.push(doc.err(
                s.clone(),
                format!(
                    "{what} names criterion {c:?}, which no [[criterion]] defines; expected {}{}",
                    one_of(&criterion_ids),
                    maybe(c, &criterion_ids)
                ),
            ));
        }
    }

    // Includes and readiness groups, once the checks and criteria are known.
    let this_lab = lab_id.as_ref().map_or(folder, |(_, id)| id.as_str());
    let mut included: Included = Vec::new();
    let mut include_criteria: Vec<String> = Vec::new();
    for (_, item) in later.iter().filter(|(k, _)| k == "include") {
        if let DeValue::Table(t) = item.get_ref()
            && let Some((_, c)) = string_entry(t, "criterion")
        {
            include_criteria.push(c);
        }
        out.extend(includes::check_include(&doc, item, this_lab, &criterion_ids, files, &mut included));
    }
    let mut keys = Vec::new();
    for (_, item) in later.iter().filter(|(k, _)| k == "readiness") {
        out.extend(includes::check_readiness(&doc, item, &check_ids, &included, &mut keys));
    }

    // Every criterion needs evidence.
    for (c, s) in &criteria {
        let served = names_criterion.iter().any(|(_, _, x)| x == c) || include_criteria.contains(c);
        if !served {
            out.push(doc.err(
                s.clone(),
                format!(
                    "criterion {c:?} has no check; expected at least one [[check]] with criterion = {c:?} (every rubric line needs evidence)"
                ),
            ));
        }
    }

    for (s, id) in &needed_by {
        if !check_ids.contains(id) {
            out.push(doc.err(
                s.clone(),
                format!(
                    "needed_by names check {id:?}, which this lab does not define; expected {}{}",
                    one_of(&check_ids),
                    maybe(id, &check_ids)
                ),
            ));
        }
    }

    for u in templates::flow(&flow) {
        let name = &u.used.name;
        let msg = match &u.captured_later_by {
            Some((what, line)) => format!(
                "{{{{{name}}}}} is used before anything captures it: {what} (line {line}) captures it, but runs after this; expected a capture in an earlier check or step"
            ),
            None => format!(
                "{{{{{name}}}}} is not captured by any earlier check or step; expected one of: {}{}",
                u.known.join(", "),
                closest(name, u.known.iter().map(String::as_str))
                    .map(|c| format!("; did you mean {{{{{c}}}}}?"))
                    .unwrap_or_default()
            ),
        };
        out.push(doc.err(u.used.span.clone(), msg));
    }

    out.sort_by_key(|d| (d.location.line, d.location.col));
    out
}

/// The parse errors of one check or step: its common keys and its kind's keys, each on its
/// own, so a mistake in one does not hide a mistake in the other.
fn item_errors(
    doc: &Doc<'_>,
    table: &DeTable<'_>,
    span: &Range<usize>,
    kind: Option<(Range<usize>, String)>,
    is_check: bool,
) -> Vec<Diagnostic> {
    let common_keys = if is_check { CHECK_KEYS } else { STEP_KEYS };
    let (common, rest) = split_table(table.clone(), common_keys);
    let mut errs = Vec::new();
    let common_result = if is_check {
        doc.table::<CheckCommon>(common, span.clone()).map(|_| ())
    } else {
        doc.table::<StepCommon>(common, span.clone()).map(|_| ())
    };
    if let Err(d) = common_result {
        errs.push(d);
    }
    match kind {
        None => {
            let (what, kinds) = if is_check { ("check", CheckSpec::KINDS) } else { ("step", StepSpec::KINDS) };
            errs.retain(|d| d.message != "missing field `kind`");
            errs.push(
                doc.err(span.clone(), format!("this {what} has no `kind`; expected one of: {}", kinds.join(", "))),
            );
        }
        Some((kind_span, kind)) => {
            let parsed = if is_check {
                CheckSpec::parse(doc, &kind, kind_span, rest, span.clone()).map(|_| ())
            } else {
                StepSpec::parse(doc, &kind, kind_span, rest, span.clone()).map(|_| ())
            };
            if let Err(d) = parsed {
                errs.push(with_suggestion(d, common_keys));
            }
        }
    }
    // A misspelt common key shows as unknown to the kind; its "missing field" is the same mistake.
    let meant: Vec<String> = errs.iter().filter_map(|d| suggested(&d.message).map(str::to_string)).collect();
    errs.retain(|d| !meant.iter().any(|m| d.message == format!("missing field `{m}`")));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Mem {
        files: BTreeMap<String, String>,
        labs: BTreeMap<String, Vec<String>>,
    }

    impl Files for Mem {
        fn read(&self, rel: &str) -> std::io::Result<Option<String>> {
            Ok(self.files.get(rel).cloned())
        }
        fn display(&self, rel: &str) -> String {
            format!("LAB/{rel}")
        }
        fn lab_ids(&self, lab: &str) -> Option<super::super::LabIds> {
            let checks = self.labs.get(lab)?.iter().map(|c| (c.clone(), vec![format!("{c}_id")])).collect();
            Some(super::super::LabIds { checks, steps: vec![("seed".into(), vec!["seeded".into()])], includes: false })
        }
        fn labs(&self) -> Vec<String> {
            self.labs.keys().cloned().collect()
        }
    }

    const GOOD: &str = r#"id = "x"
title = "X"

[[criterion]]
id = "c"
text = "C."

[[check]]
id = "make"
kind = "http"
criterion = "c"
hint = "h"
doc = "README.md#a"
request = { method = "POST", path = "/things" }
expect = { status = 201, json_schema = "schemas/thing.json" }
capture = { thing = "/id" }

[[check]]
id = "read"
kind = "http"
criterion = "c"
hint = "h"
doc = "README.md#a"
request = { path = "/things/{{thing}}" }
"#;

    fn files() -> Mem {
        let mut m = Mem::default();
        m.files.insert("schemas/thing.json".into(), r#"{"type": "object"}"#.into());
        m
    }

    fn lint(src: &str) -> Vec<String> {
        lint_lab("lab.toml", src, "x", &files()).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_good_lab_has_no_errors() {
        assert_eq!(lint(GOOD), Vec::<String>::new());
    }

    #[test]
    fn reports_every_bad_item_not_only_the_first() {
        let src = GOOD.replace("request = { method = \"POST\"", "requets = { method = \"POST\"").replace(
            "kind = \"http\"\ncriterion = \"c\"\nhint = \"h\"\ndoc = \"README.md#a\"\nrequest = { path",
            "kind = \"htp\"\ncriterion = \"c\"\nhint = \"h\"\ndoc = \"README.md#a\"\nrequest = { path",
        );
        let e = lint(&src);
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].starts_with("lab.toml:14:1: unknown field `requets`"), "{}", e[0]);
        assert!(
            e[0].ends_with(
                "did you mean `request`?\n   |\n14 | requets = { method = \"POST\", path = \"/things\" }\n   | ^^^^^^^"
            ),
            "{}",
            e[0]
        );
        assert!(e[1].contains("unknown check kind \"htp\"") && e[1].contains("did you mean \"http\"?"), "{}", e[1]);
    }

    #[test]
    fn a_misspelt_common_key_is_one_error_with_a_suggestion() {
        let e = lint(&GOOD.replacen("criterion = \"c\"\nhint", "critrion = \"c\"\nhint", 1));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("unknown field `critrion`") && e[0].contains("did you mean `criterion`?"), "{}", e[0]);
    }

    #[test]
    fn whole_lab_rules() {
        let src = GOOD.replacen("id = \"read\"", "id = \"make\"", 1).replacen(
            "criterion = \"c\"\nhint",
            "criterion = \"d\"\nweight = 0\nhint",
            1,
        ) + "\n[[criterion]]\nid = \"lonely\"\ntext = \"L.\"\n";
        let e = lint(&src);
        let msgs: Vec<&str> = e.iter().map(|m| m.lines().next().unwrap()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("check \"make\" names criterion \"d\"") && m.contains("one of: c, lonely")),
            "{msgs:#?}"
        );
        assert!(msgs.iter().any(|m| m.contains("has weight 0; expected a positive number")), "{msgs:#?}");
        assert!(
            msgs.iter().any(|m| m.contains("id \"make\" is used twice (first by the check at line 9)")),
            "{msgs:#?}"
        );
        assert!(msgs.iter().any(|m| m.contains("criterion \"lonely\" has no check")), "{msgs:#?}");
        assert_eq!(msgs.len(), 4, "{msgs:#?}");
    }

    #[test]
    fn template_used_before_capture() {
        let src = GOOD.replace("{{thing}}", "{{thng}}");
        let e = lint(&src);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("{{thng}} is not captured by any earlier check or step; expected one of: thing, uuid; did you mean {{thing}}?"), "{}", e[0]);
        assert!(e[0].contains("|                             ^^^^^^^^"), "{}", e[0]);
    }

    #[test]
    fn schema_files_must_exist_and_be_schemas() {
        let mut m = files();
        m.files.insert("schemas/thing.json".into(), "{".into());
        let e: Vec<String> = lint_lab("lab.toml", GOOD, "x", &m).iter().map(|d| d.message.clone()).collect();
        assert!(e[0].contains("which is not JSON"), "{e:?}");
        let e: Vec<String> =
            lint_lab("lab.toml", GOOD, "x", &Mem::default()).iter().map(|d| d.message.clone()).collect();
        assert!(e[0].contains("does not exist; expected a file at LAB/schemas/thing.json"), "{e:?}");
    }

    #[test]
    fn includes_and_readiness_name_what_exists() {
        let mut m = files();
        m.labs.insert("01-a".into(), vec!["one".into(), "two".into()]);
        let src = GOOD.to_string()
            + r#"
[[include]]
lab = "01-a"
checks = ["one", "tow"]
criterion = "c"

[[include]]
lab = "01-b"
checks = ["x"]
criterion = "c"

[[readiness]]
key = "k"
title = "K"
checks = ["make", "01-a/one", "01-a/two", "mkae"]
"#;
        let e: Vec<String> = lint_lab("lab.toml", &src, "x", &m).iter().map(|d| d.message.clone()).collect();
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(
            e[0].contains("lab \"01-a\" has no check \"tow\"") && e[0].contains("did you mean \"two\"?"),
            "{}",
            e[0]
        );
        assert!(e[1].contains("names lab \"01-b\", which this labs folder does not have"), "{}", e[1]);
        assert!(e[2].contains("readiness names \"01-a/two\", which no [[include]] of this lab brings in"), "{}", e[2]);
        assert!(e[3].contains("readiness names check \"mkae\"") && e[3].contains("did you mean \"make\"?"), "{}", e[3]);
    }

    #[test]
    fn included_steps_and_checks_capture_for_later_checks() {
        let mut m = files();
        m.labs.insert("01-a".into(), vec!["one".into()]);
        let src = GOOD.replace("{{thing}}", "{{seeded}}/{{one_id}}").replace(
            "[[check]]\nid = \"read\"",
            "[[include]]\nlab = \"01-a\"\nsteps = [\"seed\", \"nope\"]\nchecks = [\"one\"]\ncriterion = \"c\"\n\n[[check]]\nid = \"read\"",
        );
        let e: Vec<String> = lint_lab("lab.toml", &src, "x", &m).iter().map(|d| d.message.clone()).collect();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("lab \"01-a\" has no step \"nope\""), "{}", e[0]);
    }

    #[test]
    fn head_mistakes_and_folder() {
        let e = lint(&GOOD.replacen("title = \"X\"", "titel = \"X\"", 1).replacen("id = \"x\"", "id = \"y\"", 1));
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].contains("lab id \"y\" does not match its folder; expected id = \"x\""), "{e:#?}");
        assert!(e[1].contains("unknown field `titel`") && e[1].contains("did you mean `title`?"), "{}", e[1]);
    }
}
