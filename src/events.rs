//! What a run reports, as it happens. The runner emits these; reporters consume them and
//! nothing else.

use crate::checks::Outcome;
use crate::score::LabScore;
use crate::spec::Location;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Event {
    LabStarted {
        lab: String,
        title: String,
        checks: usize,
        target: String,
    },
    /// The service is being started / is ready / was stopped.
    Service {
        message: String,
    },
    CheckStarted {
        index: usize,
        id: String,
    },
    CheckFinished(Box<CheckRecord>),
    /// A setup step (seed, restart, setup SQL) ran; steps are not scored.
    StepFinished(Box<StepRecord>),
    LabFinished(Box<LabReport>),
    /// Every lab of the track ran (`labgrade grade`): where the track stands.
    TrackFinished(Box<TrackReport>),
    /// Ctrl-C or SIGTERM stopped the run: the lab that was running has no score, only the
    /// checks that finished.
    Interrupted,
    /// How far a long piece of work has come (seeding, a load window, a lab of `grade`, a
    /// fault of `lab verify`). Reporters that draw progress show it; no report holds it.
    Progress(Progress),
    /// The next lab runs only some of its checks (`check --only`, `--failed`, `watch
    /// --failed-first`); sent before its `LabStarted`. Its report is not a grade.
    Partial(Box<PartialRun>),
}

/// A run of some of a lab's checks, and why each one it added runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialRun {
    /// How the learner asked: `--only a,b`, `--failed`.
    pub asked: String,
    /// The checks asked for.
    pub requested: Vec<String>,
    /// Checks that run because an asked-for one needs them: (id, why).
    pub added: Vec<(String, String)>,
    /// The steps that run.
    pub steps: Vec<String>,
    /// Checks of the whole lab.
    pub of: usize,
}

/// What a piece of progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Rows,
    Requests,
    Labs,
    Faults,
}

/// One reading of a long piece of work.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub unit: Unit,
    /// What is under way: `seeding invoices`, `load on GET /healthz`, a lab id, a fault name.
    pub label: String,
    pub done: u64,
    pub total: Option<u64>,
    pub elapsed: Duration,
    /// A run of fixed length (a load window): its length, so what is left is known.
    pub window: Option<Duration>,
}

impl Progress {
    /// One line for a terminal or a log: `seeding invoices: 340,000 / 1,000,000 rows ·
    /// 52,310 rows/s · about 13 s left`. Pure.
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 { self.done as f64 / secs } else { 0.0 };
        match self.unit {
            Unit::Labs => format!("lab {} of {}: {}", self.done, self.total.unwrap_or(0), self.label),
            Unit::Faults => format!("fault {} of {}: {}", self.done, self.total.unwrap_or(0), self.label),
            Unit::Rows | Unit::Requests => {
                let (unit, per) = if self.unit == Unit::Rows { ("rows", "rows/s") } else { ("requests", "req/s") };
                let mut s = match self.total {
                    Some(t) => format!("{}: {} / {} {unit}", self.label, thousands(self.done), thousands(t)),
                    None => format!("{}: {} {unit}", self.label, thousands(self.done)),
                };
                if secs >= 0.2 {
                    s.push_str(&format!(" · {} {per}", thousands(rate.round() as u64)));
                }
                let left = match (self.window, self.total) {
                    (Some(w), _) => Some(w.saturating_sub(self.elapsed).as_secs_f64()),
                    (None, Some(t)) if rate > 0.0 && secs >= 1.0 && self.done < t => {
                        Some(t.saturating_sub(self.done) as f64 / rate)
                    }
                    _ => None,
                };
                if let Some(left) = left {
                    s.push_str(&format!(" · about {} left", seconds(left)));
                }
                s
            }
        }
    }
}

