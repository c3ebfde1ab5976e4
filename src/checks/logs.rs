//! `kind = "logs"`: what the service printed, judged as structured logs. The grader sends
//! its own requests, each with an `X-Request-Id` of its own making, and finds the JSON lines
//! that carry it: one of them must have the expected fields, level and status. Lines that
//! are not JSON are tolerated and counted. `forbid_secrets` fails any line — stdout or
//! stderr, from the start of the service — that holds the learner's secret, the database
//! password, a token the grader sent or captured, or anything shaped like a JWT. With
//! `scope = "run"` the runner runs the check after every other one, and it reads what every
//! instance of the service printed during the whole run.

use super::{Ctx, Evidence, Outcome};
use crate::matching::{Pattern, same_name};
use crate::request::RequestSpec;
use crate::service::{Output, RunOutputs, Stream};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Requests the check sends, each with its own request id. With `expect`, their log
    /// lines are found and judged; without, they are traffic for `forbid_secrets`.
    #[serde(default)]
    pub requests: Vec<RequestSpec>,
    pub expect: Option<Expect>,
    /// No line may contain JWT_SECRET, a database password, a token minted or captured so
    /// far, or a JWT-shaped string.
    #[serde(default)]
    pub forbid_secrets: bool,
    /// Which output `forbid_secrets` and `forbid` read: `"instance"` (the running instance,
    /// up to this check) or `"run"` (every instance of the whole lab run; the check then runs
    /// after every other check and step).
    #[serde(default)]
    pub scope: Scope,
    /// Text (or `~regex`) no line may contain.
    #[serde(default)]
    pub forbid: Vec<String>,
    #[serde(default = "request_id_header")]
    pub request_id_header: String,
    /// How long a line may take to appear after its response.
    #[serde(default = "wait")]
    pub wait_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// What the running instance printed since it (last) started, up to this check.
    #[default]
    Instance,
    /// What every instance of the service printed during the lab run, read after every
    /// other check and step, with every token the run minted.
    Run,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Top-level fields the line must have.
    #[serde(default)]
    pub fields: Vec<String>,
    /// The line's `level` (a name; pino's numbers are understood).
    pub level: Option<String>,
    /// The line's `status` must be the status the response had.
    #[serde(default)]
    pub status: bool,
    /// Field → other names that count as it (`upstreamMs = ["upstreamLatencyMs"]`). Names
    /// also match across camelCase and snake_case (`upstream_ms`) without being listed.
    /// Applies to `fields`, and to `level` and `status` too.
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, Vec<String>>,
}

impl Expect {
    /// The line's field that stands for `wanted`, if any: the name itself first, then any
    /// name in another case convention or declared as its synonym.
    fn field<'o>(&self, obj: &'o Map<String, Value>, wanted: &str) -> Option<&'o Value> {
        let aliases = self.aliases.get(wanted).map(Vec::as_slice).unwrap_or_default();
        obj.get(wanted).or_else(|| obj.iter().find(|(k, _)| same_name(k, wanted, aliases)).map(|(_, v)| v))
    }
}

fn request_id_header() -> String {
    "x-request-id".into()
}
fn wait() -> u64 {
    2000
}

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "fatal"];

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if self.expect.is_some() && self.requests.is_empty() {
            return Err("`expect` judges the log lines of `requests`: add requests".into());
        }
        if self.expect.is_none() && !self.forbid_secrets && self.forbid.is_empty() {
            return Err("a logs check needs `requests` with `expect`, or `forbid_secrets` / `forbid`".into());
        }
        if let Some(l) = self.expect.as_ref().and_then(|e| e.level.as_ref())
            && !LEVELS.contains(&l.as_str())
        {
            return Err(format!("expect.level {l:?} is not one of {}", LEVELS.join(", ")));
        }
        if let Some(e) = &self.expect
            && let Some(k) = e.aliases.keys().find(|k| !e.fields.contains(k) && *k != "level" && *k != "status")
        {
            return Err(format!("expect.aliases names {k:?}, which is not in expect.fields (nor level or status)"));
        }
        for f in &self.forbid {
            Pattern::parse(f).map_err(|e| format!("forbid {f:?}: {e}"))?;
        }
        if self.wait_ms > 30_000 {
            return Err("wait_ms is at most 30000".into());
        }
        if self.whole_run() && self.expect.is_some() {
            return Err("scope = \"run\" reads the whole run for `forbid_secrets` / `forbid`; `expect` judges this \
                 check's own requests, so leave scope out there"
                .into());
        }
        Ok(())
    }

    /// Does the runner hold this check back until every other check and step has run?
    pub fn whole_run(&self) -> bool {
        self.scope == Scope::Run
    }
}

