//! The bad and boundary inputs a probe sends, generated from an operation's model and the
//! run seed; the request each one renders to; and how a failing one is made smaller.
//! Fixed catalogues hold the values that break real services (2^31 into a 32-bit column, a
//! NUL byte into PostgreSQL text, `%FF` into `decodeURIComponent`, nesting past a parser's
//! recursion limit); proptest adds seeded random values and does the binary-search shrinking.

use super::{OpModel, Ty};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

/// A value as it appears in a JSON body: a JSON value, or raw text no JSON value can hold
/// (`1e400`, `NaN`, a lone surrogate escape).
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Json(Value),
    Raw(String),
}

impl Lit {
    pub fn text(&self) -> String {
        match self {
            Lit::Json(v) => v.to_string(),
            Lit::Raw(r) => r.clone(),
        }
    }

    /// The value as a report shows it: long strings summarised.
    fn shown(&self) -> String {
        match self {
            Lit::Json(Value::String(s)) if s.chars().count() > 40 => {
                let head: String = s.chars().take(12).collect();
                format!("{}… ({} characters)", Value::String(head), s.chars().count())
            }
            other => shorten(&other.text(), 60),
        }
    }
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}… ({} characters)", s.chars().take(n).collect::<String>(), s.chars().count())
    }
}

/// How one request differs from the operation's valid one.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// A body field set to a bad or boundary value.
    Field { name: String, value: Lit },
    /// A body field left out.
    Missing { name: String },
    /// A field the operation does not take.
    Extra { name: String, value: Lit },
    /// The whole body replaced.
    Body { what: String, bytes: Vec<u8> },
    /// The valid body under another media type (`None`: no Content-Type at all).
    ContentType { value: Option<String> },
    /// A path parameter, percent-encoded as sent.
    Path { name: String, raw: String },
    /// A query parameter, percent-encoded as sent.
    Query { name: String, raw: String },
    /// A query parameter given twice.
    QueryTwice { name: String },
}

/// One request to send: an operation (index into the models) and how it is changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub op: usize,
    pub mutation: Mutation,
    /// Valid body fields left out while shrinking.
    pub dropped: Vec<String>,
}

impl Case {
    /// What this request sends, in a report's words: `body amountCents = 2147483648`.
    pub fn label(&self) -> String {
        let base = match &self.mutation {
            Mutation::Field { name, value } => format!("body {name} = {}", value.shown()),
            Mutation::Missing { name } => format!("body without {name}"),
            Mutation::Extra { name, value } => format!("body with unknown field {name} = {}", value.shown()),
            Mutation::Body { what, .. } => format!("body {what}"),
            Mutation::ContentType { value: Some(v) } => format!("Content-Type: {v}"),
            Mutation::ContentType { value: None } => "no Content-Type".into(),
            Mutation::Path { name, raw } => format!("path {{{name}}} = {}", shorten(raw, 40)),
            Mutation::Query { name, raw } => format!("query {name}={}", shorten(raw, 40)),
            Mutation::QueryTwice { name } => format!("query {name} given twice"),
        };
        if self.dropped.is_empty() { base } else { format!("{base}, without {}", self.dropped.join(", ")) }
    }
}

/// A request as it goes on the wire (the check adds the token and the timeout).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub method: String,
    /// Percent-encoded path and query, to join to the base URL.
    pub target: String,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
}

const INTS: &[i64] = &[
    0,
    -1,
    2_147_483_647,
    2_147_483_648,
    -2_147_483_649,
    4_294_967_296,
    9_007_199_254_740_991,
    9_007_199_254_740_992,
    i64::MAX,
];
const RAW_NUMBERS: &[&str] = &["18446744073709551616", "1e400", "-1e400", "NaN", "Infinity"];
const PATH_VALUES: &[&str] = &[
    "not-a-uuid",
    "0",
    "-1",
    "2147483648",
    "99999999999999999999",
    "%00",
    "%FF",
    "%E2%98%83",
    "..%2F..%2Fetc%2Fpasswd",
    "%27%20OR%20%271%27%3D%271",
    "00000000-0000-0000-0000-000000000000",
    "%20",
];
const QUERY_VALUES: &[&str] = &[
    "",
    "-1",
    "0",
    "abc",
    "1.5",
    "2147483648",
    "1e309",
    "99999999999999999999",
    "%00",
    "%FF",
    "%E2%98%83",
    "null",
    "%5B%5D",
];

