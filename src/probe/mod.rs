//! Bad-input probing as pure logic: what an operation takes (from a JSON Schema or an OpenAPI
//! document), the bad and boundary inputs to send it, how a request is rendered from one of
//! them, how an answer is judged, and how a failing input is made smaller. The `probe` check
//! (`checks/probe.rs`) does the sending.

pub mod cases;

pub use cases::{Case, Lit, Mutation, generate};

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The JSON type a field or parameter is documented with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Integer,
    Number,
    String {
        format: Option<String>,
        enumerated: bool,
    },
    Boolean,
    Array,
    Object,
    /// Undocumented: probed with every kind of value.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub required: bool,
}

/// One operation to probe: where it is, the valid values the bad ones replace one at a time,
/// and what it is documented to take.
#[derive(Debug, Clone, Default)]
pub struct OpModel {
    /// Upper case, e.g. `POST`.
    pub method: String,
    /// A path template, e.g. `/invoices/{id}`.
    pub route: String,
    /// Valid values for the path's parameters (a parameter without one gets a fresh UUID).
    pub path_base: BTreeMap<String, String>,
    /// Valid query parameters sent with every request but the one that changes them.
    pub query_base: Vec<(String, String)>,
    /// Documented query parameters (probed one at a time).
    pub query: Vec<Field>,
    /// The JSON body, for operations that take one.
    pub body: Option<BodyModel>,
}

#[derive(Debug, Clone, Default)]
pub struct BodyModel {
    /// A valid body (its fields in order); bad values replace one field at a time.
    pub base: Map<String, Value>,
    pub fields: Vec<Field>,
}

impl OpModel {
    /// Names of the path template's parameters, in order.
    pub fn path_params(&self) -> Vec<String> {
        self.route
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect()
    }

    pub fn operation(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

/// The fields a JSON Schema object documents (`allOf` parts merged), with their types.
pub fn fields_of(schema: &Value) -> Vec<Field> {
    let mut props: Vec<(String, Value)> = Vec::new();
    let mut required: Vec<String> = Vec::new();
    collect(schema, &mut props, &mut required, 0);
    props.into_iter().map(|(name, s)| Field { required: required.contains(&name), ty: ty_of(&s), name }).collect()
}

fn collect(schema: &Value, props: &mut Vec<(String, Value)>, required: &mut Vec<String>, depth: usize) {
    if depth > 4 {
        return;
    }
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in p {
            if !props.iter().any(|(n, _)| n == k) {
                props.push((k.clone(), v.clone()));
            }
        }
    }
    if let Some(r) = schema.get("required").and_then(Value::as_array) {
        required.extend(r.iter().filter_map(Value::as_str).map(str::to_string));
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        collect(part, props, required, depth + 1);
    }
}

/// The documented type of a schema (the first non-null one of a list).
pub fn ty_of(schema: &Value) -> Ty {
    let t = match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    };
    match t {
        Some("integer") => Ty::Integer,
        Some("number") => Ty::Number,
        Some("string") => Ty::String {
            format: schema.get("format").and_then(Value::as_str).map(str::to_string),
            enumerated: schema.get("enum").is_some(),
        },
        Some("boolean") => Ty::Boolean,
        Some("array") => Ty::Array,
        Some("object") => Ty::Object,
        _ if schema.get("enum").is_some() => Ty::String { format: None, enumerated: true },
        _ => Ty::Any,
    }
}

/// Merge two views of the same fields: names from both, types from `preferred` where it
/// documents them (the learner's own document), `required` from either.
pub fn merge_fields(preferred: &[Field], other: &[Field]) -> Vec<Field> {
    let mut out: Vec<Field> = preferred.to_vec();
    for f in other {
        match out.iter_mut().find(|g| g.name == f.name) {
            Some(g) => {
                g.required |= f.required;
                if g.ty == Ty::Any {
                    g.ty = f.ty.clone();
                }
            }
            None => out.push(f.clone()),
        }
    }
    out
}

/// What is wrong with an answer to a bad input, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A 5xx: the service's fault for the caller's input.
    ServerError(u16),
    /// No answer: a hang past the timeout, a dropped connection, a crash.
    NoAnswer(String),
    /// A 4xx outside the contract's error shape.
    Shape { status: u16, why: String },
}

impl Finding {
    /// Two findings are "the same failure" for shrinking: a smaller input must still fail the
    /// same way (any 5xx counts as the same).
    pub fn same_kind(&self, other: &Finding) -> bool {
        matches!(
            (self, other),
            (Finding::ServerError(_), Finding::ServerError(_))
                | (Finding::NoAnswer(_), Finding::NoAnswer(_))
                | (Finding::Shape { .. }, Finding::Shape { .. })
        )
    }

