//! `kind = "stream"`: is a large transfer streamed or buffered? For an upload, a generated
//! body goes out in chunks while the response is read at the same time: a streaming
//! service answers before the upload ends, a buffering one only after. For a download,
//! time to first byte and total bytes. Meanwhile the resident memory of the service's
//! process tree is sampled from /proc (the grader knows the pids it started): streaming
//! keeps it flat, buffering grows it with the payload.

use super::{Ctx, Evidence, Outcome};
use crate::db::generate::Rng;
use crate::request::RequestSpec;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub request: RequestSpec,
    /// Send a generated body of this size instead of the request's own.
    pub upload: Option<Upload>,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    pub bytes: u64,
    #[serde(default = "chunk")]
    pub chunk_bytes: usize,
}

fn chunk() -> usize {
    64 * 1024
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<u16>,
    /// The first response byte arrives before the last upload byte was sent.
    #[serde(default)]
    pub first_byte_before_upload_end: bool,
    /// The response body is the uploaded body, byte for byte (compared by SHA-256).
    #[serde(default)]
    pub echo: bool,
    /// At least this many response bytes.
    pub min_bytes: Option<u64>,
    /// The service tree's resident memory grows by at most this much during the transfer.
    pub max_rss_growth_mib: Option<f64>,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if (self.expect.first_byte_before_upload_end || self.expect.echo) && self.upload.is_none() {
            return Err("first_byte_before_upload_end and echo need an `upload`".into());
        }
        if let Some(u) = &self.upload
            && (u.bytes == 0 || u.bytes > 1 << 32 || !(1024..=(8 << 20)).contains(&u.chunk_bytes))
        {
            return Err("upload.bytes must be 1..4 GiB and chunk_bytes 1 KiB..8 MiB".into());
        }
        Ok(())
    }
}

/// What a transfer measured, all relative to the moment the request started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transfer {
    pub status: u16,
    pub upload_end: Option<Duration>,
    pub first_byte: Option<Duration>,
    pub done: Duration,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_sha256: Option<String>,
    pub received_sha256: String,
    /// Resident memory of the service tree in KiB: before the request, then every sample.
    pub rss_kib: Vec<u64>,
}

impl Transfer {
    pub fn rss_growth_kib(&self) -> Option<u64> {
        let (first, rest) = self.rss_kib.split_first()?;
        Some(rest.iter().max().copied().unwrap_or(*first).saturating_sub(*first))
    }
}

/// Problems with a transfer (empty: it meets the expectation). Pure.
pub fn judge(expect: &Expect, t: &Transfer) -> Vec<String> {
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let mut out = Vec::new();
    if let Some(s) = expect.status
        && t.status != s
    {
        out.push(format!("status {}, expected {s}", t.status));
    }
    if expect.first_byte_before_upload_end {
        match (t.first_byte, t.upload_end) {
            (Some(f), Some(u)) if f < u => {}
            (Some(f), Some(u)) => out.push(format!(
                "the first response byte came at {} and the upload ended at {}: the body was read in full before answering (buffered), not streamed",
                ms(f),
                ms(u)
            )),
            (None, _) => out.push("no response byte arrived".into()),
            (_, None) => out.push("the upload never finished".into()),
        }
    }
    if expect.echo && t.sent_sha256.as_deref() != Some(t.received_sha256.as_str()) {
        out.push(format!(
            "the response is not the uploaded body: sent {} bytes (sha256 {}), received {} bytes (sha256 {})",
            t.sent_bytes,
            t.sent_sha256.as_deref().unwrap_or("-"),
            t.received_bytes,
            t.received_sha256
        ));
    }
    if let Some(min) = expect.min_bytes
        && t.received_bytes < min
    {
        out.push(format!("received {} bytes, expected at least {min}", t.received_bytes));
    }
    if let (Some(max), Some(growth)) = (expect.max_rss_growth_mib, t.rss_growth_kib())
        && growth as f64 / 1024.0 > max
    {
        out.push(format!(
            "the service's memory grew by {:.1} MiB during the transfer; the limit is {max} MiB — it holds the whole payload in memory",
            growth as f64 / 1024.0
        ));
    }
    out
}

