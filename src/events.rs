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