/// pino and bunyan write levels as numbers.
fn level_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_ascii_lowercase()),
        Value::Number(n) => Some(
            match n.as_u64()? {
                10 => "trace",
                20 => "debug",
                30 => "info",
                40 => "warn",
                50 => "error",
                60 => "fatal",
                _ => return None,
            }
            .to_string(),
        ),
        _ => None,
    }
}

/// Does the object carry `id` as the value of a field (at the top or one level down)?
fn carries(obj: &Map<String, Value>, id: &str) -> bool {
    obj.values().any(|v| match v {
        Value::String(s) => s == id,
        Value::Object(inner) => inner.values().any(|x| x.as_str() == Some(id)),
        _ => false,
    })
}

/// What is wrong with one JSON line, in words; empty when it satisfies `expect`.
fn shortfalls(obj: &Map<String, Value>, expect: &Expect, status: Option<u16>) -> Vec<String> {
    let mut out = Vec::new();
    let missing: Vec<&str> =
        expect.fields.iter().filter(|f| expect.field(obj, f).is_none()).map(String::as_str).collect();
    if !missing.is_empty() {
        out.push(format!("no {}", missing.join(", ")));
    }
    if let Some(want) = &expect.level {
        match expect.field(obj, "level") {
            None => out.push(format!("no level (want {want})")),
            Some(v) if level_name(v).as_deref() != Some(want.as_str()) => out.push(format!("level {v} (want {want})")),
            _ => {}
        }
    }
    if expect.status
        && let Some(s) = status
    {
        let got = expect.field(obj, "status");
        let same = got.is_some_and(|v| v.as_u64() == Some(u64::from(s)) || v.as_str() == Some(&s.to_string()));
        if !same {
            out.push(format!("status {} (the response was {s})", got.map_or("missing".into(), Value::to_string)));
        }
    }
    out
}

/// The verdict on one request's lines. Pure: `Ok(line number)` of a line that satisfies
/// the expectation, or what came closest.
pub fn judge(lines: &[&str], id: &str, expect: &Expect, status: Option<u16>) -> Result<usize, String> {
    let mut closest: Option<(usize, Vec<String>)> = None;
    let mut unstructured: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        if !line.contains(id) {
            continue;
        }
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) else {
            unstructured.get_or_insert(i);
            continue;
        };
        if !carries(&obj, id) {
            continue;
        }
        let short = shortfalls(&obj, expect, status);
        if short.is_empty() {
            return Ok(i + 1);
        }
        if closest.as_ref().is_none_or(|(_, c)| short.len() < c.len()) {
            closest = Some((i + 1, short));
        }
    }
    Err(match (closest, unstructured) {
        (Some((n, short)), _) => format!("output line {n} carries it but has {}", short.join("; ")),
        (None, Some(i)) => format!("output line {} mentions it but is not a JSON object: {}", i + 1, cut(lines[i])),
        (None, None) => "no line of the service's output carries it".into(),
    })
}

fn cut(s: &str) -> String {
    let c: String = s.chars().take(160).collect();
    if c.len() < s.len() { format!("{c}…") } else { c }
}

/// A value no line may hold, and what it is, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub value: String,
    pub kind: String,
}

