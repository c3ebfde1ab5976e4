//! Partial runs (`check --only`, `check --failed`, `watch --failed-first`): the checks asked
//! for, the steps and earlier checks they need, and the lab cut down to them.
//!
//! A check needs
//! - the steps before it that hold it back: a step whose `needed_by` names it, or a step
//!   without the list when the check needs the service or the database (as in the runner);
//! - the latest check or step before it that captures a `{{variable}}` it uses;
//! - the earlier checks that change what such a variable names (a request that is not GET,
//!   HEAD or OPTIONS to a path holding it: `POST /invoices/{{invoice}}/pay` before
//!   `?status=paid` lists it);
//!
//! and a step needs the providers of its own variables and, for a seed, the seed its `ref`
//! columns point at. All of it transitively. Pure, apart from reading the lab's own spec
//! text (through its source) for the templates.

use crate::checks::Needs;
use crate::spec::Lab;
use crate::steps::StepSpec;
use std::collections::{BTreeMap, BTreeSet};

/// Keys whose strings are never rendered as templates (as in `lint::templates`).
const NOT_RENDERED: &[&str] = &["id", "kind", "criterion", "hint", "doc", "capture", "needed_by"];

/// What one check or step reads and provides through template variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    pub uses: BTreeSet<String>,
    pub captures: BTreeSet<String>,
    /// Variables in the path of a request that changes state.
    pub writes: BTreeSet<String>,
}

/// The flows of a lab's checks and steps, index for index.
#[derive(Debug, Clone, Default)]
pub struct Flows {
    pub checks: Vec<Flow>,
    pub steps: Vec<Flow>,
}

impl Flows {
    /// Read them from the spec texts of the lab and of the labs it includes checks from.
    pub fn of(lab: &Lab) -> Flows {
        let tables: BTreeMap<&str, toml::Table> = std::iter::once(lab.id.as_str())
            .chain(lab.includes.iter().map(|i| i.lab.as_str()))
            .map(|id| {
                let text = lab.source.read(&format!("{id}/lab.toml")).ok().flatten().unwrap_or_default();
                (id, toml::from_str(&text).unwrap_or_default())
            })
            .collect();
        let find = |key: &str, id: &str| -> Flow {
            // The lab whose spec holds it, and its id there (included ones are `LAB/ID`).
            let (lab_id, own) = match id.split_once('/') {
                Some((l, rest)) if lab.includes.iter().any(|i| i.lab == l) => (l, rest),
                _ => (lab.id.as_str(), id),
            };
            tables
                .get(lab_id)
                .and_then(|t| t.get(key))
                .and_then(toml::Value::as_array)
                .and_then(|items| items.iter().find(|t| t.get("id").and_then(toml::Value::as_str) == Some(own)))
                .and_then(toml::Value::as_table)
                .map(flow_of)
                .unwrap_or_default()
        };
        Flows {
            checks: lab.checks.iter().map(|c| find("check", &c.id)).collect(),
            steps: lab.steps.iter().map(|s| find("step", &s.id)).collect(),
        }
    }
}

/// The flow of one `[[check]]` or `[[step]]` table. Pure.
pub fn flow_of(table: &toml::Table) -> Flow {
    let mut f = Flow::default();
    if let Some(c) = table.get("capture").and_then(toml::Value::as_table) {
        f.captures.extend(c.keys().cloned());
    }
    for (k, v) in table {
        if !NOT_RENDERED.contains(&k.as_str()) {
            walk(v, &mut f);
        }
    }
    f
}

fn names(s: &str) -> impl Iterator<Item = String> {
    crate::lint::templates::in_text(s, 0).into_iter().map(|u| u.name)
}

fn walk(v: &toml::Value, f: &mut Flow) {
    match v {
        toml::Value::String(s) => f.uses.extend(names(s)),
        toml::Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        toml::Value::Table(t) => {
            // A request: `method` (or an auth matrix route's `route = "POST /x"`) and `path`.
            if let Some(path) = t.get("path").and_then(toml::Value::as_str) {
                let method = t
                    .get("method")
                    .and_then(toml::Value::as_str)
                    .or_else(|| t.get("route").and_then(toml::Value::as_str).and_then(|r| r.split_whitespace().next()))
                    .unwrap_or("GET");
                if !["GET", "HEAD", "OPTIONS"].iter().any(|m| m.eq_ignore_ascii_case(method)) {
                    f.writes.extend(names(path));
                }
            }
            t.values().for_each(|x| walk(x, f));
        }
        _ => {}
    }
}

