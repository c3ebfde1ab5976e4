//! `kind = "probe"`: send each listed operation bad and boundary inputs — generated from the
//! learner's OpenAPI document where it documents the operation, from the lab's schema where
//! it does not — and judge every answer: never a 5xx, never a hang or a dropped connection,
//! and (with `error_schema`) every 4xx in the contract's error shape. The first failure is
//! shrunk to a smaller request that still fails, and reported with a curl line. Count and
//! time are bounded, so a service that hangs on every request still gets its verdict.

use super::{Ctx, Evidence, Outcome};
use crate::openapi;
use crate::probe::cases::{self, Rendered, ValueShrink};
use crate::probe::{self, Answer, BodyModel, Case, Finding, OpModel};
use crate::request::{AuthSpec, Prepared, RequestSpec, Response};
use crate::template;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The operations to probe, each with a valid request the bad inputs are made from.
    pub operations: Vec<Operation>,
    /// At most this many requests (shrinking included).
    #[serde(default = "max_requests")]
    pub max_requests: usize,
    /// At most this long for the whole check, shrinking included.
    #[serde(default = "budget_ms")]
    pub budget_ms: u64,
    /// Each request's timeout: no answer by then is a hang.
    #[serde(default = "timeout_ms")]
    pub timeout_ms: u64,
    /// Seeded random values per body field, besides the fixed catalogue.
    #[serde(default = "random")]
    pub random: usize,
    /// A JSON Schema file of the lab every 4xx body must satisfy (as
    /// `application/problem+json`). Without it, any 4xx passes.
    pub error_schema: Option<String>,
    /// Also probe every other operation the learner's OpenAPI document describes.
    #[serde(default)]
    pub documented: bool,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// `"POST /invoices"`.
    pub operation: String,
    /// Valid values of the path's parameters (templates allowed); a missing one is a UUID
    /// that names nothing.
    #[serde(default)]
    pub path: BTreeMap<String, String>,
    /// Valid query parameters, sent with every request but the one that changes them.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A valid JSON body (templates allowed): the bad values replace one field at a time.
    pub json: Option<Value>,
    /// A JSON Schema file of the lab for the body, used where the learner's OpenAPI
    /// document does not describe it.
    pub schema: Option<String>,
    /// As for `http` requests: `false` for no token, a table for a token with these claims.
    pub auth: Option<AuthSpec>,
}

fn max_requests() -> usize {
    300
}
fn budget_ms() -> u64 {
    10_000
}
fn timeout_ms() -> u64 {
    2_000
}
fn random() -> usize {
    2
}

/// Consecutive requests without an answer after which the service is taken for dead.
const DEAD_AFTER: usize = 3;
/// Failures listed in the report besides the shrunk one.
const LISTED: usize = 8;

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if self.operations.is_empty() && !self.documented {
            return Err("a probe needs `operations` (or `documented = true`)".into());
        }
        for op in &self.operations {
            let (m, _) = openapi::parse_operation(&op.operation)?;
            if op.json.is_some() && !matches!(m.as_str(), "post" | "put" | "patch") {
                return Err(format!("{}: only POST, PUT and PATCH take a `json` body", op.operation));
            }
            if let Some(j) = &op.json
                && !j.is_object()
            {
                return Err(format!("{}: `json` must be a JSON object (a valid body)", op.operation));
            }
        }
        if self.max_requests == 0 || self.budget_ms == 0 || self.timeout_ms == 0 {
            return Err("max_requests, budget_ms and timeout_ms must be above 0".into());
        }
        if self.timeout_ms > self.budget_ms {
            return Err(format!("timeout_ms ({}) must not exceed budget_ms ({})", self.timeout_ms, self.budget_ms));
        }
        Ok(())
    }
}

