//! The learner's OpenAPI document: load it, find the response schema of an operation, and
//! turn it into a JSON Schema validator (contract first: live responses are checked against
//! what the learner documented).

use serde_json::{Map, Value};
use std::path::Path;

/// Read an OpenAPI document (YAML or JSON) into JSON.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{} does not exist", path.display()),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Value, String> {
    let v: Value = yaml_serde::from_str(text).map_err(|e| format!("not valid YAML/JSON: {e}"))?;
    match v.get("openapi").and_then(Value::as_str) {
        Some(ver) if ver.starts_with("3.") => Ok(v),
        Some(ver) => Err(format!("openapi: {ver:?} — expected an OpenAPI 3.x document")),
        None => Err("no `openapi: 3.x` field at the top; is this an OpenAPI 3 document?".into()),
    }
}

/// `"GET /invoices/{id}"` → ("get", "/invoices/{id}").
pub fn parse_operation(op: &str) -> Result<(String, String), String> {
    let (m, p) = op
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("operation {op:?}: expected \"METHOD /path\", e.g. \"GET /invoices/{{id}}\""))?;
    let m = m.to_ascii_lowercase();
    if !["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains(&m.as_str())
        || !p.starts_with('/')
    {
        return Err(format!("operation {op:?}: expected \"METHOD /path\", e.g. \"GET /invoices/{{id}}\""));
    }
    Ok((m, p.trim().to_string()))
}

/// Path templates compare equal whatever their parameter names: `/a/{id}` ~ `/a/{invoiceId}`.
pub fn same_route(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim_end_matches('/')
            .split('/')
            .map(|seg| if seg.starts_with('{') && seg.ends_with('}') { "{}" } else { seg })
            .collect::<Vec<_>>()
            .join("/")
    };
    norm(a) == norm(b)
}

/// The operation object for (method, route), if documented.
pub fn operation<'a>(doc: &'a Value, method: &str, route: &str) -> Option<&'a Value> {
    doc.get("paths")?.as_object()?.iter().find(|(p, _)| same_route(p, route)).and_then(|(_, item)| item.get(method))
}

/// Routes (`"POST /customers"`) that the document does not describe.
pub fn missing_routes(doc: &Value, routes: &[String]) -> Vec<String> {
    routes
        .iter()
        .filter(|r| match parse_operation(r) {
            Ok((m, p)) => operation(doc, &m, &p).is_none(),
            Err(_) => true,
        })
        .cloned()
        .collect()
}

/// A validator for the body of a `status` response to (method, route).
pub fn response_validator(
    doc: &Value,
    method: &str,
    route: &str,
    status: u16,
    content_type: &str,
) -> Result<jsonschema::Validator, String> {
    let op = operation(doc, method, route)
        .ok_or_else(|| format!("your OpenAPI document has no `{method}` operation under `{route}`"))?;
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{} {route} documents no responses", method.to_uppercase()))?;
    let class = format!("{}XX", status / 100);
    let response = responses
        .get(&status.to_string())
        .or_else(|| responses.get(&class))
        .or_else(|| responses.get(&class.to_lowercase()))
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("{} {route} documents no {status} response", method.to_uppercase()))?;
    let response = resolve(doc, response)?;
    let content = response
        .get("content")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("the {status} response of {} {route} documents no content", method.to_uppercase()))?;
    let media = content_type.split(';').next().unwrap_or("").trim();
    let entry =
        content.get(media).or_else(|| content.iter().find(|(k, _)| k.ends_with("json")).map(|(_, v)| v)).ok_or_else(
            || format!("the {status} response of {} {route} documents no {media:?} content", method.to_uppercase()),
        )?;
    let schema = entry
        .get("schema")
        .ok_or_else(|| format!("the {status} response of {} {route} has no schema", method.to_uppercase()))?;
    let v30 = doc.get("openapi").and_then(Value::as_str).is_some_and(|v| v.starts_with("3.0"));
    validator(doc, schema, v30)
}

