//! `kind = "http"`: send one request, judge status, headers, JSON subset and JSON Schema
//! (from a lab file or from the learner's own OpenAPI document), capture values for later
//! checks. Judging is a pure function of the expectation and the response.

use super::{Ctx, Evidence, Outcome};
use crate::matching::{self, HeaderExpect, StatusExpect};
use crate::openapi;
use crate::request::{RequestSpec, Response};
use crate::template::{self, Vars};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub request: RequestSpec,
    #[serde(default)]
    pub expect: Expect,
    /// Variable name → `/json/pointer` into the body, or `header:name`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<StatusExpect>,
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderExpect>,
    /// A JSON subset the body must contain (strings may be `~regex`, and may use `{{vars}}`).
    pub json: Option<Value>,
    /// A JSON Schema file of the lab the body must satisfy.
    pub json_schema: Option<String>,
    /// `"GET /invoices/{id}"`: the body must satisfy the schema the learner's own OpenAPI
    /// document gives for this operation and the actual status.
    pub openapi: Option<String>,
    /// The body must be empty (e.g. a 304).
    pub body_empty: Option<bool>,
    /// Each of these must be named as `field` in the body's `errors` array (validation
    /// problems name every bad field).
    #[serde(default)]
    pub error_fields: Vec<String>,
    /// `/json/pointer` → the number of items the array there must hold (e.g. a page size).
    #[serde(default)]
    pub lengths: BTreeMap<String, usize>,
    /// `/json/pointer` → the JSON type there: null, string, number, integer, boolean, array,
    /// object (e.g. a next-page cursor that must be a string, or null on the last page).
    #[serde(default)]
    pub types: BTreeMap<String, String>,
    /// The whole exchange must take at most this long (e.g. a service that must give up on a
    /// hanging dependency within 3 s). Set the request's `timeout_ms` above it.
    pub within_ms: Option<u64>,
    /// Follow the `Location` header: a GET of it (with the same token) must answer 200 with
    /// the same `id` as this response's body — a created resource is where the header says.
    pub follow_location: Option<bool>,
}

const JSON_TYPES: &[&str] = &["null", "string", "number", "integer", "boolean", "array", "object"];

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = &self.expect.status {
            s.validate()?;
        }
        for (name, h) in &self.expect.headers {
            if let HeaderExpect::Value(v) = h {
                matching::Pattern::parse(v).map_err(|e| format!("expect.headers.{name}: {e}"))?;
            }
        }
        if let Some(op) = &self.expect.openapi {
            openapi::parse_operation(op)?;
        }
        if let Some(p) = self.expect.lengths.keys().find(|p| !p.starts_with('/')) {
            return Err(format!("expect.lengths {p:?}: expected a JSON pointer like \"/items\""));
        }
        for (p, t) in &self.expect.types {
            if !p.starts_with('/') {
                return Err(format!("expect.types {p:?}: expected a JSON pointer like \"/nextCursor\""));
            }
            if !JSON_TYPES.contains(&t.as_str()) {
                return Err(format!("expect.types.{p}: {t:?} is not one of {}", JSON_TYPES.join(", ")));
            }
        }
        let timeout = self.request.timeout_ms.unwrap_or(crate::request::DEFAULT_TIMEOUT.as_millis() as u64);
        if let Some(w) = self.expect.within_ms
            && w >= timeout
        {
            return Err(format!(
                "expect.within_ms = {w} needs request.timeout_ms above it (now {timeout}), so a slow answer is measured instead of cut off"
            ));
        }
        for (name, from) in &self.capture {
            if !(from.starts_with('/') || from.starts_with("header:") || from.is_empty()) {
                return Err(format!(
                    "capture.{name} = {from:?}: expected a JSON pointer like \"/id\" or \"header:location\""
                ));
            }
        }
        Ok(())
    }
}

/// One judged expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct AssertResult {
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
}

/// Schemas resolved before judging (I/O happens in `run`, not here).
pub struct Schemas {
    pub lab: Option<Result<jsonschema::Validator, String>>,
    pub openapi: Option<Result<jsonschema::Validator, String>>,
}