/// Resident memory of `root` and every process below it, in KiB.
pub fn tree_rss_kib(root: i32) -> u64 {
    std::iter::once(root)
        .chain(crate::procs::descendants(root))
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let prepared = match ctx.prepare(&spec.request) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let curl = Evidence::Curl { line: prepared.curl() };
    if spec.expect.max_rss_growth_mib.is_some() && ctx.service_pid.is_none() {
        return Outcome::skipped(
            "not judged: the service's memory can only be sampled when labgrade started it (not with --url)",
        );
    }
    let timeout = spec.request.timeout_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(120));
    let started = Instant::now();

    // Memory: a baseline now, then a sample every 25 ms until the transfer ends.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = ctx.service_pid.map(|pid| {
        let (samples, stop) = (samples.clone(), stop.clone());
        samples.lock().unwrap_or_else(|e| e.into_inner()).push(tree_rss_kib(pid));
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(25)).await;
                samples.lock().unwrap_or_else(|e| e.into_inner()).push(tree_rss_kib(pid));
            }
        })
    });

    let mut rb = ctx.client.request(prepared.method.clone(), prepared.url.clone()).timeout(timeout);
    for (k, v) in &prepared.headers {
        rb = rb.header(k, v);
    }
    if let Some(t) = &prepared.token {
        rb = rb.bearer_auth(t);
    }
    let upload_state = Arc::new(Mutex::new((None::<Duration>, Sha256::new(), 0u64)));
    if let Some(u) = &spec.upload {
        let (total, chunk_bytes, state) = (u.bytes, u.chunk_bytes, upload_state.clone());
        let body = futures_util::stream::unfold((0u64, Rng::new("stream-upload")), move |(sent, mut rng)| {
            let state = state.clone();
            async move {
                if sent >= total {
                    state.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(started.elapsed());
                    return None;
                }
                let n = (total - sent).min(chunk_bytes as u64) as usize;
                let mut buf = Vec::with_capacity(n + 8);
                while buf.len() < n {
                    buf.extend_from_slice(&rng.next_u64().to_le_bytes());
                }
                buf.truncate(n);
                {
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    s.1.update(&buf);
                    s.2 += n as u64;
                }
                // Let the response side run between chunks: a streaming echo answers now.
                tokio::task::yield_now().await;
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), (sent + n as u64, rng)))
            }
        });
        rb = rb.body(reqwest::Body::wrap_stream(body));
    } else if let Some(b) = &prepared.body {
        rb = rb.body(b.clone());
    }

    let mut t = Transfer::default();
    let mut hasher = Sha256::new();
    let result: Result<(), String> = async {
        let mut resp = rb.send().await.map_err(|e| crate::request::describe(&e, timeout))?;
        t.status = resp.status().as_u16();
        while let Some(c) = resp.chunk().await.map_err(|e| crate::request::describe(&e, timeout))? {
            if t.first_byte.is_none() && !c.is_empty() {
                t.first_byte = Some(started.elapsed());
            }
            t.received_bytes += c.len() as u64;
            hasher.update(&c);
        }
        Ok(())
    }
    .await;
    t.done = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(h) = sampler {
        let _ = h.await;
    }
    t.rss_kib = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    t.received_sha256 = hex(&hasher.finalize());
    {
        let s = upload_state.lock().unwrap_or_else(|e| e.into_inner());
        t.upload_end = s.0;
        t.sent_bytes = s.2;
        if spec.upload.is_some() {
            t.sent_sha256 = Some(hex(&s.1.clone().finalize()));
        }
    }
    if let Err(e) = result {
        return Outcome::fail(format!("{} {}: {e}", prepared.method, prepared.url.path())).with(curl);
    }

    if spec.expect.max_rss_growth_mib.is_some() && t.rss_kib.first().is_none_or(|b| *b == 0) {
        // No /proc here (or the service is gone): a growth of zero would be a false pass.
        return Outcome::skipped("not judged: the service's resident memory cannot be read from /proc on this machine");
    }
    let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0));
    let mut timeline = format!(
        "status {}; first response byte at {}; {} bytes received by {}",
        t.status,
        ms(t.first_byte),
        t.received_bytes,
        ms(Some(t.done))
    );
    if spec.upload.is_some() {
        timeline.push_str(&format!("; {} bytes uploaded, upload ended at {}", t.sent_bytes, ms(t.upload_end)));
    }
    let mut evidence = vec![Evidence::Note { text: timeline.clone() }];
    if let (Some(limit), Some(growth)) = (spec.expect.max_rss_growth_mib, t.rss_growth_kib()) {
        evidence.push(Evidence::Memory {
            samples_kib: t.rss_kib.clone(),
            growth_kib: growth,
            limit_kib: (limit * 1024.0) as u64,
        });
    }
    let problems = judge(&spec.expect, &t);
    if problems.is_empty() {
        let mut o = Outcome::pass(timeline);
        o.evidence = evidence.into_iter().filter(|e| matches!(e, Evidence::Memory { .. })).collect();
        return o;
    }
    let mut o = Outcome::fail(problems.join("; "));
    o.evidence = evidence;
    o.with(curl)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Option<Duration> {
        Some(Duration::from_millis(ms))
    }

    #[test]
    fn streamed_and_buffered_uploads_are_told_apart() {
        let e = Expect { first_byte_before_upload_end: true, echo: true, status: Some(200), ..Default::default() };
        let mut t = Transfer {
            status: 200,
            upload_end: at(80),
            first_byte: at(3),
            sent_sha256: Some("ab".into()),
            received_sha256: "ab".into(),
            ..Default::default()
        };
        assert!(judge(&e, &t).is_empty());
        t.first_byte = at(95);
        let p = judge(&e, &t);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("at 95 ms and the upload ended at 80 ms") && p[0].contains("buffered"), "{p:?}");
        t.received_sha256 = "cd".into();
        assert_eq!(judge(&e, &t).len(), 2);
    }

    #[test]
    fn memory_growth_is_peak_over_baseline() {
        let t = Transfer { rss_kib: vec![50_000, 52_000, 140_000, 60_000], ..Default::default() };
        assert_eq!(t.rss_growth_kib(), Some(90_000));
        let e = Expect { max_rss_growth_mib: Some(64.0), ..Default::default() };
        assert!(judge(&e, &t)[0].contains("grew by 87.9 MiB"));
        let flat = Transfer { rss_kib: vec![50_000, 51_000], ..Default::default() };
        assert!(judge(&e, &flat).is_empty());
        assert_eq!(Transfer::default().rss_growth_kib(), None);
    }
}