/// Every documented operation, as ("post", "/invoices").
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else { return Vec::new() };
    let mut out = Vec::new();
    for (route, item) in paths {
        for m in METHODS {
            if item.get(*m).is_some_and(Value::is_object) {
                out.push((m.to_string(), route.clone()));
            }
        }
    }
    out
}

/// The JSON request body's schema of (method, route), with local `$ref`s inlined.
pub fn request_body_schema(doc: &Value, method: &str, route: &str) -> Option<Value> {
    let op = operation(doc, method, route)?;
    let body = resolve(doc, op.get("requestBody")?).ok()?;
    let content = body.get("content")?.as_object()?;
    let entry = content
        .get("application/json")
        .or_else(|| content.iter().find(|(k, _)| k.ends_with("json")).map(|(_, v)| v))?;
    Some(inline_refs(doc, entry.get("schema")?, 0))
}

/// Parameters of (method, route) in `path` or `query` (the path item's and the operation's),
/// as (name, in, schema with `$ref`s inlined).
pub fn parameters(doc: &Value, method: &str, route: &str) -> Vec<(String, String, Value)> {
    let Some((_, item)) =
        doc.get("paths").and_then(Value::as_object).and_then(|p| p.iter().find(|(p, _)| same_route(p, route)))
    else {
        return Vec::new();
    };
    let lists = [item.get("parameters"), item.get(method).and_then(|o| o.get("parameters"))];
    let mut out: Vec<(String, String, Value)> = Vec::new();
    for p in lists.into_iter().flatten().filter_map(Value::as_array).flatten() {
        let Ok(p) = resolve(doc, p) else { continue };
        let (Some(name), Some(at)) = (p.get("name").and_then(Value::as_str), p.get("in").and_then(Value::as_str))
        else {
            continue;
        };
        if at != "path" && at != "query" {
            continue;
        }
        let schema = p.get("schema").map(|s| inline_refs(doc, s, 0)).unwrap_or(Value::Null);
        out.retain(|(n, a, _)| !(n == name && a == at)); // the operation's own overrides the path item's
        out.push((name.to_string(), at.to_string(), schema));
    }
    out
}

/// A copy of `v` with every local `$ref` replaced by what it points at (a few levels deep:
/// enough to see a body's fields and their types, safe against recursive schemas).
fn inline_refs(doc: &Value, v: &Value, depth: usize) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                let target = r.strip_prefix('#').and_then(|p| doc.pointer(p));
                return match target {
                    Some(t) if depth < 6 => inline_refs(doc, t, depth + 1),
                    _ => Value::Object(Map::new()),
                };
            }
            Value::Object(o.iter().map(|(k, v)| (k.clone(), inline_refs(doc, v, depth))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| inline_refs(doc, v, depth)).collect()),
        other => other.clone(),
    }
}

/// Follow a local `$ref` (responses may be references too).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> Result<&'a Value, String> {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let ptr = r.strip_prefix('#').ok_or_else(|| format!("only local $ref are supported, found {r:?}"))?;
            doc.pointer(ptr).ok_or_else(|| format!("$ref {r:?} points at nothing"))
        }
        None => Ok(v),
    }
}

/// Build a validator whose root carries the document's `components`, so that
/// `#/components/schemas/X` references resolve as they do in the document.
fn validator(doc: &Value, schema: &Value, v30: bool) -> Result<jsonschema::Validator, String> {
    let mut root = Map::new();
    let mut components = doc.get("components").cloned().unwrap_or(Value::Null);
    let mut schema = schema.clone();
    if v30 {
        nullable_to_type(&mut components);
        nullable_to_type(&mut schema);
    }
    root.insert("allOf".into(), Value::Array(vec![schema]));
    if !components.is_null() {
        root.insert("components".into(), components);
    }
    let root = Value::Object(root);
    let draft = if v30 { jsonschema::Draft::Draft4 } else { jsonschema::Draft::Draft202012 };
    jsonschema::options()
        .with_draft(draft)
        .build(&root)
        .map_err(|e| format!("the schema in your OpenAPI document is not valid: {e}"))
}