fn seconds(s: f64) -> String {
    if s >= 90.0 { format!("{:.0} min", s / 60.0) } else { format!("{:.0} s", s.ceil()) }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

tokio::task_local! {
    static PROGRESS: tokio::sync::mpsc::UnboundedSender<Progress>;
}

/// Report progress from inside a run (a step, a check, the load loop): it reaches the run's
/// reporters as [`Event::Progress`]. Outside a run that listens (`lab verify`'s quiet runs,
/// unit tests) it goes nowhere. Checks and steps never print; this is how they say how far
/// they are.
pub fn progress(p: Progress) {
    let _ = PROGRESS.try_with(|tx| tx.send(p));
}

/// Run `fut` with the progress it reports going to `tx`.
pub async fn with_progress<F: std::future::Future>(
    tx: tokio::sync::mpsc::UnboundedSender<Progress>,
    fut: F,
) -> F::Output {
    PROGRESS.scope(tx, fut).await
}

/// At most one reading every `every`: long loops call [`Throttle::due`] per unit of work.
pub struct Throttle {
    last: Option<std::time::Instant>,
    every: Duration,
}

impl Throttle {
    pub fn new(every: Duration) -> Throttle {
        Throttle { last: None, every }
    }

    pub fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self.last.is_some_and(|l| now.duration_since(l) < self.every) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// The track after a `grade` run, from that run's labs alone.
#[derive(Debug, Clone)]
pub struct TrackReport {
    pub track: crate::spec::Track,
    /// This run's attempts, one per lab.
    pub progress: crate::progress::Progress,
    pub score: crate::score::TrackScore,
}

/// Everything known about one check once it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckRecord {
    pub id: String,
    pub kind: String,
    pub criterion: String,
    pub blocking: bool,
    pub hint: String,
    /// The lab README section to read, as a link.
    pub doc: String,
    pub location: Location,
    pub outcome: Outcome,
    #[serde(serialize_with = "ms")]
    pub duration: Duration,
}

/// One setup step once it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRecord {
    pub id: String,
    pub kind: String,
    pub location: Location,
    pub outcome: Outcome,
    #[serde(serialize_with = "ms")]
    pub duration: Duration,
}

/// A finished lab: its score and every check record.
#[derive(Debug, Clone)]
pub struct LabReport {
    pub lab: String,
    pub title: String,
    pub score: LabScore,
    pub checks: Vec<CheckRecord>,
    pub steps: Vec<StepRecord>,
    pub duration: Duration,
    pub target: String,
    /// SHA-256 of the lab spec that graded it (hex), so a signed report names its rules.
    pub spec_sha256: String,
    /// The readiness summary, for a lab that declares one (the capstone).
    pub readiness: Vec<crate::readiness::ReadinessLine>,
    /// The run seed its generated inputs followed (`--seed` replays them).
    pub seed: u64,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// A consumer of events (human terminal view, JSON file, …).
pub trait Reporter {
    fn on_event(&mut self, event: &Event);
    /// Called once after the last event; write files, flush.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(unit: Unit, done: u64, total: Option<u64>, secs: u64, window: Option<u64>) -> Progress {
        Progress {
            unit,
            label: "x".into(),
            done,
            total,
            elapsed: Duration::from_secs(secs),
            window: window.map(Duration::from_secs),
        }
    }

    #[test]
    fn progress_lines_say_rate_and_what_is_left() {
        assert_eq!(
            p(Unit::Rows, 340_000, Some(1_000_000), 10, None).line(),
            "x: 340,000 / 1,000,000 rows · 34,000 rows/s · about 20 s left"
        );
        assert_eq!(
            p(Unit::Requests, 2_000, None, 4, Some(10)).line(),
            "x: 2,000 requests · 500 req/s · about 6 s left"
        );
        assert_eq!(p(Unit::Rows, 0, Some(10), 0, None).line(), "x: 0 / 10 rows");
        assert_eq!(p(Unit::Rows, 10, Some(10), 2, None).line(), "x: 10 / 10 rows · 5 rows/s");
        assert_eq!(p(Unit::Labs, 3, Some(10), 0, None).line(), "lab 3 of 10: x");
        assert_eq!(p(Unit::Faults, 2, Some(7), 0, None).line(), "fault 2 of 7: x");
    }

    #[tokio::test]
    async fn progress_reaches_the_run_that_listens_and_nowhere_else() {
        progress(p(Unit::Rows, 1, None, 0, None));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        with_progress(tx, async { progress(p(Unit::Rows, 2, None, 0, None)) }).await;
        assert_eq!(rx.recv().await.map(|p| p.done), Some(2));
        assert!(rx.try_recv().is_err());
    }
}
