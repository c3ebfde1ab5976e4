//! `[[include]]` (checks of an earlier lab graded again under one of this lab's criteria) and
//! `[[readiness]]` (named groups of checks, e.g. for a capstone's readiness report): the labs,
//! checks and criteria they name must exist.

use super::Files;
use super::suggest::{closest, enrich};
use crate::spec::Diagnostic;
use crate::spec::de::{Doc, string_entry};
use crate::spec::lab::{Include, Readiness};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// What an include brought in: (lab, check ids).
pub type Included = Vec<(String, Vec<String>)>;

/// The string items of array `key` of `table`, with their spans.
pub fn strings(table: &DeTable<'_>, key: &str) -> Vec<(Range<usize>, String)> {
    match table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v.get_ref()) {
        Some(DeValue::Array(a)) => a
            .iter()
            .filter_map(|x| match x.get_ref() {
                DeValue::String(s) => Some((x.span(), s.to_string())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn one_of(items: &[String]) -> String {
    if items.is_empty() { "none defined".to_string() } else { format!("one of: {}", items.join(", ")) }
}

fn maybe(word: &str, candidates: &[String]) -> String {
    closest(word, candidates.iter().map(String::as_str)).map(|c| format!("; did you mean {c:?}?")).unwrap_or_default()
}

/// The names an include's steps and checks capture (for the template variables of the checks
/// written after it).
pub fn captures(table: &DeTable<'_>, files: &dyn Files) -> Vec<String> {
    let Some((_, lab)) = string_entry(table, "lab") else { return Vec::new() };
    let Some(other) = files.lab_ids(&lab) else { return Vec::new() };
    let wanted: Vec<String> =
        strings(table, "steps").into_iter().chain(strings(table, "checks")).map(|(_, id)| id).collect();
    other
        .steps
        .iter()
        .chain(&other.checks)
        .filter(|(id, _)| wanted.contains(id))
        .flat_map(|(_, caps)| caps.iter().cloned())
        .collect()
}

/// Check one `[[include]]`; record what it brings in.
pub fn check_include(
    doc: &Doc<'_>,
    item: &Spanned<DeValue<'_>>,
    this_lab: &str,
    criteria: &[String],
    files: &dyn Files,
    included: &mut Included,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let DeValue::Table(table) = item.get_ref() else { return out };
    if let Err(d) = doc.value::<Include>(item.clone()) {
        out.push(Diagnostic { message: enrich(&d.message, &[]), ..d });
    }
    if let Some((span, c)) = string_entry(table, "criterion")
        && !criteria.contains(&c)
    {
        out.push(doc.err(
            span,
            format!(
                "[[include]] counts toward criterion {c:?}, which no [[criterion]] defines; expected {}{}",
                one_of(criteria),
                maybe(&c, criteria)
            ),
        ));
    }
    if let Some((span, w)) = super::lab::weight(doc, table)
        && !(w > 0.0 && w.is_finite())
    {
        out.push(doc.err(span, format!("[[include]] has weight {w}; expected a positive number")));
    }
    let Some((lab_span, lab)) = string_entry(table, "lab") else { return out };
    if lab == this_lab {
        out.push(doc.err(lab_span, format!("a lab cannot include its own checks; expected another lab than {lab:?}")));
        return out;
    }
    let Some(other) = files.lab_ids(&lab) else {
        let labs: Vec<String> = files.labs().into_iter().filter(|l| l != this_lab).collect();
        out.push(doc.err(
            lab_span,
            format!(
                "[[include]] names lab {lab:?}, which this labs folder does not have; expected {}{}",
                one_of(&labs),
                maybe(&lab, &labs)
            ),
        ));
        return out;
    };
    if other.includes {
        out.push(doc.err(
            lab_span,
            format!("lab {lab:?} includes checks itself; expected a lab without [[include]] (includes do not nest)"),
        ));
    }
    for (what, key, known) in [("check", "checks", &other.checks), ("step", "steps", &other.steps)] {
        let known: Vec<String> = known.iter().map(|(id, _)| id.clone()).collect();
        for (span, id) in strings(table, key) {
            if !known.contains(&id) {
                out.push(doc.err(
                    span,
                    format!("lab {lab:?} has no {what} {id:?}; expected {}{}", one_of(&known), maybe(&id, &known)),
                ));
            } else if key == "checks" && included.iter().any(|(l, ids)| *l == lab && ids.contains(&id)) {
                out.push(doc.err(span, format!("check \"{lab}/{id}\" is included twice; expected each check once")));
            }
        }
    }
    let known: Vec<&String> = other.checks.iter().map(|(id, _)| id).collect();
    let brought = strings(table, "checks").into_iter().map(|(_, id)| id).filter(|id| known.contains(&id)).collect();
    included.push((lab, brought));
    out
}

/// Check one `[[readiness]]` line against this lab's checks and what its includes bring in.
pub fn check_readiness(
    doc: &Doc<'_>,
    item: &Spanned<DeValue<'_>>,
    checks: &[String],
    included: &Included,
    keys: &mut Vec<String>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let DeValue::Table(table) = item.get_ref() else { return out };
    if let Err(d) = doc.value::<Readiness>(item.clone()) {
        out.push(Diagnostic { message: enrich(&d.message, &[]), ..d });
    }
    let key = string_entry(table, "key");
    if let Some((span, key)) = &key {
        if keys.contains(key) {
            out.push(doc.err(
                span.clone(),
                format!("readiness key {key:?} is used twice; expected each line to have its own key"),
            ));
        }
        keys.push(key.clone());
    }
    let named = strings(table, "checks");
    if named.is_empty()
        && let Some((_, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == "checks")
    {
        out.push(doc.err(v.span(), "readiness names no checks; expected the ids of the checks it is derived from"));
    }
    let brought: Vec<String> =
        included.iter().flat_map(|(l, ids)| ids.iter().map(move |i| format!("{l}/{i}"))).collect();
    for (span, id) in named {
        if id.contains('/') {
            if !brought.contains(&id) {
                out.push(doc.err(
                    span,
                    format!(
                        "readiness names {id:?}, which no [[include]] of this lab brings in; expected {}{}",
                        one_of(&brought),
                        maybe(&id, &brought)
                    ),
                ));
            }
        } else if !checks.contains(&id) {
            out.push(doc.err(
                span,
                format!(
                    "readiness names check {id:?}, which this lab does not define; expected {} (a check of an included lab is written \"LAB/ID\"){}",
                    one_of(checks),
                    maybe(&id, checks)
                ),
            ));
        }
    }
    out
}
