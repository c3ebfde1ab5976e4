//! A stand-in dependency on a loopback port: the grader plays the learner's upstream (a
//! payment provider) and decides how it misbehaves — answer (after a delay, with a status)
//! or hang. Every call is recorded with when it arrived and when it ended, so a report can
//! say how long the service waited before it gave up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// What the stand-in does with each request.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Answer `status` with a JSON `body` after `delay`.
    Answer { status: u16, delay: Duration, body: String },
    /// Accept the request and never answer; wait for the caller to give up.
    Hang,
}

impl Mode {
    pub fn describe(&self) -> String {
        match self {
            Mode::Hang => "hangs (accepts requests and never answers)".into(),
            Mode::Answer { status, delay, .. } if delay.is_zero() => format!("answers {status} at once"),
            Mode::Answer { status, delay, .. } => format!("answers {status} after {} ms", delay.as_millis()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// The stand-in answered with this status.
    Answered(u16),
    /// The caller closed the connection before an answer.
    GaveUp,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub mode: String,
    pub arrived: Instant,
    pub ended: Option<(Instant, End)>,
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    calls: Vec<Call>,
}

/// A running stand-in; dropping it closes the port and every connection it holds.
pub struct Upstream {
    /// The environment variable the service reads the stand-in's URL from.
    pub env: String,
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

/// Requests bigger than this are cut off (a stand-in needs the request line, not the body).
const HEAD_CAP: usize = 64 * 1024;

impl Upstream {
    pub async fn start(env: &str, mode: Mode) -> std::io::Result<Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State { mode: Some(mode), calls: Vec::new() }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            // Connections live in the set, so aborting this task closes them all.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((sock, _)) => { conns.spawn(serve(sock, st.clone())); }
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Upstream { env: env.to_string(), url, state, task })
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.state).mode = Some(mode);
    }

    pub fn mode(&self) -> Mode {
        lock(&self.state).mode.clone().unwrap_or(Mode::Hang)
    }

    /// Calls that arrived at or after `since`.
    pub fn calls_since(&self, since: Instant) -> Vec<Call> {
        lock(&self.state).calls.iter().filter(|c| c.arrived >= since).cloned().collect()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(mut sock: TcpStream, state: Arc<Mutex<State>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    // The request head; a caller that sends nothing for 30 s is not worth waiting for.
    let read_head = async {
        loop {
            let n = sock.read(&mut buf).await.ok().filter(|n| *n > 0)?;
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > HEAD_CAP {
                return Some(());
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), read_head).await.ok().flatten().is_none() {
        return;
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("?").to_string(), parts.next().unwrap_or("?").to_string());
    let (index, mode) = {
        let mut s = lock(&state);
        let mode = s.mode.clone().unwrap_or(Mode::Hang);
        s.calls.push(Call { method, path, mode: mode.describe(), arrived: Instant::now(), ended: None });
        (s.calls.len() - 1, mode)
    };
    let end = |how: End| lock(&state).calls[index].ended = Some((Instant::now(), how));
    // Whatever else the caller sends (a body) is read and dropped; end of stream means it
    // gave up on us.
    let gone = async {
        let mut sink = [0u8; 4096];
        while matches!(sock.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    match mode {
        Mode::Hang => {
            gone.await;
            end(End::GaveUp);
        }
        Mode::Answer { status, delay, body } => {
            let gave_up = tokio::select! {
                _ = tokio::time::sleep(delay) => false,
                _ = gone => true,
            };
            if gave_up {
                end(End::GaveUp);
                return;
            }
            let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
            let response = format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(response.as_bytes()).await;
            let _ = sock.shutdown().await;
            end(End::Answered(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_then_hangs_and_sees_the_caller_give_up() {
        let up = Upstream::start(
            "PROVIDER",
            Mode::Answer { status: 500, delay: Duration::ZERO, body: "{\"error\":1}".into() },
        )
        .await
        .unwrap();
        let t0 = Instant::now();
        let client = reqwest::Client::new();
        let r = client.get(format!("{}/payments", up.url)).send().await.unwrap();
        assert_eq!(r.status(), 500);
        assert_eq!(r.text().await.unwrap(), "{\"error\":1}");

        up.set_mode(Mode::Hang);
        let e = client.get(format!("{}/payments", up.url)).timeout(Duration::from_millis(200)).send().await;
        assert!(e.unwrap_err().is_timeout());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let calls = up.calls_since(t0);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].path, "/payments");
        assert_eq!(calls[0].ended.as_ref().unwrap().1, End::Answered(500));
        let (at, how) = calls[1].ended.clone().expect("the stand-in saw the caller hang up");
        assert_eq!(how, End::GaveUp);
        let waited = at - calls[1].arrived;
        assert!(waited >= Duration::from_millis(150) && waited < Duration::from_secs(2), "{waited:?}");
    }
}