/// Judge a response against an expectation whose templates are already rendered.
pub fn judge(expect: &Expect, resp: &Response, schemas: &Schemas) -> (Vec<AssertResult>, Option<Evidence>) {
    let mut out = Vec::new();
    let mut diff = None;
    let mut push = |what: String, expected: String, actual: String, passed: bool| {
        out.push(AssertResult { what, expected, actual, passed })
    };
    if let Some(s) = &expect.status {
        push("status".into(), s.describe(), resp.status.to_string(), s.matches(resp.status));
    }
    for (name, h) in &expect.headers {
        let r = matching::header(h, resp.header(name));
        let (e, a) = r.clone().err().unwrap_or_default();
        push(format!("header {name}"), e, a, r.is_ok());
    }
    let body_json = resp.json();
    if let Some(expected) = &expect.json {
        match &body_json {
            None => push("body".into(), "a JSON body".into(), excerpt(&resp.body_text()), false),
            Some(actual) => {
                let misses = matching::json_subset(expected, actual);
                if !misses.is_empty() {
                    diff = Some(Evidence::Diff {
                        label: "body".into(),
                        expected: pretty(expected),
                        actual: pretty(&project(expected, actual)),
                    });
                }
                if misses.is_empty() {
                    push("body".into(), "the expected JSON".into(), "it".into(), true);
                }
                for m in misses {
                    let at = if m.path.is_empty() { "body".into() } else { format!("body {}", m.path) };
                    push(at, m.expected, m.actual, false);
                }
            }
        }
    }
    for (label, schema) in [("JSON Schema", &schemas.lab), ("schema in your OpenAPI document", &schemas.openapi)] {
        match schema {
            None => {}
            Some(Err(e)) => push(label.into(), "a schema to validate against".into(), e.clone(), false),
            Some(Ok(v)) => match &body_json {
                None => push(label.into(), "a JSON body".into(), excerpt(&resp.body_text()), false),
                Some(body) => {
                    let errors: Vec<String> = v
                        .iter_errors(body)
                        .take(5)
                        .map(|e| {
                            let at = e.instance_path().to_string();
                            format!("{}: {}", if at.is_empty() { "(root)".into() } else { at }, e)
                        })
                        .collect();
                    let ok = errors.is_empty();
                    push(
                        label.into(),
                        "a body valid against it".into(),
                        if ok { "valid".into() } else { errors.join("; ") },
                        ok,
                    );
                }
            },
        }
    }
    if !expect.error_fields.is_empty() {
        let named: Vec<String> = body_json
            .as_ref()
            .and_then(|b| b.get("errors"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|e| e.get("field").and_then(Value::as_str)).map(str::to_string).collect())
            .unwrap_or_default();
        let has_array = body_json.as_ref().and_then(|b| b.get("errors")).is_some_and(Value::is_array);
        for f in &expect.error_fields {
            let actual = if !has_array {
                "no errors array in the body".to_string()
            } else if named.is_empty() {
                "an errors array naming no field".to_string()
            } else {
                format!("fields named: {}", named.join(", "))
            };
            push(format!("errors[].field {f:?}"), format!("an error naming {f}"), actual, named.contains(f));
        }
    }
    for (ptr, n) in &expect.lengths {
        let len = body_json.as_ref().and_then(|b| b.pointer(ptr)).map(|v| match v {
            Value::Array(a) => format!("{} items", a.len()),
            other => format!("not an array: {}", excerpt(&other.to_string())),
        });
        let actual = len.unwrap_or_else(|| "nothing there".into());
        push(format!("length of {ptr}"), format!("{n} items"), actual.clone(), actual == format!("{n} items"));
    }
    for (ptr, want) in &expect.types {
        let found = body_json.as_ref().and_then(|b| b.pointer(ptr));
        let actual = found.map_or("nothing there", type_of);
        let ok = actual == want || (want == "number" && actual == "integer");
        let shown = match found {
            Some(v) if !(ok || v.is_null() || v.is_array() || v.is_object()) => {
                format!("{actual} {}", excerpt(&v.to_string()))
            }
            _ => actual.to_string(),
        };
        push(format!("type of {ptr}"), want.clone(), shown, ok);
    }
    if let Some(limit) = expect.within_ms {
        let took = resp.elapsed.as_millis();
        push("answered within".into(), format!("{limit} ms"), format!("{took} ms"), took <= u128::from(limit));
    }
    if let Some(want_empty) = expect.body_empty {
        let is_empty = resp.body.is_empty();
        push(
            "body".into(),
            if want_empty { "empty".into() } else { "not empty".into() },
            if is_empty { "empty".into() } else { format!("{} bytes", resp.body.len()) },
            is_empty == want_empty,
        );
    }
    (out, diff)
}