    pub fn describe(&self) -> String {
        match self {
            Finding::ServerError(s) => format!("{s}"),
            Finding::NoAnswer(e) => e.clone(),
            Finding::Shape { status, why } => format!("{status}, {why}"),
        }
    }
}

/// The answer to one probe as plain data (status, content type, JSON body if any).
pub struct Answer<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub json: Option<Value>,
}

/// Judge one answer: a 5xx fails, and with an error schema a 4xx must be
/// `application/problem+json` whose body satisfies it. A 2xx is fine: a boundary value the
/// contract allows (an amount of 2^31 cents) must be accepted, not refused.
pub fn judge(answer: Result<Answer<'_>, String>, error_schema: Option<&jsonschema::Validator>) -> Option<Finding> {
    let a = match answer {
        Ok(a) => a,
        Err(e) => return Some(Finding::NoAnswer(e)),
    };
    if a.status >= 500 {
        return Some(Finding::ServerError(a.status));
    }
    if (400..500).contains(&a.status)
        && let Some(v) = error_schema
    {
        let media = a.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media != "application/problem+json" {
            let got = if media.is_empty() { "no Content-Type".to_string() } else { media };
            return Some(Finding::Shape {
                status: a.status,
                why: format!("{got} instead of application/problem+json"),
            });
        }
        match &a.json {
            None => return Some(Finding::Shape { status: a.status, why: "a body that is not JSON".into() }),
            Some(body) => {
                if let Some(e) = v.iter_errors(body).next() {
                    let at = e.instance_path().to_string();
                    let at = if at.is_empty() { "(root)".to_string() } else { at };
                    return Some(Finding::Shape { status: a.status, why: format!("not a valid problem: {at}: {e}") });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_types_come_from_the_schema() {
        let s = json!({
            "type": "object",
            "required": ["amountCents"],
            "properties": {
                "customerId": {"type": "string", "format": "uuid"},
                "amountCents": {"type": ["integer", "null"]},
                "status": {"enum": ["draft", "sent"]}
            },
            "allOf": [{"properties": {"note": {}}, "required": ["note"]}]
        });
        let f = fields_of(&s);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].ty, Ty::String { format: Some("uuid".into()), enumerated: false });
        assert_eq!(f[1], Field { name: "amountCents".into(), ty: Ty::Integer, required: true });
        assert_eq!(f[2].ty, Ty::String { format: None, enumerated: true });
        assert_eq!(f[3], Field { name: "note".into(), ty: Ty::Any, required: true });
    }

    #[test]
    fn the_learners_types_win_and_names_add_up() {
        let mine = vec![Field { name: "a".into(), ty: Ty::Any, required: false }];
        let lab = vec![
            Field { name: "a".into(), ty: Ty::Integer, required: true },
            Field { name: "b".into(), ty: Ty::Boolean, required: false },
        ];
        let m = merge_fields(&mine, &lab);
        assert_eq!(m[0], Field { name: "a".into(), ty: Ty::Integer, required: true });
        assert_eq!(m[1].name, "b");
    }

    #[test]
    fn answers_are_judged_by_class_and_shape() {
        let ok = |status, ct: &'static str, json| Answer { status, content_type: ct, json };
        assert_eq!(judge(Ok(ok(500, "text/html", None)), None), Some(Finding::ServerError(500)));
        assert_eq!(judge(Ok(ok(201, "application/json", None)), None), None);
        assert_eq!(judge(Ok(ok(400, "text/plain", None)), None), None, "without an error schema any 4xx is fine");
        assert_eq!(
            judge(Err("no answer within 2.0 s".into()), None),
            Some(Finding::NoAnswer("no answer within 2.0 s".into()))
        );
        let schema = jsonschema::validator_for(&json!({"type": "object", "required": ["status"]})).unwrap();
        let f = judge(Ok(ok(404, "application/json", Some(json!({"status": 404})))), Some(&schema)).unwrap();
        assert!(f.describe().contains("application/json instead of application/problem+json"), "{f:?}");
        let f = judge(Ok(ok(400, "application/problem+json; charset=utf-8", Some(json!({})))), Some(&schema)).unwrap();
        assert!(matches!(f, Finding::Shape { status: 400, .. }));
        assert_eq!(judge(Ok(ok(400, "application/problem+json", Some(json!({"status": 400})))), Some(&schema)), None);
        assert!(Finding::ServerError(500).same_kind(&Finding::ServerError(502)));
        assert!(!Finding::ServerError(500).same_kind(&Finding::NoAnswer(String::new())));
    }
}
