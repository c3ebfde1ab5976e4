//! Grading across labs: one lab under signal handling (`check`), every lab of the track in
//! one run (`grade`), the progress store they feed, and `status`, which reads it.

use crate::config::Config;
use crate::error::{Error, exit};
use crate::events::{Event, LabReport, Reporter, TrackReport};
use crate::progress::{Attempt, Progress, Store};
use crate::runner::{self, RunOptions};
use crate::spec::{Catalog, Lab, LabEntry};
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
/// and whatever it provisioned is dropped either way.
pub async fn run_one(
    lab: &Lab,
    config: &Config,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<LabReport, Error> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Environment(format!("cannot watch SIGTERM: {e}")))?;
    let deadline = Error::Deadline { lab: lab.id.clone(), secs: opts.deadline.as_secs() };
    let result = tokio::select! {
        r = runner::run_lab(lab, config, opts, reporter) => r,
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        _ = term.recv() => Err(Error::Interrupted),
        _ = tokio::time::sleep(opts.deadline) => Err(deadline),
    };
    if matches!(result, Err(Error::Interrupted | Error::Deadline { .. })) {
        reporter.on_event(&Event::Interrupted);
    }
    // The run future is gone (finished, failed or interrupted, its service already killed):
    // drop what it provisioned. A no-op after a normal end, where the runner did it.
    for line in crate::db::provision::cleanup().await {
        eprintln!("labgrade: {line}");
    }
    result
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
    }
}

/// Record an attempt in the learner's repo. A store that cannot be written costs the
/// record, not the grade: it is reported on stderr.
pub fn record(config: &Config, report: &LabReport) {
    let store = Store::in_repo(&config.repo);
    match store.record(attempt(report)) {
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
    for lab in &labs {
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
    print!("{}", crate::report::status::render(&catalog.track, &progress, color));
    Ok(if progress.track(&catalog.track).eligible { exit::PASSED } else { exit::NOT_PASSED })
}