/// One line that holds a secret, a token or a forbidden pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Leak {
    /// 1-based, within the output of its instance.
    pub line: usize,
    pub stream: Stream,
    /// What the line holds, each kind once, in the order they appear.
    pub kinds: Vec<String>,
    /// The line with every secret and token replaced by `[redacted]`, cut around the first.
    pub shown: String,
}

/// Shorter values would match by accident; a real secret or token is longer.
const MIN_SECRET: usize = 8;
const REDACTED: &str = "[redacted]";
const JWT_KIND: &str = "a JWT-shaped token";
const BEARER_KIND: &str = "a bearer credential";

/// A JWT: base64url JSON header and payload (`{"` encodes as `eyJ`), and a signature that
/// an `alg: none` token leaves empty.
fn jwt_shape() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*").expect("valid regex"))
}

/// `Bearer ` and 16 or more token characters: an Authorization header's value, whatever the
/// token's format. The credential is the first group.
fn bearer_shape() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i:bearer)\s+([A-Za-z0-9._~+/=-]{16,})").expect("valid regex"))
}

pub fn looks_like_jwt(s: &str) -> bool {
    jwt_shape().find(s).is_some_and(|m| m.as_str() == s)
}

/// Where secrets and JWT-shaped strings sit in a line: (byte range, kind), sorted, and
/// overlapping ranges merged (the first kind names the merged range).
fn secret_spans(line: &str, secrets: &[Secret]) -> Vec<(std::ops::Range<usize>, String)> {
    let mut spans: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for s in secrets {
        let mut from = 0;
        while let Some(at) = line[from..].find(s.value.as_str()) {
            let start = from + at;
            spans.push((start..start + s.value.len(), s.kind.clone()));
            from = start + s.value.len();
        }
    }
    // A token of the list is named as such; a JWT or a bearer credential nobody listed
    // still counts.
    let shapes = jwt_shape().find_iter(line).map(|m| (m.range(), JWT_KIND));
    let bearers = bearer_shape().captures_iter(line).filter_map(|c| c.get(1)).map(|m| (m.range(), BEARER_KIND));
    for (r, kind) in shapes.chain(bearers).collect::<Vec<_>>() {
        if !spans.iter().any(|(s, _)| s.start < r.end && r.start < s.end) {
            spans.push((r, kind.to_string()));
        }
    }
    spans.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (r, kind) in spans {
        match merged.last_mut() {
            Some((last, _)) if r.start < last.end => last.end = last.end.max(r.end),
            _ => merged.push((r, kind)),
        }
    }
    merged
}

/// `line` with every secret of `secrets`, every JWT-shaped string and every bearer
/// credential replaced by `[redacted]`.
pub fn redact_line(line: &str, secrets: &[Secret]) -> String {
    redact_spans(line, &secret_spans(line, &usable(secrets)))
}

