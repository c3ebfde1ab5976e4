//! Grading across labs: one lab under signal handling (`check`), every lab of the track in
//! one run (`grade`), the progress store they feed, and `status`, which reads it.

use crate::checks::Verdict;
use crate::config::Config;
use crate::error::{Error, exit};
use crate::events::{Event, LabReport, Reporter, TrackReport};
use crate::progress::{Attempt, Progress, Store};
use crate::runner::{self, RunOptions};
use crate::spec::{Catalog, Lab, LabEntry};
use std::cell::RefCell;
use std::io::IsTerminal;

/// A written lab of the catalog, or a usage error for one that is not written yet.
pub fn written(catalog: &Catalog, id: &str) -> Result<Lab, Error> {
    match catalog.load(id)? {
        LabEntry::Written(l) => Ok(*l),
        LabEntry::NotWritten => {
            Err(Error::Usage(format!("lab {id} is not written yet; `labgrade labs` shows which labs can be graded")))
        }
    }
}

/// Run one lab; Ctrl-C or SIGTERM drops the run (and with it the service's process tree),
/// and whatever it provisioned is dropped either way. What the run's steps and checks say
/// about their progress reaches `reporter` as [`Event::Progress`] while they run.
pub async fn run_one(
    lab: &Lab,
    config: &Config,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<LabReport, Error> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Environment(format!("cannot watch SIGTERM: {e}")))?;
    let deadline = Error::Deadline { lab: lab.id.clone(), secs: opts.deadline.as_secs() };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The run and the progress it reports take turns with the reporter, in this one task.
    let shared = RefCell::new(reporter);
    let mut through = Through(&shared);
    let mut run = Box::pin(crate::events::with_progress(tx, runner::run_lab(lab, config, opts, &mut through)));
    let ctrl_c = tokio::signal::ctrl_c();
    let sleep = tokio::time::sleep(opts.deadline);
    tokio::pin!(ctrl_c, sleep);
    let result = loop {
        tokio::select! {
            r = &mut run => break r,
            Some(p) = rx.recv() => shared.borrow_mut().on_event(&Event::Progress(p)),
            _ = &mut ctrl_c => break Err(Error::Interrupted),
            _ = term.recv() => break Err(Error::Interrupted),
            _ = &mut sleep => break Err(deadline),
        }
    };
    // The run is gone (finished, failed or interrupted, its service already killed).
    drop(run);
    let reporter = shared.into_inner();
    if matches!(result, Err(Error::Interrupted | Error::Deadline { .. })) {
        reporter.on_event(&Event::Interrupted);
    }
    // Drop what it provisioned. A no-op after a normal end, where the runner did it.
    for line in crate::db::provision::cleanup().await {
        eprintln!("labgrade: {line}");
    }
    result
}

/// A reporter shared between the run and its progress.
struct Through<'a, 'r>(&'a RefCell<&'r mut dyn Reporter>);

impl Reporter for Through<'_, '_> {
    fn on_event(&mut self, event: &Event) {
        self.0.borrow_mut().on_event(event);
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().finish()
    }
}

/// The attempt a lab report stands for in the progress store.
pub fn attempt(report: &LabReport) -> Attempt {
    Attempt {
        lab: report.lab.clone(),
        at: crate::progress::now_rfc3339(),
        score: report.score.score,
        passed: report.score.passed,
        grader_version: env!("CARGO_PKG_VERSION").to_string(),
        spec_sha256: report.spec_sha256.clone(),
        duration_ms: report.duration.as_millis() as u64,
        failed_blocking: report.score.failed_blocking.clone(),
        not_passed: Some(not_passed(report)),
        partial: false,
        ran: Vec::new(),
    }
}

fn not_passed(report: &LabReport) -> Vec<String> {
    report.checks.iter().filter(|c| c.outcome.verdict != Verdict::Pass).map(|c| c.id.clone()).collect()
}