fn strings() -> Vec<Lit> {
    let mut v: Vec<Lit> =
        ["", " ", "Ωμέγα ✓ 💸", "\u{0}", "\u{202e}ledger", "' OR '1'='1", "../../../etc/passwd", "\u{feff}"]
            .iter()
            .map(|s| Lit::Json(json!(s)))
            .collect();
    v.push(Lit::Json(json!("a".repeat(10_000))));
    v.push(Lit::Raw("\"\\ud800\"".into()));
    v
}

fn numbers() -> Vec<Lit> {
    let mut v: Vec<Lit> = INTS.iter().map(|n| Lit::Json(json!(n))).collect();
    v.extend([Lit::Json(json!(1.5)), Lit::Json(json!(-0.01)), Lit::Json(json!(1e20))]);
    v.extend(RAW_NUMBERS.iter().map(|r| Lit::Raw(r.to_string())));
    v
}

/// Values of the wrong JSON type for a field of type `ty`.
fn wrong_types(ty: &Ty) -> Vec<Lit> {
    let mut v = vec![json!(null), json!(true), json!([]), json!({}), json!([1, [2, [3]]])];
    match ty {
        Ty::Integer | Ty::Number => v.extend([json!("12"), json!("")]),
        Ty::String { .. } => v.extend([json!(42), json!(-1.5)]),
        Ty::Boolean => v.extend([json!("true"), json!(1)]),
        Ty::Array | Ty::Object => v.extend([json!("x"), json!(0)]),
        Ty::Any => {}
    }
    v.into_iter().map(Lit::Json).collect()
}

/// The deterministic random source of one probe: the same seed, the same inputs.
fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1))).to_le_bytes());
    }
    TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn draw<S: Strategy>(runner: &mut TestRunner, s: S) -> S::Value {
    s.new_tree(runner).expect("these strategies always generate").current()
}

/// Seeded random values for a field of type `ty` (`n` of them).
fn random_values(runner: &mut TestRunner, ty: &Ty, n: usize) -> Vec<Lit> {
    (0..n)
        .filter_map(|_| match ty {
            Ty::Integer => Some(Lit::Json(json!(draw(runner, proptest::num::i64::ANY)))),
            Ty::Number => {
                let f = draw(runner, proptest::num::f64::NORMAL | proptest::num::f64::ZERO);
                serde_json::Number::from_f64(f).map(|n| Lit::Json(Value::Number(n)))
            }
            Ty::String { .. } | Ty::Any => {
                let s = draw(runner, proptest::string::string_regex("(?s).{1,48}").expect("a valid regex"));
                Some(Lit::Json(json!(s)))
            }
            _ => None,
        })
        .collect()
}

fn uuid_upper(runner: &mut TestRunner) -> String {
    let bytes = draw(runner, proptest::array::uniform16(proptest::num::u8::ANY));
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string().to_uppercase()
}