/// One request sent and what came of it.
struct Tried {
    case: Case,
    rendered: Rendered,
    prepared: Prepared,
    finding: Option<Finding>,
    response: Option<Response>,
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(spec.budget_ms);
    let doc = learner_doc(ctx);
    let (models, auths) = match models(spec, ctx, doc.as_ref()) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let error_schema = match &spec.error_schema {
        None => None,
        Some(f) => match lab_json(ctx, f).and_then(|s| {
            jsonschema::validator_for(&s).map_err(|e| format!("lab file {f} is not a valid JSON Schema: {e}"))
        }) {
            Ok(v) => Some(v),
            Err(e) => return Outcome::error(e),
        },
    };
    // One prepared request per operation carries its token; each case only changes the rest.
    let mut templates = Vec::new();
    for (m, auth) in models.iter().zip(&auths) {
        let r =
            RequestSpec { method: m.method.clone(), path: "/".into(), auth: auth.clone(), ..RequestSpec::default() };
        match ctx.prepare(&r) {
            Ok(p) => templates.push(p),
            Err(o) => return o,
        }
    }
    let all = cases::generate(&models, ctx.seed, spec.random);
    let planned = all.len().min(spec.max_requests);
    let mut sent = 0usize;
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<Tried> = Vec::new();
    let mut silent = 0usize;
    let mut dead = false;
    for case in all.into_iter().take(spec.max_requests) {
        if Instant::now() >= deadline {
            break;
        }
        let t = send(ctx, &models, &templates, case, spec, deadline, error_schema.as_ref()).await;
        sent += 1;
        *statuses
            .entry(t.response.as_ref().map(|r| r.status.to_string()).unwrap_or_else(|| "no answer".into()))
            .or_default() += 1;
        silent = if t.response.is_none() { silent + 1 } else { 0 };
        if t.finding.is_some() {
            failures.push(t);
        }
        if silent >= DEAD_AFTER {
            dead = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    let ops = models.iter().map(OpModel::operation).collect::<Vec<_>>().join(", ");
    let answers = statuses.iter().map(|(s, n)| format!("{s} ×{n}")).collect::<Vec<_>>().join(", ");
    if failures.is_empty() {
        let cut = if sent < planned {
            format!(" (the {} s budget stopped it at {sent} of {planned})", spec.budget_ms / 1000)
        } else {
            String::new()
        };
        return Outcome::pass(format!(
            "{sent} bad inputs to {} operation(s) in {:.1} s: no 5xx, no hang{cut}",
            models.len(),
            elapsed.as_secs_f64()
        ))
        .with(Evidence::Note { text: format!("answers: {answers}") })
        .with(Evidence::Note { text: format!("probed: {ops}") });
    }

    let n_failed = failures.len();
    let first = failures.remove(0);
    let kind = first.finding.clone().expect("a failure has a finding");
    // Shrink only what can be re-tried cheaply and safely: not hangs, not a dead service.
    let (best, shrink_note) = if !dead && !matches!(kind, Finding::NoAnswer(_)) {
        shrink(ctx, &models, &templates, first, spec, deadline, error_schema.as_ref()).await
    } else {
        (first, None)
    };
    let op = &models[best.case.op];
    let what = match &kind {
        Finding::ServerError(_) => "a 5xx",
        Finding::NoAnswer(_) => "no answer",
        Finding::Shape { .. } => "a 4xx outside the error contract",
    };
    let mut out = Outcome::fail(format!(
        "{} {} answered {} to {} — {n_failed} of {sent} bad inputs got {what}",
        op.method,
        best.rendered.target.split('?').next().unwrap_or_default(),
        best.finding.as_ref().map(Finding::describe).unwrap_or_default(),
        best.case.label(),
    ));
    if dead {
        out = out.with(Evidence::Note {
            text: format!(
                "the service stopped answering: {DEAD_AFTER} requests in a row got no answer, so the probe stopped"
            ),
        });
    }
    if let Some(n) = shrink_note {
        out = out.with(Evidence::Note { text: n });
    }
    let others: Vec<String> = failures
        .iter()
        .take(LISTED)
        .map(|t| {
            format!(
                "{} {} {} → {}",
                t.rendered.method,
                t.rendered.target.split('?').next().unwrap_or_default(),
                t.case.label(),
                t.finding.as_ref().map(Finding::describe).unwrap_or_default()
            )
        })
        .collect();
    if !others.is_empty() {
        let more = failures.len().saturating_sub(LISTED);
        let mut lines = others;
        if more > 0 {
            lines.push(format!("… and {more} more"));
        }
        out = out.with(Evidence::Output { label: "other failing inputs".into(), lines });
    }
    out = out.with(Evidence::Note { text: format!("answers: {answers}") });
    if let Some(r) = &best.response {
        out = out.with(super::http::response_evidence(r));
    }
    out.with(Evidence::Curl { line: curl(&best.prepared) })
}

#[allow(clippy::too_many_arguments)]
async fn send(
    ctx: &Ctx<'_>,
    models: &[OpModel],
    templates: &[Prepared],
    case: Case,
    spec: &Spec,
    deadline: Instant,
    error_schema: Option<&jsonschema::Validator>,
) -> Tried {
    let rendered = cases::render(models, &case);
    let mut prepared = templates[case.op].clone();
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(50));
    prepared.timeout = Duration::from_millis(spec.timeout_ms).min(left);
    // Targets are built from percent-encoded parts, so joining them cannot fail in practice.
    prepared.url = ctx.base_url.join(&rendered.target).unwrap_or_else(|_| ctx.base_url.clone());
    prepared.headers.retain(|(k, _)| k != "content-type");
    if let Some(ct) = &rendered.content_type {
        prepared.headers.push(("content-type".into(), ct.clone()));
    }
    prepared.body = rendered.body.clone();
    // A probe's answer is judged by its status and shape: a small cap keeps a hostile
    // endless body from costing memory.
    let result = prepared.send_capped(&ctx.client, 256 * 1024).await;
    let finding = probe::judge(
        result
            .as_ref()
            .map(|r| Answer { status: r.status, content_type: r.header("content-type").unwrap_or(""), json: r.json() })
            .map_err(Clone::clone),
        error_schema,
    );
    Tried { case, rendered, prepared, finding, response: result.ok() }
}

/// Make a failing case smaller: leave out the valid fields it does not need, then shrink the
/// bad value itself. Bounded by the same budget; returns the smallest failing case found.
#[allow(clippy::too_many_arguments)]
async fn shrink(
    ctx: &Ctx<'_>,
    models: &[OpModel],
    templates: &[Prepared],
    failing: Tried,
    spec: &Spec,
    deadline: Instant,
    error_schema: Option<&jsonschema::Validator>,
) -> (Tried, Option<String>) {
    let kind = failing.finding.clone().expect("a failure has a finding");
    let original = failing.case.label();
    let mut best = failing;
    let mut tries = 0usize;
    let budget_left = |tries: usize| tries < 64 && Instant::now() < deadline;
    let still = |t: &Tried| t.finding.as_ref().is_some_and(|f| f.same_kind(&kind));
    let mut progress = true;
    while progress && budget_left(tries) {
        progress = false;
        for c in cases::without_one_field(models, &best.case) {
            if !budget_left(tries) {
                break;
            }
            tries += 1;
            let t = send(ctx, models, templates, c, spec, deadline, error_schema).await;
            if still(&t) {
                best = t;
                progress = true;
                break;
            }
        }
    }
    let mut passing_neighbour = None;
    if let Some(mut s) = ValueShrink::new(&best.case) {
        let mut failed = true;
        while budget_left(tries) && s.advance(failed) {
            tries += 1;
            let t = send(ctx, models, templates, s.candidate(), spec, deadline, error_schema).await;
            failed = still(&t);
            if failed {
                best = t;
            } else {
                passing_neighbour = Some(t.case.label());
            }
        }
    }
    if best.case.label() == original {
        return (best, None);
    }
    let mut note =
        format!("shrunk from `{original}` to the smallest failing input the search found, in {tries} requests");
    if let Some(p) = passing_neighbour {
        note.push_str(&format!(" (the nearest that passed: `{p}`)"));
    }
    (best, Some(note))
}

/// The learner's OpenAPI document, if there is one to read.
fn learner_doc(ctx: &Ctx<'_>) -> Option<Value> {
    let path = ctx.config.artifact_path(Some("openapi"), "openapi.yaml");
    openapi::load(&path).ok()
}

fn lab_json(ctx: &Ctx<'_>, file: &str) -> Result<Value, String> {
    let text = ctx
        .lab_file(file)
        .map_err(|e| format!("cannot read lab file {file}: {e}"))?
        .ok_or_else(|| format!("lab file {file} does not exist"))?;
    serde_json::from_str(&text).map_err(|e| format!("lab file {file} is not JSON: {e}"))
}

type Models = (Vec<OpModel>, Vec<Option<AuthSpec>>);

/// What each operation takes: the spec's valid values (rendered) and the fields the
/// learner's document and the lab's schema describe.
fn models(spec: &Spec, ctx: &Ctx<'_>, doc: Option<&Value>) -> Result<Models, Outcome> {
    let skipped = |e: template::TemplateError| {
        Outcome::skipped(format!("not run: {e} (no earlier check captured it — see the checks before this one)"))
    };
    let mut models = Vec::new();
    let mut auths = Vec::new();
    for op in &spec.operations {
        let (method, route) = openapi::parse_operation(&op.operation).map_err(Outcome::error)?;
        let mut path_base = BTreeMap::new();
        for (k, v) in &op.path {
            path_base.insert(k.clone(), template::render(v, &ctx.vars).map_err(skipped)?);
        }
        let mut query_base = Vec::new();
        for (k, v) in &op.query {
            query_base.push((k.clone(), template::render(v, &ctx.vars).map_err(skipped)?));
        }
        let documented = doc.and_then(|d| openapi::request_body_schema(d, &method, &route));
        let lab = match &op.schema {
            Some(f) => Some(lab_json(ctx, f).map_err(Outcome::error)?),
            None => None,
        };
        let fields = probe::merge_fields(
            &documented.as_ref().map(probe::fields_of).unwrap_or_default(),
            &lab.as_ref().map(probe::fields_of).unwrap_or_default(),
        );
        let base = match &op.json {
            Some(j) => template::render_json(j, &ctx.vars).map_err(skipped)?.as_object().cloned().unwrap_or_default(),
            None => Default::default(),
        };
        let body = (op.json.is_some() || !fields.is_empty()).then(|| BodyModel { base, fields });
        let query = doc.map(|d| query_fields(d, &method, &route)).unwrap_or_default();
        models.push(OpModel { method: method.to_uppercase(), route, path_base, query_base, query, body });
        auths.push(op.auth.clone());
    }
    if spec.documented
        && let Some(d) = doc
    {
        for (method, route) in openapi::operations(d) {
            if models.iter().any(|m| m.method.eq_ignore_ascii_case(&method) && openapi::same_route(&m.route, &route)) {
                continue;
            }
            let fields = openapi::request_body_schema(d, &method, &route).map(|s| probe::fields_of(&s));
            let body = fields.map(|fields| BodyModel { base: Default::default(), fields });
            let query = query_fields(d, &method, &route);
            models.push(OpModel { method: method.to_uppercase(), route, query, body, ..OpModel::default() });
            auths.push(None);
        }
    }
    Ok((models, auths))
}

fn query_fields(doc: &Value, method: &str, route: &str) -> Vec<probe::Field> {
    openapi::parameters(doc, method, route)
        .into_iter()
        .filter(|(_, at, _)| at == "query")
        .map(|(name, _, schema)| probe::Field { name, ty: probe::ty_of(&schema), required: false })
        .collect()
}

/// A curl line for a probe's request: the body through `printf`, so any byte (a NUL escape,
/// invalid UTF-8) is reproduced exactly.
fn curl(p: &Prepared) -> String {
    let Some(body) = &p.body else { return p.curl() };
    let mut without = p.clone();
    without.body = None;
    let line = without.curl();
    let escaped: String = body
        .iter()
        .map(|&b| match b {
            b'\'' => "'\\''".to_string(),
            b'\\' => "\\\\".to_string(),
            b'%' => "%%".to_string(),
            0x20..=0x7e => (b as char).to_string(),
            other => format!("\\x{other:02x}"),
        })
        .collect();
    let escaped = if escaped.len() > 4096 { format!("{}…", &escaped[..4096]) } else { escaped };
    format!("printf '{escaped}' | {line} --data-binary @-")
}
