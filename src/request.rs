//! An HTTP request as a spec writes it, turned into a concrete request (templated, with a
//! minted token), sent with a timeout and a cap on what is kept of the body, and rendered as
//! a `curl` line that reproduces it.

use crate::template::{self, TemplateError, Vars};
use crate::token::TokenSpec;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Bodies longer than this are cut; the evidence says so.
pub const BODY_CAP: usize = 16 * 1024 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The client's own timeout, for a request that sets none (each request sets its own).
pub const BACKSTOP_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body (sent with `Content-Type: application/json` unless headers say otherwise).
    pub json: Option<serde_json::Value>,
    /// A raw text body, sent as written.
    pub body: Option<String>,
    /// A JSON object of exactly this many bytes (`{"padding":"aaa…"}`), for size limits.
    pub body_size: Option<usize>,
    /// Send the body in chunks with no Content-Length (`Transfer-Encoding: chunked`), as a
    /// streamed upload arrives: a size limit must count bytes, not trust a header.
    #[serde(default)]
    pub chunked: bool,
    /// `false`: no token. A table: a token with these claims. Absent: the lab's default.
    pub auth: Option<AuthSpec>,
    pub timeout_ms: Option<u64>,
}

fn get() -> String {
    "GET".into()
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            method: get(),
            path: "/".into(),
            headers: BTreeMap::new(),
            json: None,
            body: None,
            body_size: None,
            chunked: false,
            auth: None,
            timeout_ms: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum AuthSpec {
    Flag(bool),
    Token(TokenSpec),
}

/// A request ready to send. The token is kept apart so that no report ever prints it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: reqwest::Method,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Send `body` chunked, without a Content-Length.
    pub chunked: bool,
    pub token: Option<String>,
    /// `labgrade token` arguments that mint a token like it (empty: the default token).
    pub token_args: String,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Invalid(String),
}

impl RequestSpec {
    /// Whether a token is wanted, given the lab's default.
    pub fn token_spec(&self, lab_default: bool) -> Option<TokenSpec> {
        match &self.auth {
            None if lab_default => Some(TokenSpec::default()),
            None | Some(AuthSpec::Flag(false)) => None,
            Some(AuthSpec::Flag(true)) => Some(TokenSpec::default()),
            Some(AuthSpec::Token(t)) => Some(t.clone()),
        }
    }

    pub fn prepare(&self, base: &url::Url, vars: &Vars, token: Option<String>) -> Result<Prepared, PrepareError> {
        let method = reqwest::Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| PrepareError::Invalid(format!("{:?} is not an HTTP method", self.method)))?;
        let path = template::render(&self.path, vars)?;
        let url =
            base.join(&path).map_err(|e| PrepareError::Invalid(format!("cannot join {path:?} to {base}: {e}")))?;
        let mut headers = Vec::new();
        for (k, v) in &self.headers {
            headers.push((k.to_ascii_lowercase(), template::render(v, vars)?));
        }
        let has = |h: &Vec<(String, String)>, name: &str| h.iter().any(|(k, _)| k == name);
        if let Some(n) = self.body_size {
            if self.json.is_some() || self.body.is_some() {
                return Err(PrepareError::Invalid("a request has one of `json`, `body` or `body_size`".into()));
            }
            if !has(&headers, "content-type") {
                headers.push(("content-type".into(), "application/json".into()));
            }
            return Ok(Prepared {
                method,
                url,
                headers,
                body: Some(padded_json(n)),
                chunked: self.chunked,
                token,
                token_args: String::new(),
                timeout: self.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT),
            });
        }
        let body = match (&self.json, &self.body) {
            (Some(_), Some(_)) => {
                return Err(PrepareError::Invalid("a request has one of `json`, `body` or `body_size`".into()));
            }
            (Some(j), None) => {
                if !has(&headers, "content-type") {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                Some(serde_json::to_vec(&template::render_json(j, vars)?).expect("JSON values serialize"))
            }
            (None, Some(b)) => Some(template::render(b, vars)?.into_bytes()),
            (None, None) => None,
        };
        Ok(Prepared {
            method,
            url,
            headers,
            body,
            chunked: self.chunked,
            token,
            token_args: String::new(),
            timeout: self.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT),
        })
    }
}