/// Every input to send to one operation, in a fixed order for a given seed.
fn cases_for(op: &OpModel, runner: &mut TestRunner, random: usize) -> Vec<Mutation> {
    let mut out = Vec::new();
    if let Some(body) = &op.body {
        for f in &body.fields {
            let mut values = match &f.ty {
                Ty::Integer | Ty::Number => numbers(),
                Ty::String { format, .. } => {
                    let mut v = strings();
                    if format.as_deref() == Some("uuid") {
                        v.push(Lit::Json(json!("not-a-uuid")));
                        v.push(Lit::Json(json!("00000000-0000-0000-0000-000000000000")));
                        v.push(Lit::Json(json!(uuid_upper(runner))));
                    }
                    v
                }
                Ty::Any => {
                    vec![
                        Lit::Json(json!(0)),
                        Lit::Json(json!(2_147_483_648i64)),
                        Lit::Json(json!("")),
                        Lit::Json(json!("\u{0}")),
                    ]
                }
                _ => Vec::new(),
            };
            values.extend(wrong_types(&f.ty));
            values.extend(random_values(runner, &f.ty, random));
            out.extend(values.into_iter().map(|value| Mutation::Field { name: f.name.clone(), value }));
            if f.required || body.base.contains_key(&f.name) {
                out.push(Mutation::Missing { name: f.name.clone() });
            }
        }
        for (name, value) in [
            ("zzUnknown", json!(1)),
            ("__proto__", json!({"admin": true})),
            ("constructor", json!({"prototype": {"admin": true}})),
        ] {
            out.push(Mutation::Extra { name: name.into(), value: Lit::Json(value) });
        }
        out.extend(whole_bodies(op));
        for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            out.push(Mutation::ContentType { value: ct.map(str::to_string) });
        }
    }
    for name in op.path_params() {
        let mut values: Vec<String> = PATH_VALUES.iter().map(|s| s.to_string()).collect();
        values.push("a".repeat(1000));
        values.push(uuid_upper(runner));
        out.extend(values.into_iter().map(|raw| Mutation::Path { name: name.clone(), raw }));
    }
    let mut query_names: Vec<String> = op.query.iter().map(|f| f.name.clone()).collect();
    for (k, _) in &op.query_base {
        if !query_names.contains(k) {
            query_names.push(k.clone());
        }
    }
    for name in &query_names {
        let mut values: Vec<String> = QUERY_VALUES.iter().map(|s| s.to_string()).collect();
        values.push("a".repeat(1000));
        out.extend(values.into_iter().map(|raw| Mutation::Query { name: name.clone(), raw }));
        out.push(Mutation::QueryTwice { name: name.clone() });
    }
    out.push(Mutation::Query { name: "zzUnknown".into(), raw: "1".into() });
    out
}

fn whole_bodies(op: &OpModel) -> Vec<Mutation> {
    let base = render_body(op, &[], None);
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("null".into(), b"null".to_vec()),
        ("[]".into(), b"[]".to_vec()),
        ("a JSON string".into(), br#""invoice""#.to_vec()),
        ("42".into(), b"42".to_vec()),
        ("{}".into(), b"{}".to_vec()),
        ("nested 10,000 arrays deep".into(), [b"[".repeat(10_000), b"]".repeat(10_000)].concat()),
        ("nested 3,000 objects deep".into(), [b"{\"a\":".repeat(3_000), b"1".to_vec(), b"}".repeat(3_000)].concat()),
        ("cut off halfway".into(), base[..base.len() / 2].to_vec()),
        ("followed by garbage".into(), [base.clone(), b"}x".to_vec()].concat()),
        ("after a byte-order mark".into(), [b"\xef\xbb\xbf".to_vec(), base.clone()].concat()),
    ];
    if let Some(f) = op.body.as_ref().and_then(|b| b.fields.iter().find(|f| matches!(f.ty, Ty::String { .. }))) {
        v.push((
            format!("with invalid UTF-8 in {}", f.name),
            [format!("{{\"{}\":\"", f.name).into_bytes(), b"\xff\xfe".to_vec(), b"\"}".to_vec()].concat(),
        ));
    }
    if let Some((k, _)) = op.body.as_ref().and_then(|b| b.base.iter().next()) {
        let dup = format!("{},\"{k}\":null}}", String::from_utf8_lossy(&base[..base.len() - 1]));
        v.push((format!("with {k} given twice"), dup.into_bytes()));
    }
    v.into_iter().map(|(what, bytes)| Mutation::Body { what, bytes }).collect()
}

/// Every input for every operation: each operation's in turn (so a budget cut leaves none
/// unprobed), deterministic for a seed. `random` seeded random values per body field.
pub fn generate(ops: &[OpModel], seed: u64, random: usize) -> Vec<Case> {
    let mut runner = runner(seed);
    let per_op: Vec<Vec<Mutation>> = ops.iter().map(|op| cases_for(op, &mut runner, random)).collect();
    let longest = per_op.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for k in 0..longest {
        for (op, list) in per_op.iter().enumerate() {
            if let Some(m) = list.get(k) {
                out.push(Case { op, mutation: m.clone(), dropped: Vec::new() });
            }
        }
    }
    out
}