/// What a partial run runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Indexes into `lab.checks`, in run order.
    pub checks: Vec<usize>,
    /// Indexes into `lab.steps`, in run order.
    pub steps: Vec<usize>,
    /// Checks that run because an asked-for one needs them: (index, why).
    pub added: Vec<(usize, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Item {
    Step(usize),
    Check(usize),
}

/// Where an item runs: steps run before the check with their `before` index, in list order.
fn position(lab: &Lab, item: Item) -> (usize, u8, usize) {
    match item {
        Item::Step(j) => (lab.steps[j].before, 0, j),
        Item::Check(i) => (i, 1, 0),
    }
}

/// The checks `wanted` (indexes into `lab.checks`) and everything they need. Pure over the
/// lab and its flows.
pub fn select(lab: &Lab, flows: &Flows, wanted: &[usize]) -> Selection {
    let mut chosen: BTreeSet<Item> = BTreeSet::new();
    let mut added: BTreeMap<usize, String> = BTreeMap::new();
    let mut work: Vec<Item> = Vec::new();
    for &i in wanted {
        if chosen.insert(Item::Check(i)) {
            work.push(Item::Check(i));
        }
    }
    let name = |item: Item| match item {
        Item::Check(i) => lab.checks[i].id.clone(),
        Item::Step(j) => format!("step {}", lab.steps[j].id),
    };
    while let Some(item) = work.pop() {
        let at = position(lab, item);
        let flow = match item {
            Item::Check(i) => &flows.checks[i],
            Item::Step(j) => &flows.steps[j],
        };
        let mut need: Vec<(Item, String)> = Vec::new();
        for var in &flow.uses {
            // The latest capture of it before this item.
            let provider = (0..lab.steps.len())
                .filter(|&j| flows.steps[j].captures.contains(var))
                .map(Item::Step)
                .chain((0..lab.checks.len()).filter(|&k| flows.checks[k].captures.contains(var)).map(Item::Check))
                .filter(|x| position(lab, *x) < at)
                .max_by_key(|x| position(lab, *x));
            if let Some(p) = provider {
                need.push((p, format!("it captures {{{{{var}}}}}, which {} uses", name(item))));
            }
            if let Item::Check(i) = item {
                for k in (0..i).filter(|&k| flows.checks[k].writes.contains(var)) {
                    need.push((
                        Item::Check(k),
                        format!("it changes what {{{{{var}}}}} names before {} reads it", name(item)),
                    ));
                }
            }
        }
        match item {
            Item::Check(i) => {
                let check = &lab.checks[i];
                for (j, step) in lab.steps.iter().enumerate().filter(|(_, s)| s.before <= i) {
                    let holds_back = if step.needed_by.is_empty() {
                        check.spec.needs() != Needs::Nothing
                    } else {
                        step.needed_by.contains(&check.id)
                    };
                    if holds_back {
                        need.push((Item::Step(j), String::new()));
                    }
                }
            }
            Item::Step(j) => {
                if let StepSpec::Seed(seed) = &lab.steps[j].spec {
                    for r in seed.refs() {
                        let Some((table, _)) = r.split_once('.') else { continue };
                        let parent =
                            (0..j).rev().find(|&p| matches!(&lab.steps[p].spec, StepSpec::Seed(s) if s.table == table));
                        if let Some(p) = parent {
                            need.push((Item::Step(p), String::new()));
                        }
                    }
                }
            }
        }
        for (n, why) in need {
            if chosen.insert(n) {
                if let Item::Check(k) = n {
                    added.insert(k, why);
                }
                work.push(n);
            }
        }
    }
    let mut checks: Vec<usize> =
        chosen.iter().filter_map(|x| if let Item::Check(i) = x { Some(*i) } else { None }).collect();
    checks.sort_unstable();
    let steps: Vec<usize> = chosen.iter().filter_map(|x| if let Item::Step(j) = x { Some(*j) } else { None }).collect();
    Selection { checks, steps, added: added.into_iter().collect() }
}

/// The lab cut down to a selection: its checks and steps (each step still before the same
/// check), the criteria those checks serve, and the readiness lines they fully cover.
pub fn cut(lab: &Lab, sel: &Selection) -> Lab {
    let mut out = lab.clone();
    out.checks = sel.checks.iter().map(|&i| lab.checks[i].clone()).collect();
    out.steps = sel
        .steps
        .iter()
        .map(|&j| {
            let mut s = lab.steps[j].clone();
            s.before = sel.checks.iter().filter(|&&i| i < s.before).count();
            s
        })
        .collect();
    out.criteria.retain(|c| out.checks.iter().any(|k| k.criterion == c.id));
    out.readiness.retain(|r| r.checks.iter().all(|id| out.checks.iter().any(|k| &k.id == id)));
    out
}

/// The lab cut down to `wanted` and what it needs, and the event that says so; `asked` is
/// how the learner asked (`--only a,b`, `--failed`).
pub fn partial(lab: &Lab, wanted: &[usize], asked: String) -> (Lab, crate::events::PartialRun) {
    let sel = select(lab, &Flows::of(lab), wanted);
    let cut_lab = cut(lab, &sel);
    let run = crate::events::PartialRun {
        asked,
        requested: sel.checks.iter().filter(|i| wanted.contains(i)).map(|&i| lab.checks[i].id.clone()).collect(),
        added: sel.added.iter().map(|(i, why)| (lab.checks[*i].id.clone(), why.clone())).collect(),
        steps: sel.steps.iter().map(|&j| lab.steps[j].id.clone()).collect(),
        of: lab.checks.len(),
    };
    (cut_lab, run)
}

/// Resolve check ids the learner typed: exact, or the one included check `LAB/ID` ending in
/// it. An unknown one is a usage mistake with a suggestion, as lint gives.
pub fn resolve(lab: &Lab, asked: &[String]) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for a in asked.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        let exact = lab.checks.iter().position(|c| c.id == a);
        let suffix: Vec<usize> = lab
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.id.rsplit_once('/').is_some_and(|(_, own)| own == a))
            .map(|(i, _)| i)
            .collect();
        let i = match (exact, suffix.as_slice()) {
            (Some(i), _) => i,
            (None, [one]) => *one,
            (None, []) => return Err(unknown(lab, a)),
            (None, many) => {
                let ids: Vec<&str> = many.iter().map(|&i| lab.checks[i].id.as_str()).collect();
                return Err(format!(
                    "--only {a}: lab {} includes more than one check {a:?}; name one of: {}",
                    lab.id,
                    ids.join(", ")
                ));
            }
        };
        if !out.contains(&i) {
            out.push(i);
        }
    }
    if out.is_empty() {
        return Err("--only needs at least one check id (e.g. --only a,b)".into());
    }
    Ok(out)
}