/// `{"padding":"aaa…"}`, exactly `n` bytes (at least 16).
pub fn padded_json(n: usize) -> Vec<u8> {
    let fill = n.max(16) - 14;
    let mut b = Vec::with_capacity(n.max(16));
    b.extend_from_slice(b"{\"padding\":\"");
    b.resize(12 + fill, b'a');
    b.extend_from_slice(b"\"}");
    b
}

/// What came back, with the body capped at [`BODY_CAP`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub truncated: bool,
    pub elapsed: Duration,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Prepared {
    /// Send it and read the answer, keeping at most [`BODY_CAP`] bytes of the body.
    pub async fn send(&self, client: &reqwest::Client) -> Result<Response, String> {
        self.send_capped(client, BODY_CAP).await
    }

    /// Send it and keep at most `cap` bytes of the body: what is past the cap is never read
    /// (the connection is dropped). Many requests in flight at once (load) want a small cap,
    /// or a service answering each with an endless body costs `BODY_CAP` per connection.
    pub async fn send_capped(&self, client: &reqwest::Client, cap: usize) -> Result<Response, String> {
        let started = Instant::now();
        let mut rb = client.request(self.method.clone(), self.url.clone()).timeout(self.timeout);
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        match &self.body {
            Some(b) if self.chunked => {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    b.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
                rb = rb.body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)));
            }
            Some(b) => rb = rb.body(b.clone()),
            None => {}
        }
        let mut resp = rb.send().await.map_err(|e| describe(&e, self.timeout))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let announced = resp.content_length();
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = cap - body.len();
                    if chunk.len() > room {
                        // Stop reading: dropping the response closes the connection, so a
                        // service streaming without end is not read to its end either.
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(body_broke_off(&e, self.timeout, status, body.len(), announced)),
            }
        }
        Ok(Response { status, headers, body, truncated, elapsed: started.elapsed() })
    }

    /// A curl line that reproduces this request; the token is a shell variable, never its value.
    pub fn curl(&self) -> String {
        let mut parts = vec!["curl -i".to_string()];
        if self.method != reqwest::Method::GET || self.body.is_some() {
            parts.push(format!("-X {}", self.method));
        }
        parts.push(shell_quote(self.url.as_str()));
        if self.token.is_some() {
            if self.token_args.is_empty() {
                parts.push("-H \"Authorization: Bearer $LABGRADE_TOKEN\"".to_string());
            } else {
                parts.push(format!("-H \"Authorization: Bearer $(labgrade token {})\"", self.token_args));
            }
        }
        for (k, v) in &self.headers {
            parts.push(format!("-H {}", shell_quote(&format!("{k}: {v}"))));
        }
        if self.chunked && self.body.is_some() {
            parts.push("-H 'Transfer-Encoding: chunked'".to_string());
        }
        if let Some(b) = &self.body {
            if b.len() > 2048 && *b == padded_json(b.len()) {
                parts.push(format!(
                    "--data-binary \"{{\\\"padding\\\":\\\"$(head -c {} /dev/zero | tr '\\0' a)\\\"}}\"",
                    b.len() - 14
                ));
            } else if b.len() > 2048 || std::str::from_utf8(b).is_err() {
                parts.push(format!("--data-binary @body.bin  # {} bytes", b.len()));
            } else {
                parts.push(format!("--data-raw {}", shell_quote(&String::from_utf8_lossy(b))));
            }
        }
        parts.join(" ")
    }
}