/// Percent-encode a path segment or query value given as plain text.
pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The body as text: the valid body with `dropped` left out and one field changed (`None`:
/// unchanged), fields in the valid body's order.
fn render_body(op: &OpModel, dropped: &[String], change: Option<&Mutation>) -> Vec<u8> {
    let Some(body) = &op.body else { return Vec::new() };
    let mut parts: Vec<String> = Vec::new();
    let key = |k: &str| Value::String(k.to_string()).to_string();
    let mut placed = false;
    for (k, v) in &body.base {
        if dropped.contains(k) {
            continue;
        }
        match change {
            Some(Mutation::Missing { name }) if name == k => continue,
            Some(Mutation::Field { name, value }) if name == k => {
                placed = true;
                parts.push(format!("{}:{}", key(k), value.text()));
            }
            _ => parts.push(format!("{}:{}", key(k), v)),
        }
    }
    match change {
        Some(Mutation::Field { name, value }) if !placed => parts.push(format!("{}:{}", key(name), value.text())),
        Some(Mutation::Extra { name, value }) => parts.push(format!("{}:{}", key(name), value.text())),
        _ => {}
    }
    format!("{{{}}}", parts.join(",")).into_bytes()
}

/// The request one case sends.
pub fn render(ops: &[OpModel], case: &Case) -> Rendered {
    let op = &ops[case.op];
    let mut path = String::new();
    for seg in op.route.split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => match &case.mutation {
                Mutation::Path { name: n, raw } if n == name => path.push_str(raw),
                _ => match op.path_base.get(name) {
                    Some(v) => path.push_str(&encode(v)),
                    None => path.push_str(&uuid::Uuid::nil().to_string()),
                },
            },
            None => path.push_str(seg),
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    let mut query: Vec<String> = Vec::new();
    for (k, v) in &op.query_base {
        match &case.mutation {
            Mutation::Query { name, .. } if name == k => {}
            _ => query.push(format!("{}={}", encode(k), encode(v))),
        }
    }
    match &case.mutation {
        Mutation::Query { name, raw } => query.push(format!("{}={raw}", encode(name))),
        Mutation::QueryTwice { name } => {
            let v = op.query_base.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("1");
            query.retain(|q| !q.starts_with(&format!("{}=", encode(name))));
            query.push(format!("{}={}", encode(name), encode(v)));
            query.push(format!("{}=2", encode(name)));
        }
        _ => {}
    }
    let target = if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) };
    let json = Some("application/json".to_string());
    let (content_type, body) = match (&op.body, &case.mutation) {
        (None, _) => (None, None),
        (Some(_), Mutation::Body { bytes, .. }) => (json, Some(bytes.clone())),
        (Some(_), Mutation::ContentType { value }) => (value.clone(), Some(render_body(op, &case.dropped, None))),
        (Some(_), m) => (json, Some(render_body(op, &case.dropped, Some(m)))),
    };
    Rendered { method: op.method.clone(), target, content_type, body }
}

/// Smaller versions of a failing case that leave out one more valid body field each.
pub fn without_one_field(ops: &[OpModel], case: &Case) -> Vec<Case> {
    let Some(body) = &ops[case.op].body else { return Vec::new() };
    if !matches!(case.mutation, Mutation::Field { .. } | Mutation::Missing { .. } | Mutation::Extra { .. }) {
        return Vec::new();
    }
    let changed = match &case.mutation {
        Mutation::Field { name, .. } | Mutation::Missing { name } | Mutation::Extra { name, .. } => name.as_str(),
        _ => "",
    };
    body.base
        .keys()
        .filter(|k| k.as_str() != changed && !case.dropped.contains(k))
        .map(|k| {
            let mut c = case.clone();
            c.dropped.push(k.clone());
            c
        })
        .collect()
}

