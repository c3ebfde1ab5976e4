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
    /// The memory the service holds when the first bytes of the response arrive, as a
    /// share of the whole response: streaming holds what is in flight, buffering holds the
    /// payload before its first byte goes out.
    pub held: Option<Held>,
}

/// What a streaming body holds early on. When the first `after_bytes` of the response have
/// arrived, the service tree's resident memory (peak over the baseline up to that moment)
/// must be at most `max_share` × the size of the whole response. A buffered body is built
/// in full before it is sent, so its memory at that moment grows with the payload; a
/// streamed one has read a batch or two, whatever the payload's size.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Held {
    /// Response bytes that must have arrived when memory is judged (4 KiB–64 MiB).
    #[serde(default = "held_after")]
    pub after_bytes: u64,
    /// The limit, as a share of the whole response's size (above 0, at most 100).
    pub max_share: f64,
}

fn held_after() -> u64 {
    1 << 20
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
        if let Some(h) = &self.expect.held {
            if !(4 << 10..=64 << 20).contains(&h.after_bytes) {
                return Err("expect.held.after_bytes must be 4 KiB..64 MiB".into());
            }
            if !(h.max_share > 0.0 && h.max_share <= 100.0) {
                return Err(
                    "expect.held.max_share must be above 0 and at most 100 (a share of the response's size)".into()
                );
            }
            if self.expect.min_bytes.is_none_or(|m| m < h.after_bytes.saturating_mul(4)) {
                return Err("expect.held needs expect.min_bytes of at least 4 × held.after_bytes, so that memory is judged while most of the payload is still to come".into());
            }
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
    /// When `expect.held.after_bytes` had arrived: when, how many bytes, and the peak
    /// resident memory (KiB) from the request's start up to then.
    pub held: Option<HeldAt>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeldAt {
    pub at: Duration,
    pub read_bytes: u64,
    pub peak_kib: u64,
    /// The samples up to then (`rss_kib[..samples]`), and the one taken at that moment.
    pub samples: usize,
    pub now_kib: u64,
}

impl Transfer {
    pub fn rss_growth_kib(&self) -> Option<u64> {
        let (first, rest) = self.rss_kib.split_first()?;
        Some(rest.iter().max().copied().unwrap_or(*first).saturating_sub(*first))
    }

    /// Memory held over the baseline when the first bytes had arrived.
    pub fn held_growth_kib(&self) -> Option<u64> {
        Some(self.held?.peak_kib.saturating_sub(*self.rss_kib.first()?))
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
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
    if let Some(h) = &expect.held {
        match (t.held, t.held_growth_kib()) {
            (Some(at), Some(held)) if held as f64 * 1024.0 > h.max_share * t.received_bytes as f64 => {
                out.push(format!(
                    "when the first {} bytes had arrived (at {}), the service's memory was {:.1} MiB above its baseline: {:.1}× the {:.1} MiB response, the limit is {}× — it built the whole payload in memory before sending it",
                    at.read_bytes,
                    ms(at.at),
                    mib(held),
                    held as f64 * 1024.0 / t.received_bytes.max(1) as f64,
                    t.received_bytes as f64 / 1_048_576.0,
                    h.max_share,
                ))
            }
            (Some(_), Some(_)) => {}
            _ => out.push(format!(
                "the response ended after {} bytes, before the {} bytes at which memory is judged",
                t.received_bytes, h.after_bytes
            )),
        }
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
    let judges_memory = spec.expect.max_rss_growth_mib.is_some() || spec.expect.held.is_some();
    if judges_memory && ctx.service_pid.is_none() {
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
            if let (Some(h), Some(pid), None) = (&spec.expect.held, ctx.service_pid, t.held)
                && t.received_bytes >= h.after_bytes
            {
                // Sampled now, not at the next tick: a streaming service goes on producing.
                let now_kib = tree_rss_kib(pid);
                let (peak, n) = {
                    let s = samples.lock().unwrap_or_else(|e| e.into_inner());
                    (s.iter().copied().max().unwrap_or(0), s.len())
                };
                t.held = Some(HeldAt {
                    at: started.elapsed(),
                    read_bytes: t.received_bytes,
                    peak_kib: peak.max(now_kib),
                    samples: n,
                    now_kib,
                });
            }
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

    if judges_memory && t.rss_kib.first().is_none_or(|b| *b == 0) {
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
    let held_limit_kib = spec.expect.held.map(|h| (h.max_share * t.received_bytes as f64 / 1024.0) as u64);
    if let (Some(at), Some(held), Some(peak)) = (t.held, t.held_growth_kib(), t.rss_growth_kib()) {
        timeline.push_str(&format!(
            "; memory {:.1} MiB over the baseline when the first {} bytes had arrived (at {}; limit {:.1} MiB), {:.1} MiB at the peak",
            mib(held),
            at.read_bytes,
            ms(Some(at.at)),
            mib(held_limit_kib.unwrap_or_default()),
            mib(peak)
        ));
    }
    let mut evidence = vec![Evidence::Note { text: timeline.clone() }];
    if let (Some(limit), Some(held)) = (held_limit_kib, t.held_growth_kib()) {
        // The samples up to the moment judged, so that the chart's peak is the number judged.
        let mut samples_kib: Vec<u64> = t.rss_kib.clone();
        if let Some(h) = t.held {
            samples_kib.truncate(h.samples.max(1));
            samples_kib.push(h.now_kib);
        }
        evidence.push(Evidence::Memory { samples_kib, growth_kib: held, limit_kib: limit });
    } else if let (Some(limit), Some(growth)) = (spec.expect.max_rss_growth_mib, t.rss_growth_kib()) {
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
    fn memory_held_at_the_first_bytes_is_judged_against_the_payload() {
        let e = Expect { held: Some(Held { after_bytes: 1 << 20, max_share: 3.0 }), ..Default::default() };
        let at = |peak_kib| HeldAt {
            at: Duration::from_millis(90),
            read_bytes: 1 << 20,
            peak_kib,
            samples: 3,
            now_kib: peak_kib,
        };
        // 22 MiB streamed: a cursor's first batches (31.8 MiB) stay under 3 × 22 MiB.
        let mut t =
            Transfer { received_bytes: 23_023_030, rss_kib: vec![80_000, 90_000, 100_000], ..Default::default() };
        t.held = Some(at(80_000 + 32_563));
        assert!(judge(&e, &t).is_empty(), "{:?}", judge(&e, &t));
        // Buffered: 209.6 MiB before the first byte, 9.5× the response.
        t.held = Some(at(80_000 + 214_630));
        let p = judge(&e, &t);
        assert!(p[0].contains("209.6 MiB above its baseline: 9.5× the 22.0 MiB response, the limit is 3×"), "{p:?}");
        // A response too short to reach the point fails instead of passing unjudged.
        t.held = None;
        assert!(judge(&e, &t)[0].contains("before the 1048576 bytes"));
    }

    #[test]
    fn held_needs_a_payload_much_larger_than_the_point_it_is_judged_at() {
        let spec = |min_bytes| Spec {
            request: toml::from_str("path = \"/x\"").unwrap(),
            upload: None,
            expect: Expect {
                min_bytes,
                held: Some(Held { after_bytes: 1 << 20, max_share: 3.0 }),
                ..Default::default()
            },
        };
        assert!(spec(Some(8_000_000)).validate().is_ok());
        assert!(spec(Some(2_000_000)).validate().unwrap_err().contains("min_bytes"));
        assert!(spec(None).validate().is_err());
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