/// The record of a partial run: which checks ran and which of them did not pass; no score,
/// so it never counts as an attempt.
pub fn partial_attempt(report: &LabReport) -> Attempt {
    Attempt {
        score: 0.0,
        passed: false,
        failed_blocking: Vec::new(),
        partial: true,
        ran: report.checks.iter().map(|c| c.id.clone()).collect(),
        ..attempt(report)
    }
}

/// Record an attempt in the learner's repo. A store that cannot be written costs the
/// record, not the grade: it is reported on stderr.
pub fn record(config: &Config, report: &LabReport) {
    store_attempt(config, attempt(report));
}

/// Record a partial run, marked partial.
pub fn record_partial(config: &Config, report: &LabReport) {
    store_attempt(config, partial_attempt(report));
}

fn store_attempt(config: &Config, attempt: Attempt) {
    let store = Store::in_repo(&config.repo);
    match store.record(attempt) {
        Ok(None) => {}
        Ok(Some(aside)) => eprintln!(
            "labgrade: {} could not be read ({}); it was kept as {} and a new one started",
            aside.file.display(),
            aside.reason,
            aside.moved_to.display()
        ),
        Err(e) => eprintln!("labgrade: could not record this attempt in {}: {e}", store.path().display()),
    }
}

/// `labgrade grade`: every lab in track order, each on a fresh database and service start
/// (a lab's seeds must not leak into the next one's counts), then the track's standing
/// from this run alone. Exit 0 only when the certificate is eligible.
pub async fn grade(
    catalog: &Catalog,
    config: &Config,
    opts: &RunOptions,
    record_attempts: bool,
    reporter: &mut dyn Reporter,
) -> Result<i32, Error> {
    let labs: Vec<Lab> = catalog.track.labs.iter().map(|l| written(catalog, &l.id)).collect::<Result<_, _>>()?;
    let mut progress = Progress { version: 1, attempts: Vec::new() };
    let started = std::time::Instant::now();
    for (i, lab) in labs.iter().enumerate() {
        reporter.on_event(&Event::Progress(crate::events::Progress {
            unit: crate::events::Unit::Labs,
            label: lab.id.clone(),
            done: i as u64 + 1,
            total: Some(labs.len() as u64),
            elapsed: started.elapsed(),
            window: None,
        }));
        let report = run_one(lab, config, opts, reporter).await?;
        if record_attempts {
            record(config, &report);
        }
        progress.attempts.push(attempt(&report));
    }
    let score = progress.track(&catalog.track);
    let eligible = score.eligible;
    reporter.on_event(&Event::TrackFinished(Box::new(TrackReport { track: catalog.track.clone(), progress, score })));
    Ok(if eligible { exit::PASSED } else { exit::NOT_PASSED })
}

/// `labgrade status`: the course page from the progress store.
pub fn status(catalog: &Catalog, config: &Config) -> Result<i32, Error> {
    let store = Store::in_repo(&config.repo);
    let (progress, aside) =
        store.load().map_err(|e| Error::Environment(format!("cannot read {}: {e}", store.path().display())))?;
    if let Some(a) = aside {
        eprintln!(
            "labgrade: {} could not be read ({}); it was kept as {}",
            a.file.display(),
            a.reason,
            a.moved_to.display()
        );
    }
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal();
    let stale = stale_labs(catalog, &progress);
    print!("{}", crate::report::status::render_marked(&catalog.track, &progress, &stale, color));
    Ok(if progress.track(&catalog.track).eligible { exit::PASSED } else { exit::NOT_PASSED })
}

/// Labs whose best attempt was graded under a lab spec that has changed since (its stored
/// spec hash is not the spec's hash now): that score was earned against other rules.
pub fn stale_labs(catalog: &Catalog, progress: &Progress) -> std::collections::BTreeSet<String> {
    catalog
        .track
        .labs
        .iter()
        .filter_map(|l| {
            let best = progress.best_attempt(&l.id)?;
            if best.spec_sha256.is_empty() {
                return None;
            }
            let LabEntry::Written(lab) = catalog.load(&l.id).ok()? else { return None };
            (runner::spec_hash(&lab) != best.spec_sha256).then(|| l.id.clone())
        })
        .collect()
}