/// Shrinks the value of a failing field by binary search toward zero (an integer) or toward
/// a shorter prefix (a string), with proptest's search trees: `advance(failed)` moves to the
/// next candidate given whether the current one still failed.
pub struct ValueShrink {
    case: Case,
    tree: Tree,
}

enum Tree {
    Int(proptest::num::i64::BinarySearch),
    Len(Vec<char>, proptest::num::usize::BinarySearch),
}

impl ValueShrink {
    pub fn new(case: &Case) -> Option<ValueShrink> {
        let Mutation::Field { value: Lit::Json(v), .. } = &case.mutation else { return None };
        let tree = match v {
            Value::Number(n) => Tree::Int(proptest::num::i64::BinarySearch::new(n.as_i64().filter(|i| i.abs() > 1)?)),
            Value::String(s) if s.chars().count() > 1 => {
                let chars: Vec<char> = s.chars().collect();
                let n = chars.len();
                Tree::Len(chars, proptest::num::usize::BinarySearch::new(n))
            }
            _ => return None,
        };
        Some(ValueShrink { case: case.clone(), tree })
    }

    /// The case to try now.
    pub fn candidate(&self) -> Case {
        let mut c = self.case.clone();
        if let Mutation::Field { value, .. } = &mut c.mutation {
            *value = match &self.tree {
                Tree::Int(t) => Lit::Json(json!(t.current())),
                Tree::Len(chars, t) => Lit::Json(json!(chars[..t.current()].iter().collect::<String>())),
            };
        }
        c
    }

    /// Move on from the current candidate; false when the search is over. The first call
    /// (with `failed = true`: the original failed) proposes the first smaller value.
    pub fn advance(&mut self, failed: bool) -> bool {
        match (&mut self.tree, failed) {
            (Tree::Int(t), true) => t.simplify(),
            (Tree::Int(t), false) => t.complicate(),
            (Tree::Len(_, t), true) => t.simplify(),
            (Tree::Len(_, t), false) => t.complicate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{BodyModel, Field};
    use std::collections::BTreeMap;

    fn invoices() -> Vec<OpModel> {
        let base = json!({"customerId": "c-1", "amountCents": 100, "currency": "EUR"});
        vec![
            OpModel {
                method: "POST".into(),
                route: "/invoices".into(),
                body: Some(BodyModel {
                    base: base.as_object().unwrap().clone(),
                    fields: vec![
                        Field {
                            name: "customerId".into(),
                            ty: Ty::String { format: Some("uuid".into()), enumerated: false },
                            required: true,
                        },
                        Field { name: "amountCents".into(), ty: Ty::Integer, required: true },
                        Field {
                            name: "currency".into(),
                            ty: Ty::String { format: None, enumerated: false },
                            required: true,
                        },
                    ],
                }),
                ..OpModel::default()
            },
            OpModel {
                method: "GET".into(),
                route: "/customers/{id}/invoices".into(),
                path_base: BTreeMap::from([("id".to_string(), "c 1".to_string())]),
                query_base: vec![("limit".into(), "10".into())],
                ..OpModel::default()
            },
        ]
    }

    fn find<'a>(cases: &'a [Case], label: &str) -> &'a Case {
        cases.iter().find(|c| c.label() == label).unwrap_or_else(|| panic!("no case {label:?}"))
    }

    #[test]
    fn the_catalogue_covers_the_classic_breakers() {
        let ops = invoices();
        let cases = generate(&ops, 7, 2);
        for label in [
            "body amountCents = 2147483648",
            "body amountCents = 9007199254740992",
            "body amountCents = 1e400",
            "body amountCents = \"12\"",
            "body currency = \"\\u0000\"",
            "body without customerId",
            "body with unknown field __proto__ = {\"admin\":true}",
            "body nested 10,000 arrays deep",
            "body empty",
            "Content-Type: text/plain",
            "path {id} = %FF",
            "query limit=2147483648",
            "query limit given twice",
        ] {
            find(&cases, label);
        }
        assert!(cases.len() < 300, "{} cases: the default budget must hold them", cases.len());
        assert_eq!(cases[0].op, 0);
        assert_eq!(cases[1].op, 1, "operations take turns, so a budget cut leaves none out");
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let ops = invoices();
        assert_eq!(generate(&ops, 42, 3), generate(&ops, 42, 3));
        assert_ne!(generate(&ops, 42, 3), generate(&ops, 43, 3), "random values follow the seed");
    }

