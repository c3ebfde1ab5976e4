//! Template variables: every `{{name}}` a check or step uses must be `uuid` or captured by a
//! check or step written before it (they run in the order written).

use std::collections::BTreeSet;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// Keys whose strings are never rendered as templates.
const NOT_RENDERED: &[&str] = &["id", "kind", "criterion", "hint", "doc", "capture", "needed_by"];

/// Built-in variables.
pub const BUILT_IN: &[&str] = &["uuid"];

/// One `{{name}}` in a spec, with its byte range in the spec's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub name: String,
    pub span: Range<usize>,
}

/// The templates one check or step uses, and the names it captures for later ones.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// How a message names it: `check "create-invoice"`.
    pub what: String,
    pub line: usize,
    pub uses: Vec<Use>,
    pub captures: Vec<String>,
}

/// A use of a name nothing before it captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncaptured {
    pub used: Use,
    /// The first later item that captures it (what, line), if any.
    pub captured_later_by: Option<(String, usize)>,
    /// The names known at that point, for a suggestion.
    pub known: Vec<String>,
}

/// The `{{name}}`s in `text`, which starts at byte `base` of the source.
pub fn in_text(text: &str, base: usize) -> Vec<Use> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{") {
        let open = from + open;
        let Some(close) = text[open + 2..].find("}}") else { break };
        let close = open + 2 + close;
        // A function's arguments are what it reads: `{{sha256 data}}` uses `data`.
        for name in crate::template::variables(text[open + 2..close].trim()) {
            out.push(Use { name: name.to_string(), span: base + open..base + close + 2 });
        }
        from = close + 2;
    }
    out
}

/// Scan one check's or step's table: the templates its values use (found in the source text
/// of each string, so positions are exact) and the names its `capture` table defines.
pub fn scan(src: &str, table: &DeTable<'_>) -> (Vec<Use>, Vec<String>) {
    let mut uses = Vec::new();
    let mut captures = Vec::new();
    for (k, v) in table {
        let key: &str = k.get_ref().as_ref();
        if key == "capture"
            && let DeValue::Table(t) = v.get_ref()
        {
            captures.extend(t.keys().map(|k| k.get_ref().to_string()));
        }
        if !NOT_RENDERED.contains(&key) {
            walk(src, v, &mut uses);
        }
    }
    (uses, captures)
}

fn walk(src: &str, v: &toml::Spanned<DeValue<'_>>, out: &mut Vec<Use>) {
    match v.get_ref() {
        DeValue::String(_) => {
            let span = v.span();
            if let Some(text) = src.get(span.clone()) {
                out.extend(in_text(text, span.start));
            }
        }
        DeValue::Array(a) => a.iter().for_each(|x| walk(src, x, out)),
        DeValue::Table(t) => t.values().for_each(|x| walk(src, x, out)),
        _ => {}
    }
}

/// Walk the items in the order they run; report each use of a name not captured before it.
pub fn flow(items: &[Item]) -> Vec<Uncaptured> {
    let mut known: BTreeSet<String> = BUILT_IN.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        for u in &item.uses {
            if !known.contains(&u.name) {
                let later = items[i + 1..]
                    .iter()
                    .chain(std::iter::once(item))
                    .find(|x| x.captures.contains(&u.name))
                    .map(|x| (x.what.clone(), x.line));
                out.push(Uncaptured {
                    used: u.clone(),
                    captured_later_by: later,
                    known: known.iter().cloned().collect(),
                });
            }
        }
        known.extend(item.captures.iter().cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_and_positions() {
        let u = in_text("\"/x/{{ invoice }}/y/{{id}}\"", 10);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].name, "invoice");
        assert_eq!(u[0].span, 14..27);
        assert_eq!(u[1].name, "id");
        assert!(in_text("no templates {{", 0).is_empty());
        assert!(in_text("{{}}", 0).is_empty());
    }

    #[test]
    fn scans_values_but_not_hints_and_collects_captures() {
        let src = r#"id = "a"
hint = "use {{nothing}}"
request = { path = "/i/{{inv}}", headers = { x = "{{h}}" } }
capture = { next = "/id" }
"#;
        let root = DeTable::parse(src).unwrap();
        let (uses, caps) = scan(src, root.get_ref());
        let mut names: Vec<_> = uses.iter().map(|u| u.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["h", "inv"]);
        for u in &uses {
            assert_eq!(&src[u.span.clone()], format!("{{{{{}}}}}", u.name));
        }
        assert_eq!(caps, ["next"]);
    }

    fn item(what: &str, line: usize, uses: &[&str], caps: &[&str]) -> Item {
        Item {
            what: what.into(),
            line,
            uses: uses.iter().map(|n| Use { name: n.to_string(), span: 0..0 }).collect(),
            captures: caps.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_name_must_be_captured_before_it_is_used() {
        let items = [
            item("check \"a\"", 1, &["uuid"], &["invoice"]),
            item("check \"b\"", 5, &["invoice", "customer"], &[]),
            item("check \"c\"", 9, &["later"], &["later"]),
            item("step \"d\"", 13, &[], &["customer"]),
        ];
        let bad = flow(&items);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad[0].used.name, "customer");
        assert_eq!(bad[0].captured_later_by, Some(("step \"d\"".into(), 13)));
        assert_eq!(bad[0].known, ["invoice", "uuid"]);
        assert_eq!(bad[1].used.name, "later");
        assert_eq!(bad[1].captured_later_by, Some(("check \"c\"".into(), 9)), "its own capture comes after it");
    }
}