/// Keep only the parts of `actual` the expectation talks about, so the diff is readable.
fn project(expected: &Value, actual: &Value) -> Value {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            Value::Object(e.iter().filter_map(|(k, ev)| a.get(k).map(|av| (k.clone(), project(ev, av)))).collect())
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            Value::Array(e.iter().zip(a).map(|(ev, av)| project(ev, av)).collect())
        }
        (_, a) => a.clone(),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        return "an empty body".into();
    }
    let cut: String = s.chars().take(200).collect();
    if cut.len() < s.len() { format!("{cut:?}…") } else { format!("{cut:?}") }
}

/// Apply captures; returns the names that could not be captured.
pub fn capture(spec: &BTreeMap<String, String>, resp: &Response, vars: &mut Vars) -> Vec<String> {
    let body = resp.json();
    let mut missing = Vec::new();
    for (name, from) in spec {
        let value = if let Some(h) = from.strip_prefix("header:") {
            resp.header(h).map(str::to_string)
        } else {
            body.as_ref().and_then(|b| b.pointer(from)).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        match value {
            Some(v) => {
                vars.insert(name.clone(), v);
            }
            None => missing.push(format!("{name} (from {from})")),
        }
    }
    missing
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let prepared = match ctx.prepare(&spec.request) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    exchange(&prepared, &spec.expect, &spec.capture, ctx).await
}

/// Send a prepared request, judge the answer against `expect`, apply `capture`: the body
/// of an `http` check, also used by kinds that make one such request among others.
pub async fn exchange(
    prepared: &crate::request::Prepared,
    expect: &Expect,
    capture_spec: &BTreeMap<String, String>,
    ctx: &mut Ctx<'_>,
) -> Outcome {
    let curl = Evidence::Curl { line: prepared.curl() };
    let expect = match render_expect(expect, &ctx.vars) {
        Ok(e) => e,
        Err(e) => return Outcome::skipped(format!("not run: {e}")),
    };
    let resp = match prepared.send(&ctx.client).await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::fail(format!("{} {}: {e}", prepared.method, prepared.url.path())).with(curl);
        }
    };
    let schemas = Schemas {
        lab: expect.json_schema.as_ref().map(|f| lab_schema(ctx, f)),
        openapi: expect.openapi.as_ref().map(|op| learner_schema(ctx, op, &resp)),
    };
    let (mut results, diff) = judge(&expect, &resp, &schemas);
    if expect.follow_location == Some(true) && results.iter().all(|r| r.passed) {
        results.push(follow_location(prepared, &resp, ctx).await);
    }
    let missing = capture(capture_spec, &resp, &mut ctx.vars);

    let failed: Vec<&AssertResult> = results.iter().filter(|r| !r.passed).collect();
    let request_line = format!("{} {}", prepared.method, prepared.url.path());
    if failed.is_empty() && missing.is_empty() {
        return Outcome::pass(format!("{request_line} → {}", resp.status));
    }
    let first = failed
        .first()
        .map(|r| format!("{}: expected {}, got {}", r.what, r.expected, r.actual))
        .unwrap_or_else(|| format!("could not capture {}", missing.join(", ")));
    let mut out = Outcome::fail(format!("{request_line} → {}: {first}", resp.status));
    for r in failed.iter().skip(1) {
        out =
            out.with(Evidence::Assert { what: r.what.clone(), expected: r.expected.clone(), actual: r.actual.clone() });
    }
    if let Some(d) = diff {
        out = out.with(d);
    }
    if !missing.is_empty() && !failed.is_empty() {
        out = out.with(Evidence::Note { text: format!("could not capture {} for later checks", missing.join(", ")) });
    }
    if resp.truncated {
        out = out.with(Evidence::Note { text: format!("the body was cut at {} MiB", crate::request::BODY_CAP >> 20) });
    }
    out.with(response_evidence(&resp)).with(curl)
}