fn unknown(lab: &Lab, a: &str) -> String {
    if let Some(step) = lab.steps.iter().find(|s| s.id == a) {
        let by = if step.needed_by.is_empty() {
            "every later check that needs the service or the database".to_string()
        } else {
            step.needed_by.join(", ")
        };
        return format!(
            "--only {a}: {a:?} is a step of lab {}, not a check; name a check that needs it ({by}) and the step runs with it",
            lab.id
        );
    }
    if lab.criteria.iter().any(|c| c.id == a) {
        let of: Vec<&str> = lab.checks.iter().filter(|c| c.criterion == a).map(|c| c.id.as_str()).collect();
        return format!(
            "--only {a}: {a:?} is a criterion of lab {}, not a check; its checks are: {}",
            lab.id,
            of.join(", ")
        );
    }
    let ids: Vec<&str> = lab.checks.iter().map(|c| c.id.as_str()).collect();
    let hint = crate::lint::suggest::closest(a, ids.iter().copied())
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_default();
    format!("--only {a}: lab {} has no check {a:?}{hint} (its checks: {})", lab.id, ids.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Catalog, LabEntry, LabSource};

    fn lab(id: &str) -> Lab {
        let catalog = Catalog::open(LabSource::Embedded).unwrap();
        match catalog.load(id).unwrap() {
            LabEntry::Written(l) => *l,
            LabEntry::NotWritten => panic!("{id} not written"),
        }
    }

    fn run(lab: &Lab, ids: &[&str]) -> (Vec<String>, Vec<String>) {
        let asked: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let sel = select(lab, &Flows::of(lab), &resolve(lab, &asked).unwrap());
        let cut = cut(lab, &sel);
        (cut.checks.iter().map(|c| c.id.clone()).collect(), cut.steps.iter().map(|s| s.id.clone()).collect())
    }

    #[test]
    fn a_plan_check_runs_with_the_seeds_before_it_and_nothing_else() {
        let l = lab("05-indexing");
        let (checks, steps) = run(&l, &["hot-query-index"]);
        assert_eq!(checks, ["hot-query-index"]);
        assert_eq!(steps, ["seed-customers", "seed-invoices"]);
        // A document check needs no step.
        let (checks, steps) = run(&l, &["indexes-doc"]);
        assert_eq!((checks.as_slice(), steps.len()), (["indexes-doc".to_string()].as_slice(), 0));
    }

    #[test]
    fn capture_providers_come_along_and_say_why() {
        let l = lab("02-http-contracts");
        let (checks, steps) = run(&l, &["invoice-get"]);
        assert_eq!(checks, ["customer-create", "invoice-create", "invoice-get"]);
        assert!(steps.is_empty());
        let asked = vec!["invoice-get".to_string()];
        let sel = select(&l, &Flows::of(&l), &resolve(&l, &asked).unwrap());
        let why: Vec<&str> = sel.added.iter().map(|(_, w)| w.as_str()).collect();
        assert!(why.contains(&"it captures {{invoice_id}}, which invoice-get uses"), "{why:?}");
        assert!(why.contains(&"it captures {{customer_id}}, which invoice-get uses"), "{why:?}");
    }

    #[test]
    fn earlier_checks_that_change_what_a_value_names_come_along() {
        let l = lab("04-persistence");
        let (checks, steps) = run(&l, &["list-status-filter"]);
        assert_eq!(
            checks,
            [
                "customer-create",
                "invoice-create",
                "send-draft",
                "send-sent-409",
                "pay-sent",
                "pay-paid-409",
                "list-status-filter"
            ]
        );
        assert!(steps.is_empty(), "the restart is needed by another check only: {steps:?}");
        let (checks, steps) = run(&l, &["invoice-survives-restart"]);
        assert_eq!(checks, ["customer-create", "invoice-create", "invoice-survives-restart"]);
        assert_eq!(steps, ["restart-service"]);
    }

    #[test]
    fn steps_keep_their_place_in_the_cut_lab() {
        let l = lab("07-async");
        let asked = vec!["etag-changes".to_string()];
        let sel = select(&l, &Flows::of(&l), &resolve(&l, &asked).unwrap());
        let c = cut(&l, &sel);
        let ids: Vec<&str> = c.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["etag-strong", "etag-changes"]);
        let steps: Vec<(&str, usize)> = c.steps.iter().map(|s| (s.id.as_str(), s.before)).collect();
        assert_eq!(
            steps,
            [("seed-customers", 0), ("seed-invoices", 0), ("seed-draft-invoice", 0), ("send-invoice", 1)]
        );
    }

    #[test]
    fn included_checks_resolve_by_their_own_id_and_bring_their_steps() {
        let l = lab("10-capstone");
        let asked = vec!["hot-query-index".to_string()];
        let idx = resolve(&l, &asked).unwrap();
        assert!(l.checks[idx[0]].id.ends_with("/hot-query-index"), "{}", l.checks[idx[0]].id);
        let sel = select(&l, &Flows::of(&l), &idx);
        let c = cut(&l, &sel);
        assert_eq!(c.checks.len(), 1, "{:?}", c.checks.iter().map(|c| &c.id).collect::<Vec<_>>());
        assert!(
            c.steps.iter().any(|s| s.spec.kind() == "seed"),
            "{:?}",
            c.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_unknown_id_gets_a_suggestion() {
        let l = lab("05-indexing");
        let e = resolve(&l, &["hot-qeury-index".to_string()]).unwrap_err();
        assert!(e.contains("has no check \"hot-qeury-index\"; did you mean \"hot-query-index\"?"), "{e}");
        let e = resolve(&l, &["seed-invoices".to_string()]).unwrap_err();
        assert!(e.contains("is a step of lab 05-indexing, not a check"), "{e}");
        assert!(resolve(&l, &[]).is_err());
        let e = resolve(&l, &["read-pattern".to_string()]).unwrap_err();
        assert!(e.contains("is a criterion of lab 05-indexing, not a check; its checks are: hot-query-index"), "{e}");
    }

    #[test]
    fn a_request_that_changes_state_writes_the_values_in_its_path() {
        let t: toml::Table = toml::from_str(
            r#"
id = "x"
hint = "{{not_used}}"
capture = { next = "/id" }
request = { method = "POST", path = "/invoices/{{invoice}}/pay", json = { c = "{{customer}}" } }
routes = [{ route = "DELETE /x/{id}", path = "/x/{{doomed}}" }, { route = "GET /y", path = "/y/{{seen}}" }]
"#,
        )
        .unwrap();
        let f = flow_of(&t);
        assert_eq!(f.captures, ["next".to_string()].into());
        assert_eq!(f.uses, ["customer", "doomed", "invoice", "seen"].map(String::from).into());
        assert_eq!(f.writes, ["doomed", "invoice"].map(String::from).into());
    }
}