fn redact_spans(line: &str, spans: &[(std::ops::Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for (r, _) in spans {
        out.push_str(&line[at..r.start]);
        out.push_str(REDACTED);
        at = r.end;
    }
    out.push_str(&line[at..]);
    out
}

/// The secrets worth searching for: long enough, each value once (its first kind).
fn usable(secrets: &[Secret]) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::new();
    for s in secrets.iter().filter(|s| s.value.len() >= MIN_SECRET) {
        if !out.iter().any(|o| o.value == s.value) {
            out.push(s.clone());
        }
    }
    // Longest first: a secret inside a longer one is named by the longer.
    out.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    out
}

/// Every line holding a secret, a JWT-shaped string or a bearer credential (only when
/// `secrets` is searched for), or a forbidden pattern. Pure: the verdict is a function of the
/// lines and the secrets.
pub fn scan(lines: &[(Stream, String)], secrets: Option<&[Secret]>, forbid: &[Pattern]) -> Vec<Leak> {
    let secrets = secrets.map(usable);
    let mut out = Vec::new();
    for (i, (stream, line)) in lines.iter().enumerate() {
        let spans = secrets.as_deref().map(|s| secret_spans(line, s)).unwrap_or_default();
        let mut kinds: Vec<String> = Vec::new();
        for (_, k) in &spans {
            if !kinds.contains(k) {
                kinds.push(k.clone());
            }
        }
        for p in forbid {
            let hit = match p {
                Pattern::Exact(text) => line.contains(text.as_str()),
                Pattern::Regex(r) => r.is_match(line),
            };
            if hit {
                kinds.push(p.describe());
            }
        }
        if kinds.is_empty() {
            continue;
        }
        let shown = redact_spans(line, &spans);
        let first = spans.first().map_or(0, |(r, _)| r.start);
        out.push(Leak { line: i + 1, stream: *stream, kinds, shown: around(&shown, first) });
    }
    out
}

/// At most 160 characters of `s` that show byte `at` (the first `[redacted]`) with as much
/// of the line before it as fits.
fn around(s: &str, at: usize) -> String {
    const SHOWN: usize = 160;
    let before = s[..at.min(s.len())].chars().count();
    let skip = before.saturating_sub(60).min(s.chars().count().saturating_sub(SHOWN));
    let body: String = s.chars().skip(skip).take(SHOWN).collect();
    let head = if skip > 0 { "…" } else { "" };
    let tail = if skip + body.chars().count() < s.chars().count() { "…" } else { "" };
    format!("{head}{body}{tail}")
}

/// What `forbid_secrets` searches for, each with its kind: JWT_SECRET, the database
/// passwords, every token labgrade minted so far, and captured values that look like tokens.
fn secrets_of(ctx: &Ctx<'_>) -> Vec<Secret> {
    let mut out = Vec::new();
    let mut add = |value: String, kind: &str| out.push(Secret { value, kind: kind.to_string() });
    if let Some(s) = ctx.config.service_env("JWT_SECRET") {
        add(s, "JWT_SECRET");
    }
    let urls = [
        ctx.database_url().map(String::from),
        ctx.config.service_env("DATABASE_URL"),
        ctx.config.database.as_ref().and_then(|d| d.url.clone()),
    ];
    for url in urls.into_iter().flatten() {
        if let Some(p) = crate::db::password_of(&url).filter(|p| !p.is_empty()) {
            add(p, "the database password");
        }
    }
    // Minted tokens; the secret and the passwords are in this list too, named above.
    for s in &ctx.secrets {
        add(s.clone(), "a bearer token labgrade sent");
    }
    for (name, v) in &ctx.vars {
        if looks_like_jwt(v) || (name.to_ascii_lowercase().contains("token") && v.len() >= 16) {
            add(v.clone(), &format!("the token captured as {{{{{name}}}}}"));
        }
    }
    out
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let Some(output) = ctx.service_output.clone() else {
        return Outcome::skipped(
            "labgrade reads the logs of the service it starts; with --url it cannot see them (grade without --url)",
        );
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let mut sent = Vec::new();
    for (n, r) in spec.requests.iter().enumerate() {
        let mut prepared = match ctx.prepare(r) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let id = format!("lg-{}-{n}", &nonce[..12]);
        prepared.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&spec.request_id_header));
        prepared.headers.push((spec.request_id_header.to_ascii_lowercase(), id.clone()));
        let status = prepared.send(&ctx.client).await.map(|r| r.status);
        sent.push((prepared, id, status));
    }
    // Lines are written when a response ends and reach us through a pipe: wait for them.
    let deadline = Instant::now() + Duration::from_millis(spec.wait_ms);
    let mut verdicts = Vec::new();
    while let Some(expect) = &spec.expect {
        verdicts = output.with_lines(|all| {
            let lines: Vec<&str> = all.iter().map(|(_, l)| l.as_str()).collect();
            sent.iter()
                .map(|(_, id, status)| judge(&lines, id, expect, status.as_ref().ok().copied()))
                .collect::<Vec<_>>()
        });
        if verdicts.iter().all(Result::is_ok) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if spec.forbid_secrets || !spec.forbid.is_empty() {
        // Give the last lines of this check's own requests time to arrive.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the leak search reads: this instance so far, or every instance of the run.
    let outputs: Vec<(String, Output)> = match RunOutputs::of_this_run() {
        all if spec.whole_run() && !all.is_empty() => all,
        _ => vec![(String::new(), output.clone())],
    };
    let (total, not_json) = outputs.iter().fold((0, 0), |(total, not_json), (_, out)| {
        out.with_lines(|all| {
            let n = all
                .iter()
                .filter(|(_, l)| !l.trim().is_empty() && serde_json::from_str::<Map<String, Value>>(l.trim()).is_err())
                .count();
            (total + all.len(), not_json + n)
        })
    });
    let secrets = if spec.forbid_secrets { secrets_of(ctx) } else { Vec::new() };
    let mut problems = Vec::new();
    let mut curl = None;
    for ((prepared, id, status), verdict) in sent.iter().zip(&verdicts) {
        if let Err(why) = verdict {
            let answered = match status {
                Ok(s) => format!("answered {s}"),
                Err(e) => format!("got no answer: {e}"),
            };
            problems.push(Evidence::Assert {
                what: format!(
                    "log line of {} {} ({}: {id}, {answered})",
                    prepared.method,
                    prepared.url.path(),
                    spec.request_id_header
                ),
                expected: spec.expect.as_ref().map(describe).unwrap_or_default(),
                actual: why.clone(),
            });
            curl.get_or_insert_with(|| Evidence::Curl {
                line: format!("{}  # then look for {id} in the service's output", prepared.curl()),
            });
        }
    }
    let mut leaked = 0;
    if spec.forbid_secrets || !spec.forbid.is_empty() {
        let forbid: Vec<Pattern> = spec.forbid.iter().filter_map(|f| Pattern::parse(f).ok()).collect();
        let searched = spec.forbid_secrets.then_some(secrets.as_slice());
        for (name, out) in &outputs {
            for leak in out.with_lines(|all| scan(all, searched, &forbid)) {
                leaked += 1;
                if leaked > 5 {
                    continue;
                }
                let of = if outputs.len() > 1 { format!(" of {name}") } else { String::new() };
                problems.push(Evidence::Assert {
                    what: format!(
                        "output line {} ({}){of} holds {}",
                        leak.line,
                        stream_name(leak.stream),
                        leak.kinds.join(" and ")
                    ),
                    expected: "no secret and no token".into(),
                    actual: leak.shown,
                });
            }
        }
        if leaked > 5 {
            problems.push(Evidence::Note { text: format!("… and {} more line(s)", leaked - 5) });
        }
    }
    let starts =
        if outputs.len() > 1 { format!(" from {} starts of the service", outputs.len()) } else { String::new() };
    let counted = format!("{total} line(s) of output{starts}, {not_json} not JSON");
    // The answers to this check's own requests: the traffic whose lines were searched.
    let answers = || {
        let all: Vec<String> = sent
            .iter()
            .map(|(p, _, st)| {
                let st = st.as_ref().map_or_else(|_| "no answer".to_string(), |s| s.to_string());
                format!("{} {} → {st}", p.method, p.url.path())
            })
            .collect();
        format!("this check's own requests: {}", all.join(", "))
    };
    if problems.is_empty() {
        let what = if spec.expect.is_some() {
            format!("{} request(s) found in the logs by request id", sent.len())
        } else if spec.whole_run() {
            let tokens =
                usable(&secrets).iter().filter(|s| s.kind != "JWT_SECRET" && s.kind != "the database password").count();
            format!("no line of the whole run holds a secret or a token ({tokens} token(s) searched for)")
        } else {
            "no line holds a secret or a token".to_string()
        };
        return Outcome::pass(format!("{what} ({counted})"));
    }
    let first = match &problems[0] {
        Evidence::Assert { what, actual, .. } => format!("{what}: {actual}"),
        _ => String::new(),
    };
    let mut out = Outcome::fail(first).with_all(problems.into_iter().skip(1));
    if spec.whole_run() {
        // The offending lines are the evidence; the run's last lines would be another instance's.
        out = out.with(Evidence::Note { text: format!("read at the end of the run: {counted}") });
        if !sent.is_empty() {
            out = out.with(Evidence::Note { text: answers() });
        }
    } else {
        let tail = output.tail(12).iter().map(|l| redact_line(l, &secrets)).collect();
        out = out
            .with(Evidence::Output { label: format!("last lines of the service's output ({counted})"), lines: tail });
    }
    if let Some(c) = curl {
        out = out.with(c);
    }
    out
}

fn describe(e: &Expect) -> String {
    let mut parts = vec!["a JSON line carrying the request id".to_string()];
    if !e.fields.is_empty() {
        parts.push(format!("with {}", e.fields.join(", ")));
    }
    if let Some(l) = &e.level {
        parts.push(format!("at level {l}"));
    }
    if e.status {
        parts.push("and the response's status".into());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(level: Option<&str>, status: bool) -> Expect {
        Expect {
            fields: ["time", "level", "msg", "requestId", "route", "status", "durationMs"].map(String::from).to_vec(),
            level: level.map(String::from),
            status,
            aliases: Default::default(),
        }
    }

    const GOOD: &str = r#"{"time":"2026-01-01T00:00:00Z","level":"info","msg":"request completed","requestId":"lg-1","method":"GET","route":"/invoices/{id}","status":200,"durationMs":1.2}"#;

    #[test]
    fn finds_the_line_by_request_id_among_noise() {
        let lines = ["> node src/server.js", r#"{"level":"info","msg":"listening"}"#, GOOD];
        assert_eq!(judge(&lines, "lg-1", &expect(Some("info"), true), Some(200)), Ok(3));
        // Another request's id does not count, nor does a prefix of it.
        assert!(judge(&lines, "lg-2", &expect(None, false), Some(200)).unwrap_err().contains("no line"));
        assert!(judge(&lines, "lg-", &expect(None, false), Some(200)).is_err());
    }

    #[test]
    fn says_what_the_closest_line_lacks() {
        let partial = r#"{"level":"warn","requestId":"lg-1","status":"500"}"#;
        let e = judge(&[partial], "lg-1", &expect(Some("info"), true), Some(200)).unwrap_err();
        assert!(e.contains("line 1") && e.contains("no time, msg, route, durationMs"), "{e}");
        assert!(e.contains("level \"warn\" (want info)") && e.contains("status \"500\" (the response was 200)"), "{e}");
        // The status may be a string, the level a pino number.
        let pino = r#"{"level":30,"time":1,"msg":"x","requestId":"lg-1","route":"/","status":"200","durationMs":1}"#;
        assert_eq!(judge(&[pino], "lg-1", &expect(Some("info"), true), Some(200)), Ok(1));
    }

    #[test]
    fn field_names_match_across_conventions_and_synonyms() {
        let e = Expect {
            fields: vec!["upstreamMs".into(), "requestId".into()],
            level: Some("error".into()),
            status: true,
            aliases: [("upstreamMs".to_string(), vec!["upstreamLatencyMs".to_string()])].into(),
        };
        for line in [
            r#"{"level":"error","request_id":"lg-1","upstreamMs":2001,"status":504}"#,
            r#"{"level":"error","requestId":"lg-1","upstream_ms":2001,"status":504}"#,
            r#"{"level":"error","requestId":"lg-1","upstreamLatencyMs":2001,"status":504}"#,
            r#"{"Level":"error","requestId":"lg-1","upstream_latency_ms":2001,"Status":504}"#,
        ] {
            assert_eq!(judge(&[line], "lg-1", &e, Some(504)), Ok(1), "{line}");
        }
        // An unrelated name still lacks the field.
        let other = r#"{"level":"error","requestId":"lg-1","latencyMs":2001,"status":504}"#;
        assert!(judge(&[other], "lg-1", &e, Some(504)).unwrap_err().contains("no upstreamMs"));
    }

    #[test]
    fn plain_text_lines_are_named_not_judged() {
        let e = judge(&["GET /x 200 3ms lg-1"], "lg-1", &expect(None, false), Some(200)).unwrap_err();
        assert!(e.contains("not a JSON object"), "{e}");
    }

    #[test]
    fn the_id_may_sit_one_level_down() {
        let nested = r#"{"level":"error","msg":"upstream failed","req":{"id":"lg-1"},"upstreamMs":2001}"#;
        let e = Expect { fields: vec!["upstreamMs".into()], level: Some("error".into()), ..Default::default() };
        assert_eq!(judge(&[nested], "lg-1", &e, None), Ok(1));
    }

    fn out(lines: &[&str]) -> Vec<(Stream, String)> {
        lines.iter().map(|l| (Stream::Stdout, l.to_string())).collect()
    }

    fn secret(value: &str, kind: &str) -> Secret {
        Secret { value: value.into(), kind: kind.into() }
    }

    // A token as the grader mints them: header, payload, signature.
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYWJncmFkZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

    #[test]
    fn leaks_of_secrets_and_patterns() {
        let lines = out(&["ok", "config {\"jwtSecret\":\"s3cret-value\"}", "authorization: Bearer abc", "short x"]);
        let secrets = vec![secret("s3cret-value", "JWT_SECRET"), secret("x", "too short")];
        let forbid = vec![Pattern::parse("~(?i)bearer ").unwrap(), Pattern::parse("ok").unwrap()];
        let found = scan(&lines, Some(&secrets), &forbid);
        assert_eq!(found.iter().map(|l| l.line).collect::<Vec<_>>(), vec![1, 2, 3], "{found:?}");
        assert_eq!(found[1].kinds, vec!["JWT_SECRET"]);
        assert_eq!(found[1].shown, "config {\"jwtSecret\":\"[redacted]\"}");
        // Patterns alone: no secret is searched for, so the config line passes.
        assert_eq!(scan(&lines, None, &forbid).len(), 2);
    }

    #[test]
    fn each_leak_names_its_kind_and_stream_and_hides_the_value() {
        let auth =
            format!(r#"{{"level":"warn","msg":"request completed","status":404,"authorization":"Bearer {TOKEN}"}}"#);
        let lines = vec![
            (Stream::Stdout, r#"{"level":"info","msg":"listening"}"#.to_string()),
            (Stream::Stdout, auth),
            (Stream::Stderr, "connecting to postgres://ledger:pg-pass-123@db/ledger".to_string()),
        ];
        let secrets = [
            secret("reference-secret", "JWT_SECRET"),
            secret("pg-pass-123", "the database password"),
            secret(TOKEN, "a bearer token labgrade sent"),
        ];
        let found = scan(&lines, Some(&secrets), &[]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].line, found[0].stream), (2, Stream::Stdout));
        assert_eq!(found[0].kinds, vec!["a bearer token labgrade sent"]);
        assert!(found[0].shown.ends_with(r#""authorization":"Bearer [redacted]"}"#), "{}", found[0].shown);
        assert!(!found[0].shown.contains("eyJ"), "{}", found[0].shown);
        assert_eq!((found[1].line, found[1].stream), (3, Stream::Stderr));
        assert_eq!(found[1].kinds, vec!["the database password"]);
        assert_eq!(found[1].shown, "connecting to postgres://ledger:[redacted]@db/ledger");
    }

    #[test]
    fn a_jwt_nobody_listed_still_counts_and_alg_none_too() {
        let none = "eyJhbGciOiJub25lIn0.eyJyb2xlIjoib3duZXIifQ.";
        let lines = out(&[&format!("invalid token {TOKEN}"), &format!("token={none} rejected"), "eyJhbGciOi… (cut)"]);
        let found = scan(&lines, Some(&[]), &[]);
        assert_eq!(found.iter().map(|l| l.line).collect::<Vec<_>>(), vec![1, 2], "{found:?}");
        assert_eq!(found[0].kinds, vec![JWT_KIND]);
        assert_eq!(found[0].shown, "invalid token [redacted]");
        assert_eq!(found[1].shown, "token=[redacted] rejected");
        assert!(looks_like_jwt(TOKEN) && looks_like_jwt(none) && !looks_like_jwt("not-a.jwt"));
        // Without forbid_secrets, a JWT is not searched for.
        assert!(scan(&lines, None, &[]).is_empty());
    }

    #[test]
    fn bearer_shaped_values_leak_even_when_the_grader_did_not_mint_them() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzb21lb25lIn0.c2lnbmF0dXJl";
        let lines = out(&[
            &format!("{{\"authorization\":\"Bearer {jwt}\"}}"),
            "{\"msg\":\"Authorization: bearer 0123456789abcdefXYZ\"}",
            "{\"msg\":\"token refused\",\"scheme\":\"Bearer\"}",
            "{\"msg\":\"send an Authorization: Bearer <token> header\"}",
        ]);
        let found = scan(&lines, Some(&[]), &[]);
        assert_eq!(found.iter().map(|l| l.line).collect::<Vec<_>>(), vec![1, 2], "{found:?}");
        assert_eq!(found[0].kinds, vec![JWT_KIND]);
        assert_eq!(found[0].shown, "{\"authorization\":\"Bearer [redacted]\"}");
        assert_eq!(found[1].kinds, vec![BEARER_KIND]);
        assert_eq!(found[1].shown, "{\"msg\":\"Authorization: bearer [redacted]\"}");
        assert!(scan(&lines, None, &[]).is_empty(), "without forbid_secrets a token shape is not judged");
    }

    #[test]
    fn a_long_line_is_shown_around_its_first_secret() {
        let line = format!("{}{TOKEN}{}", "a".repeat(300), "b".repeat(300));
        let found = scan(&out(&[&line]), Some(&[secret(TOKEN, "a bearer token labgrade sent")]), &[]);
        let shown = &found[0].shown;
        assert!(shown.starts_with('…') && shown.ends_with('…') && shown.contains("[redacted]"), "{shown}");
        assert!(shown.chars().count() <= 162, "{shown}");
        // Near the end of the line, the window ends with it and shows more of what came before.
        let at_end = format!("{}{TOKEN}", "a".repeat(300));
        let found = scan(&out(&[&at_end]), Some(&[secret(TOKEN, "a bearer token labgrade sent")]), &[]);
        let shown = &found[0].shown;
        assert!(shown.starts_with('…') && shown.ends_with("a[redacted]"), "{shown}");
        assert_eq!(shown.chars().count(), 161, "{shown}");
    }

    #[test]
    fn overlapping_and_repeated_secrets_are_all_hidden() {
        // The password inside the URL that is also listed, twice on one line.
        let secrets = [secret("hunter2-long", "the database password"), secret("u:hunter2-long@h", "a secret")];
        let found = scan(&out(&["u:hunter2-long@h and hunter2-long again"]), Some(&secrets), &[]);
        assert_eq!(found[0].shown, "[redacted] and [redacted] again");
        assert_eq!(found[0].kinds, vec!["a secret", "the database password"]);
        assert_eq!(redact_line("x hunter2-long y", &secrets), "x [redacted] y");
    }

    #[test]
    fn scope_run_is_for_leaks_only() {
        let spec = |scope: &str, expect: bool| -> Result<(), String> {
            let expect = if expect { r#"expect = { fields = ["msg"] }"# } else { "forbid_secrets = true" };
            let text = format!("requests = [{{ path = \"/x\" }}]\nscope = \"{scope}\"\n{expect}");
            toml::from_str::<Spec>(&text).map_err(|e| e.to_string())?.validate()
        };
        assert!(spec("run", false).is_ok());
        assert!(spec("instance", true).is_ok());
        assert!(spec("run", true).unwrap_err().contains("scope"));
        assert!(spec("everything", false).is_err());
    }
}
