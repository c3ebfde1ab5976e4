//! `kind = "logs"`: what the service printed, judged as structured logs. The grader sends
//! its own requests, each with an `X-Request-Id` of its own making, and finds the JSON lines
//! that carry it: one of them must have the expected fields, level and status. Lines that
//! are not JSON are tolerated and counted. `forbid_secrets` fails any line — stdout or
//! stderr, from the start of the service — that holds the learner's secret or a token the
//! grader sent.

use super::{Ctx, Evidence, Outcome};
use crate::matching::{Pattern, same_name};
use crate::request::RequestSpec;
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
    /// No line may contain JWT_SECRET, a database password, or any token minted so far.
    #[serde(default)]
    pub forbid_secrets: bool,
    /// Text (or `~regex`) no line may contain.
    #[serde(default)]
    pub forbid: Vec<String>,
    #[serde(default = "request_id_header")]
    pub request_id_header: String,
    /// How long a line may take to appear after its response.
    #[serde(default = "wait")]
    pub wait_ms: u64,
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
        Ok(())
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

/// JWTs (`eyJ….eyJ….…`) and `Bearer <credential>` values, wherever they appear in a line.
fn bearer_shaped() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}",
        )
        .expect("a valid regex")
    })
}

/// The part of a long line where the first forbidden value sits (a leak at the end of a
/// request line would otherwise be cut off the evidence).
fn around<'l>(line: &'l str, secrets: &Option<Vec<String>>, forbid: &[Pattern]) -> &'l str {
    let mut at = secrets.iter().flatten().filter(|s| s.len() >= 8).filter_map(|s| line.find(s.as_str())).min();
    if secrets.is_some() {
        at = at.into_iter().chain(bearer_shaped().find(line).map(|m| m.start())).min();
    }
    for p in forbid {
        let hit = match p {
            Pattern::Exact(t) => line.find(t.as_str()),
            Pattern::Regex(r) => r.find(line).map(|m| m.start()),
        };
        at = at.into_iter().chain(hit).min();
    }
    match at {
        Some(pos) if pos > 80 => {
            let mut start = pos - 60;
            while !line.is_char_boundary(start) {
                start -= 1;
            }
            &line[start..]
        }
        _ => line,
    }
}

/// A line as evidence: cut, with any bearer-shaped value masked (the runner masks the
/// grader's own secrets; these it does not know).
fn shown(s: &str) -> String {
    cut(&bearer_shaped().replace_all(s, "[token]"))
}

fn cut(s: &str) -> String {
    let c: String = s.chars().take(160).collect();
    if c.len() < s.len() { format!("{c}…") } else { c }
}

/// Lines holding a forbidden value: (line number, which one).
/// `secrets`: None when the check does not forbid secrets (then bearer shapes are allowed too).
pub fn leaks(lines: &[&str], secrets: Option<&[String]>, forbid: &[Pattern]) -> Vec<(usize, String)> {
    let forbid_secrets = secrets.is_some();
    let secrets = secrets.unwrap_or_default();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // Short values would match by accident; a real secret or token is longer.
        if secrets.iter().filter(|s| s.len() >= 8).any(|s| line.contains(s.as_str())) {
            out.push((i + 1, "a secret or a bearer token the grader sent".to_string()));
        } else if forbid_secrets && bearer_shaped().is_match(line) {
            // A token the grader did not mint (one the service was sent by someone else, or
            // made itself) is as replayable from a log as the grader's own.
            out.push((i + 1, "a bearer token (a JWT or an Authorization header value)".to_string()));
        } else if let Some(p) = forbid.iter().find(|p| match p {
            Pattern::Exact(text) => line.contains(text.as_str()),
            Pattern::Regex(r) => r.is_match(line),
        }) {
            out.push((i + 1, p.describe()));
        }
    }
    out
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
    let (total, not_json) = output.with_lines(|all| {
        let not_json = all
            .iter()
            .filter(|(_, l)| !l.trim().is_empty() && serde_json::from_str::<Map<String, Value>>(l.trim()).is_err())
            .count();
        (all.len(), not_json)
    });
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
    if spec.forbid_secrets || !spec.forbid.is_empty() {
        let forbid: Vec<Pattern> = spec.forbid.iter().filter_map(|f| Pattern::parse(f).ok()).collect();
        let secrets = spec.forbid_secrets.then(|| ctx.secrets.clone());
        let found = output.with_lines(|all| {
            let lines: Vec<&str> = all.iter().map(|(_, l)| l.as_str()).collect();
            leaks(&lines, secrets.as_deref(), &forbid)
                .into_iter()
                .map(|(n, what)| (n, what, shown(around(lines[n - 1], &secrets, &forbid))))
                .collect::<Vec<_>>()
        });
        for (n, what, line) in found.iter().take(5) {
            problems.push(Evidence::Assert {
                what: format!("output line {n}"),
                expected: format!("a line without {what}"),
                actual: line.clone(), // the runner redacts the secret itself out of the report
            });
        }
        if found.len() > 5 {
            problems.push(Evidence::Note { text: format!("… and {} more line(s)", found.len() - 5) });
        }
    }
    let counted = format!("{total} line(s) of output, {not_json} not JSON");
    if problems.is_empty() {
        let what = if spec.expect.is_none() {
            "no line holds a secret or a token".to_string()
        } else {
            format!("{} request(s) found in the logs by request id", sent.len())
        };
        return Outcome::pass(format!("{what} ({counted})"));
    }
    let first = match &problems[0] {
        Evidence::Assert { what, actual, .. } => format!("{what}: {actual}"),
        _ => String::new(),
    };
    let tail = output.tail(12);
    let mut out = Outcome::fail(first).with_all(problems.into_iter().skip(1));
    out = out.with(Evidence::Output { label: format!("last lines of the service's output ({counted})"), lines: tail });
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

    #[test]
    fn leaks_of_secrets_and_patterns() {
        let lines = ["ok", "config {\"jwtSecret\":\"s3cret-value\"}", "authorization: Bearer abc", "short x"];
        let secrets = vec!["s3cret-value".to_string(), "x".to_string()];
        let forbid = vec![Pattern::parse("~(?i)bearer ").unwrap(), Pattern::parse("ok").unwrap()];
        let found = leaks(&lines, Some(&secrets), &forbid);
        assert_eq!(found.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2, 3], "{found:?}");
    }

    #[test]
    fn bearer_shaped_values_leak_even_when_the_grader_did_not_mint_them() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzb21lb25lIn0.c2lnbmF0dXJl";
        let lines = [
            format!("{{\"authorization\":\"Bearer {jwt}\"}}"),
            "{\"msg\":\"Authorization: bearer 0123456789abcdefXYZ\"}".to_string(),
            "{\"msg\":\"token refused\",\"scheme\":\"Bearer\"}".to_string(),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let found = leaks(&lines, Some(&[]), &[]);
        assert_eq!(found.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2], "{found:?}");
        assert!(leaks(&lines, None, &[]).is_empty(), "without forbid_secrets a token shape is not judged");
        assert!(!shown(lines[0]).contains("eyJ"), "{}", shown(lines[0]));
    }
}