/// OpenAPI 3.0's `nullable: true` is not JSON Schema; say it the JSON Schema way.
fn nullable_to_type(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = o.get("type").cloned()
            {
                o.insert("type".into(), Value::Array(vec![Value::String(t), Value::String("null".into())]));
            }
            o.values_mut().for_each(nullable_to_type);
        }
        Value::Array(a) => a.iter_mut().for_each(nullable_to_type),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str = r#"
openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /invoices/{invoiceId}:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: { $ref: '#/components/schemas/Invoice' }
        "404":
          $ref: '#/components/responses/NotFound'
components:
  responses:
    NotFound:
      description: nf
      content:
        application/problem+json:
          schema: { type: object, required: [type, title, status] }
  schemas:
    Invoice:
      type: object
      required: [id, amountCents]
      properties:
        id: { type: string }
        amountCents: { type: integer }
"#;

    #[test]
    fn validates_against_referenced_schema() {
        let doc = parse(DOC).unwrap();
        let v = response_validator(&doc, "get", "/invoices/{id}", 200, "application/json; charset=utf-8").unwrap();
        assert!(v.is_valid(&json!({"id": "x", "amountCents": 5})));
        assert!(!v.is_valid(&json!({"id": "x", "amount": 5})));
        let nf = response_validator(&doc, "get", "/invoices/{id}", 404, "application/problem+json").unwrap();
        assert!(!nf.is_valid(&json!({"error": "x"})));
    }

    #[test]
    fn undocumented_things_are_named() {
        let doc = parse(DOC).unwrap();
        let e = response_validator(&doc, "get", "/invoices/{id}", 500, "application/json").unwrap_err();
        assert!(e.contains("no 500 response"), "{e}");
        let e = response_validator(&doc, "post", "/invoices", 201, "application/json").unwrap_err();
        assert!(e.contains("no `post` operation"), "{e}");
        assert_eq!(
            missing_routes(&doc, &["GET /invoices/{id}".into(), "POST /invoices".into()]),
            vec!["POST /invoices"]
        );
    }

    #[test]
    fn request_side_is_read_with_refs_inlined() {
        let doc = parse(
            "openapi: 3.1.0\npaths:\n  /c/{id}/i:\n    parameters: [{name: id, in: path, required: true, schema: {type: string, format: uuid}}]\n    get:\n      parameters: [{name: limit, in: query, schema: {type: integer}}, {name: x, in: header}]\n  /i:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {$ref: '#/components/schemas/C'}\ncomponents:\n  schemas:\n    C: {type: object, required: [n], properties: {n: {type: integer}}}\n",
        )
        .unwrap();
        assert_eq!(operations(&doc), vec![("get".to_string(), "/c/{id}/i".to_string()), ("post".into(), "/i".into())]);
        let s = request_body_schema(&doc, "post", "/i").unwrap();
        assert_eq!(s.pointer("/properties/n/type"), Some(&json!("integer")));
        let ps = parameters(&doc, "get", "/c/{cid}/i");
        let names: Vec<_> = ps.iter().map(|(n, a, _)| format!("{a}:{n}")).collect();
        assert_eq!(names, vec!["path:id", "query:limit"]);
        assert_eq!(request_body_schema(&doc, "get", "/c/{id}/i"), None);
    }

    #[test]
    fn rejects_non_openapi_documents() {
        assert!(parse("swagger: '2.0'").is_err());
        assert!(parse("openapi: 2.0").is_err());
        assert!(parse(": : :").is_err());
    }

    #[test]
    fn openapi_30_nullable_is_honoured() {
        let doc = parse("openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          content:\n            application/json:\n              schema: { type: object, properties: { n: { type: string, nullable: true } } }\n").unwrap();
        let v = response_validator(&doc, "get", "/a", 200, "application/json").unwrap();
        assert!(v.is_valid(&json!({"n": null})));
        assert!(!v.is_valid(&json!({"n": 1})));
    }
}