/// Say what went wrong with a request in the learner's terms.
pub fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {:.1} s", timeout.as_secs_f64());
    }
    if e.is_connect() {
        return "could not connect (is the service running and listening on base_url?)".to_string();
    }
    let learner_side = !e.is_builder();
    // reqwest wraps hyper's error in two layers of "error sending request for url (…)"; the
    // innermost message is the one that says what the service did.
    let mut chain = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push(s.to_string());
        src = s.source();
    }
    let inner = chain.last().cloned().unwrap_or_default();
    let all = chain.join(": ").to_ascii_lowercase();
    if !learner_side {
        chain.join(": ")
    } else if all.contains("message head is too large") {
        format!(
            "the response's status line and headers are over {} KiB, more than an HTTP client accepts ({inner})",
            MAX_HEAD >> 10
        )
    } else if all.contains("invalid http") || all.contains("invalid header") || all.contains("parse") {
        format!("the answer is not well-formed HTTP/1.1 ({inner})")
    } else if all.contains("connection closed before message completed") || all.contains("reset by peer") {
        format!("the connection closed before a response arrived — did the service crash or hang up? ({inner})")
    } else {
        chain.join(": ")
    }
}

/// The most of a response head (status line and headers) the client reads before giving up:
/// hyper's HTTP/1 read buffer limit.
pub const MAX_HEAD: usize = 8192 + 4096 * 100;

/// What to say when a body stops arriving after `got` bytes (`announced`: its content-length).
fn body_broke_off(e: &reqwest::Error, timeout: Duration, status: u16, got: usize, announced: Option<u64>) -> String {
    let of = announced.map(|n| format!(" of {n}")).unwrap_or_default();
    if e.is_timeout() {
        format!(
            "answered {status}, but the body was still arriving after {:.1} s ({got}{of} bytes so far); \
             the whole response must arrive within the request's timeout",
            timeout.as_secs_f64()
        )
    } else {
        let mut inner = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            inner = s.to_string();
            src = s.source();
        }
        format!("answered {status}, but the connection closed after {got}{of} bytes of the body ({inner})")
    }
}

pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The grader's HTTP client: no proxies (a learner's HTTP_PROXY must not intercept loopback),
/// no redirects (a redirect is a response to judge, not to follow).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(5))
        // A backstop: every request sets its own timeout (which replaces this one), so no
        // exchange with a service that never answers can outlive it even if one forgets.
        .timeout(BACKSTOP_TIMEOUT)
        .user_agent(concat!("labgrade/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with static settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_src: &str) -> RequestSpec {
        toml::from_str(toml_src).unwrap()
    }

    #[test]
    fn json_body_gets_content_type_and_templating() {
        let s = spec("method = \"post\"\npath = \"/invoices/{{id}}\"\njson = { customerId = \"{{id}}\", n = 3 }\n");
        let vars: Vars = [("id".to_string(), "abc".to_string())].into();
        let p = s.prepare(&"http://127.0.0.1:3000".parse().unwrap(), &vars, None).unwrap();
        assert_eq!(p.url.as_str(), "http://127.0.0.1:3000/invoices/abc");
        assert_eq!(p.method, reqwest::Method::POST);
        assert_eq!(p.headers, vec![("content-type".to_string(), "application/json".to_string())]);
        assert_eq!(String::from_utf8(p.body.unwrap()).unwrap(), r#"{"customerId":"abc","n":3}"#);
    }

    #[test]
    fn curl_never_contains_the_token() {
        let s = spec("method = \"POST\"\npath = \"/x\"\nbody = \"it's\"\n");
        let p = s.prepare(&"http://127.0.0.1:3000".parse().unwrap(), &Vars::new(), Some("eyJsecret".into())).unwrap();
        let c = p.curl();
        assert!(!c.contains("eyJsecret"));
        assert_eq!(
            c,
            "curl -i -X POST http://127.0.0.1:3000/x -H \"Authorization: Bearer $LABGRADE_TOKEN\" --data-raw 'it'\\''s'"
        );
    }

    #[test]
    fn padded_json_is_exact_valid_json() {
        for n in [16, 100, 71680] {
            let b = padded_json(n);
            assert_eq!(b.len(), n);
            assert!(serde_json::from_slice::<serde_json::Value>(&b).is_ok());
        }
    }

    #[test]
    fn token_choice_follows_lab_default_and_overrides() {
        assert!(spec("path = \"/\"").token_spec(true).is_some());
        assert!(spec("path = \"/\"").token_spec(false).is_none());
        assert!(spec("path = \"/\"\nauth = false").token_spec(true).is_none());
        let t = spec("path = \"/\"\nauth = { role = \"viewer\" }").token_spec(false).unwrap();
        assert_eq!(t.role, "viewer");
        assert_eq!(t.tenant, "tenant-a");
    }

    /// A one-connection server on loopback that writes `reply` (in pieces, `pause` apart)
    /// once it has read the request head, then closes.
    async fn serve(pieces: Vec<Vec<u8>>, pause: Duration) -> url::Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap()).parse().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                head.extend_from_slice(&buf[..n]);
            }
            for p in pieces {
                if s.write_all(&p).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        });
        url
    }

    async fn get(url: url::Url, timeout_ms: u64) -> Result<Response, String> {
        let s = RequestSpec { timeout_ms: Some(timeout_ms), ..Default::default() };
        s.prepare(&url, &Vars::new(), None).unwrap().send(&client()).await
    }

    #[tokio::test]
    async fn an_endless_body_is_cut_at_the_cap() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n".to_vec();
        let chunk = vec![b'a'; 1 << 20];
        let mut pieces = vec![head];
        pieces.extend(std::iter::repeat_n(chunk, 40));
        let r = get(serve(pieces, Duration::ZERO).await, 10_000).await.unwrap();
        assert!(r.truncated);
        assert_eq!(r.body.len(), BODY_CAP);
        let mut pieces = vec![b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n".to_vec()];
        pieces.extend(std::iter::repeat_n(vec![b'a'; 1 << 20], 40));
        let s = RequestSpec { timeout_ms: Some(10_000), ..Default::default() };
        let p = s.prepare(&serve(pieces, Duration::ZERO).await, &Vars::new(), None).unwrap();
        let r = p.send_capped(&client(), 64 << 10).await.unwrap();
        assert!(r.truncated);
        assert_eq!(r.body.len(), 64 << 10);
    }

    #[tokio::test]
    async fn a_dribbling_body_times_out_and_says_how_much_came() {
        let mut pieces = vec![b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n".to_vec()];
        pieces.extend((0..100).map(|_| b"a".to_vec()));
        let e = get(serve(pieces, Duration::from_millis(100)).await, 500).await.unwrap_err();
        assert!(e.contains("still arriving after 0.5 s") && e.contains(" of 100 bytes so far"), "{e}");
    }

    #[tokio::test]
    async fn a_body_cut_short_says_where() {
        let pieces = vec![b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789".to_vec()];
        let e = get(serve(pieces, Duration::ZERO).await, 2000).await.unwrap_err();
        assert!(e.contains("connection closed after 10 of 100 bytes of the body"), "{e}");
    }

    #[tokio::test]
    async fn garbage_silence_and_enormous_heads_are_named() {
        let e = get(serve(vec![b"\x16\x03\x01 not http\r\n\r\n".to_vec()], Duration::ZERO).await, 2000).await;
        assert!(e.unwrap_err().contains("not well-formed HTTP/1.1"));
        let e = get(serve(vec![vec![]], Duration::from_secs(5)).await, 300).await;
        assert_eq!(e.unwrap_err(), "no answer within 0.3 s");
        let mut big = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
        big.resize(big.len() + (1 << 20), b'a');
        big.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
        let e = get(serve(vec![big], Duration::ZERO).await, 2000).await.unwrap_err();
        assert!(e.contains("status line and headers are over 408 KiB"), "{e}");
        let e = get(serve(vec![], Duration::ZERO).await, 2000).await.unwrap_err();
        assert!(e.contains("connection closed before a response arrived"), "{e}");
    }
}