/// GET what `resp`'s `Location` names (relative to the request's URL) with the request's token:
/// 200 with the same `/id` as `resp`'s body passes.
async fn follow_location(prepared: &crate::request::Prepared, resp: &Response, ctx: &Ctx<'_>) -> AssertResult {
    let location = resp.header("location").unwrap_or_default().to_string();
    let created = resp.json().and_then(|b| b.pointer("/id").cloned());
    let expected = match &created {
        Some(id) => format!("GET {location} → 200 with id {id}"),
        None => format!("GET {location} → 200"),
    };
    let result = |passed: bool, actual: String| AssertResult {
        what: "the resource at Location".into(),
        expected: expected.clone(),
        actual,
        passed,
    };
    let Ok(url) = prepared.url.join(&location) else {
        return result(false, format!("{location:?} is not a URL or path"));
    };
    let get = crate::request::Prepared {
        method: reqwest::Method::GET,
        url,
        headers: prepared.headers.iter().filter(|(k, _)| k != "content-type").cloned().collect(),
        body: None,
        chunked: false,
        token: prepared.token.clone(),
        token_args: prepared.token_args.clone(),
        timeout: prepared.timeout,
    };
    match get.send(&ctx.client).await {
        Err(e) => result(false, format!("no answer: {e}")),
        Ok(r) => {
            let id = r.json().and_then(|b| b.pointer("/id").cloned());
            let same = created.is_none() || id == created;
            let actual = match &id {
                Some(id) => format!("{} with id {id}", r.status),
                None => format!("{} without an id", r.status),
            };
            result(r.status == 200 && same, actual)
        }
    }
}

fn render_expect(e: &Expect, vars: &Vars) -> Result<Expect, template::TemplateError> {
    let mut e = e.clone();
    if let Some(j) = &e.json {
        e.json = Some(template::render_json(j, vars)?);
    }
    for h in e.headers.values_mut() {
        if let HeaderExpect::Value(v) = h {
            *v = template::render(v, vars)?;
        }
    }
    Ok(e)
}

/// The response as the learner would see it with `curl -i`, shortened.
/// Characters of one body line shown in a report.
const SHOWN_LINE_CHARS: usize = 200;

pub(crate) fn response_evidence(resp: &Response) -> Evidence {
    let mut lines = vec![format!("HTTP {}", resp.status)];
    for (k, v) in &resp.headers {
        if !matches!(k.as_str(), "date" | "connection" | "keep-alive") {
            lines.push(format!("{k}: {v}"));
        }
    }
    lines.push(String::new());
    let text = resp.body_text();
    let body = match resp.json() {
        Some(v) => pretty(&v),
        None => text,
    };
    // A hostile body can be one 16 MiB line: show the start of each line, not all of it.
    lines.extend(body.lines().take(30).map(|l| {
        if l.chars().count() > SHOWN_LINE_CHARS {
            format!(
                "{}… ({} more bytes)",
                l.chars().take(SHOWN_LINE_CHARS).collect::<String>(),
                l.len() - SHOWN_LINE_CHARS
            )
        } else {
            l.to_string()
        }
    }));
    Evidence::Output { label: "response".into(), lines }
}

fn lab_schema(ctx: &Ctx<'_>, file: &str) -> Result<jsonschema::Validator, String> {
    let text = ctx
        .lab_file(file)
        .map_err(|e| format!("cannot read lab file {file}: {e}"))?
        .ok_or_else(|| format!("lab file {file} does not exist"))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| format!("lab file {file} is not JSON: {e}"))?;
    jsonschema::validator_for(&schema).map_err(|e| format!("lab file {file} is not a valid JSON Schema: {e}"))
}