    #[test]
    fn cases_render_to_requests() {
        let ops = invoices();
        let cases = generate(&ops, 1, 0);
        let r = render(&ops, find(&cases, "body amountCents = 2147483648"));
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/invoices");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            String::from_utf8(r.body.unwrap()).unwrap(),
            r#"{"customerId":"c-1","amountCents":2147483648,"currency":"EUR"}"#
        );
        let r = render(&ops, find(&cases, "body without customerId"));
        assert_eq!(String::from_utf8(r.body.unwrap()).unwrap(), r#"{"amountCents":100,"currency":"EUR"}"#);
        let r = render(&ops, find(&cases, "body amountCents = NaN"));
        assert_eq!(
            String::from_utf8(r.body.unwrap()).unwrap(),
            r#"{"customerId":"c-1","amountCents":NaN,"currency":"EUR"}"#
        );
        let r = render(&ops, find(&cases, "no Content-Type"));
        assert_eq!((r.content_type, r.body.is_some()), (None, true));
        let r = render(&ops, find(&cases, "path {id} = %FF"));
        assert_eq!((r.target.as_str(), r.body), ("/customers/%FF/invoices?limit=10", None));
        let r = render(&ops, find(&cases, "query limit=2147483648"));
        assert_eq!(r.target, "/customers/c%201/invoices?limit=2147483648");
        let r = render(&ops, find(&cases, "query limit given twice"));
        assert_eq!(r.target, "/customers/c%201/invoices?limit=10&limit=2");
        let r = render(&ops, find(&cases, "body with customerId given twice"));
        assert_eq!(
            String::from_utf8(r.body.unwrap()).unwrap(),
            r#"{"customerId":"c-1","amountCents":100,"currency":"EUR","customerId":null}"#
        );
    }

    #[test]
    fn a_failing_integer_shrinks_to_the_boundary() {
        let ops = invoices();
        let start = Case {
            op: 0,
            mutation: Mutation::Field { name: "amountCents".into(), value: Lit::Json(json!(3_000_000_000i64)) },
            dropped: vec![],
        };
        // A 32-bit column: everything above 2^31 - 1 fails.
        let fails = |c: &Case| match &c.mutation {
            Mutation::Field { value: Lit::Json(v), .. } => v.as_i64().unwrap() > 2_147_483_647,
            _ => unreachable!(),
        };
        let mut s = ValueShrink::new(&start).unwrap();
        let mut best = start.clone();
        let mut failed = true;
        let mut steps = 0;
        while s.advance(failed) {
            let c = s.candidate();
            failed = fails(&c);
            if failed {
                best = c;
            }
            steps += 1;
        }
        assert_eq!(best.label(), "body amountCents = 2147483648");
        assert!(steps <= 64, "{steps} steps");
        // Leaving out other fields is tried one at a time.
        let smaller = without_one_field(&ops, &best);
        assert_eq!(smaller.len(), 2);
        assert_eq!(smaller[0].label(), "body amountCents = 2147483648, without customerId");
    }

    #[test]
    fn a_failing_string_shrinks_to_a_prefix() {
        let start = Case {
            op: 0,
            mutation: Mutation::Field { name: "currency".into(), value: Lit::Json(json!("a".repeat(10_000))) },
            dropped: vec![],
        };
        let fails = |c: &Case| matches!(&c.mutation, Mutation::Field { value: Lit::Json(Value::String(s)), .. } if s.len() > 255);
        let mut s = ValueShrink::new(&start).unwrap();
        let (mut best, mut failed) = (start.clone(), true);
        while s.advance(failed) {
            let c = s.candidate();
            failed = fails(&c);
            if failed {
                best = c;
            }
        }
        assert_eq!(best.label(), "body currency = \"aaaaaaaaaaaa\"… (256 characters)");
    }
}