fn learner_schema(ctx: &Ctx<'_>, op: &str, resp: &Response) -> Result<jsonschema::Validator, String> {
    let path = ctx.config.artifact_path(Some("openapi"), "openapi.yaml");
    let doc = openapi::load(&path)?;
    let content_type = resp.header("content-type").unwrap_or("");
    let (method, route) = openapi::parse_operation(op)?;
    openapi::response_validator(&doc, &method, &route, resp.status, content_type)
        .map_err(|e| format!("{e} (in {})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn resp(status: u16, ct: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), ct.into())],
            body: body.as_bytes().to_vec(),
            truncated: false,
            elapsed: Duration::ZERO,
        }
    }

    fn expect(src: &str) -> Expect {
        toml::from_str(src).unwrap()
    }

    const NONE: Schemas = Schemas { lab: None, openapi: None };

    #[test]
    fn passes_when_everything_matches() {
        let e = expect(
            "status = 404\nheaders = { content-type = \"~^application/problem\\\\+json\" }\njson = { status = 404 }",
        );
        let (r, diff) = judge(&e, &resp(404, "application/problem+json", r#"{"status":404,"title":"x"}"#), &NONE);
        assert!(r.iter().all(|x| x.passed), "{r:?}");
        assert!(diff.is_none());
    }

    #[test]
    fn reports_each_failed_expectation_with_a_diff() {
        let e = expect(
            "status = 404\nheaders = { content-type = \"~^application/problem\\\\+json\" }\njson = { status = 404, title = \"Not Found\" }",
        );
        let (r, diff) = judge(&e, &resp(404, "application/json", r#"{"error":"invoice not found"}"#), &NONE);
        let failed: Vec<_> = r.iter().filter(|x| !x.passed).map(|x| x.what.as_str()).collect();
        assert_eq!(failed, vec!["header content-type", "body /status", "body /title"]);
        assert!(matches!(diff, Some(Evidence::Diff { .. })));
    }

    #[test]
    fn lengths_and_types_at_pointers() {
        let e = expect("lengths = { \"/items\" = 2 }\ntypes = { \"/next\" = \"string\", \"/n\" = \"number\" }");
        let (r, _) = judge(&e, &resp(200, "application/json", r#"{"items":[1,2],"next":"abc","n":3}"#), &NONE);
        assert!(r.iter().all(|x| x.passed), "{r:?}");
        let (r, _) = judge(&e, &resp(200, "application/json", r#"{"items":[1],"next":null}"#), &NONE);
        let actual: Vec<_> = r.iter().map(|x| (x.what.as_str(), x.actual.as_str(), x.passed)).collect();
        assert_eq!(
            actual,
            vec![
                ("length of /items", "1 items", false),
                ("type of /n", "nothing there", false),
                ("type of /next", "null", false)
            ]
        );
        let spec: Spec =
            toml::from_str("request = { path = \"/\" }\nexpect = { types = { \"/x\" = \"str\" } }").unwrap();
        assert!(spec.validate().unwrap_err().contains("not one of null, string"));
    }

    #[test]
    fn non_json_body_fails_json_expectation() {
        let e = expect("json = { status = \"ok\" }");
        let (r, _) = judge(&e, &resp(200, "text/plain", "ok"), &NONE);
        assert!(!r[0].passed);
        assert_eq!(r[0].actual, "\"ok\"");
    }

    #[test]
    fn schema_errors_name_the_instance_path() {
        let schema = serde_json::json!({"type": "object", "required": ["amountCents"], "properties": {"amountCents": {"type": "integer"}}});
        let s = Schemas { lab: Some(Ok(jsonschema::validator_for(&schema).unwrap())), openapi: None };
        let (r, _) = judge(&Expect::default(), &resp(200, "application/json", r#"{"amountCents":"12"}"#), &s);
        assert!(!r[0].passed);
        assert!(r[0].actual.contains("/amountCents"), "{}", r[0].actual);
    }

    #[test]
    fn error_fields_must_each_be_named() {
        let e = expect("error_fields = [\"amountCents\", \"currency\"]");
        let body = r#"{"status":400,"errors":[{"field":"amountCents","message":"must be an integer"}]}"#;
        let (r, _) = judge(&e, &resp(400, "application/problem+json", body), &NONE);
        assert!(r[0].passed);
        assert!(!r[1].passed);
        assert_eq!(r[1].actual, "fields named: amountCents");
        let (r, _) = judge(&e, &resp(400, "application/problem+json", r#"{"status":400}"#), &NONE);
        assert_eq!(r[0].actual, "no errors array in the body");
    }

    #[test]
    fn body_empty_expectation() {
        let e = expect("body_empty = true");
        assert!(judge(&e, &resp(304, "", ""), &NONE).0[0].passed);
        assert!(!judge(&e, &resp(304, "", "x"), &NONE).0[0].passed);
    }

    #[test]
    fn captures_from_body_and_headers() {
        let r = Response {
            headers: vec![("location".into(), "/invoices/7".into())],
            ..resp(201, "application/json", r#"{"id":"7","n":3}"#)
        };
        let spec: BTreeMap<String, String> = [("id", "/id"), ("n", "/n"), ("loc", "header:location"), ("x", "/nope")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let mut vars = Vars::new();
        let missing = capture(&spec, &r, &mut vars);
        assert_eq!(vars["id"], "7");
        assert_eq!(vars["n"], "3");
        assert_eq!(vars["loc"], "/invoices/7");
        assert_eq!(missing, vec!["x (from /nope)"]);
    }
}
