//! Runs one lab: start the service (or use `--url`), run each check in spec order, stop the
//! service, score. Everything it learns goes out as events.

use crate::checks::{Ctx, Evidence, Needs, Outcome};
use crate::config::Config;
use crate::error::Error;
use crate::events::{CheckRecord, Event, LabReport, Reporter};
use crate::score;
use crate::service::{Service, StartError};
use crate::spec::Lab;
use std::time::Instant;

pub struct RunOptions {
    /// Grade a service that is already running here instead of starting one.
    pub url: Option<url::Url>,
    pub allow_remote: bool,
    pub pass_mark: f64,
}

/// Refuse non-loopback targets unless allowed: a grader sends load and attack-shaped
/// requests, which must never reach someone else's machine by mistake.
pub async fn check_target(url: &url::Url, allow_remote: bool) -> Result<(), Error> {
    if allow_remote {
        return Ok(());
    }
    let host = url.host_str().unwrap_or("").trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(a) => a.collect(),
        Err(e) => return Err(Error::Environment(format!("cannot resolve {host}: {e}"))),
    };
    if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(Error::Usage(format!(
            "{url} is not a loopback address ({}); labgrade only grades services on this machine unless you pass --allow-remote",
            addrs.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

pub async fn run_lab(
    lab: &Lab,
    config: &Config,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<LabReport, Error> {
    let started = Instant::now();
    let base_url = opts.url.clone().unwrap_or_else(|| config.service.base_url.clone());
    check_target(&base_url, opts.allow_remote).await?;
    reporter.on_event(&Event::LabStarted {
        lab: lab.id.clone(),
        title: lab.title.clone(),
        checks: lab.checks.len(),
        target: base_url.to_string(),
    });

    if opts.url.is_some() {
        reporter.on_event(&Event::Service { message: format!("grading the service already running at {base_url}") });
    }
    let mut host = Host { service: None, not_ready: None, url_mode: opts.url.is_some() };
    let mut ctx = Ctx {
        lab,
        config,
        base_url: base_url.clone(),
        client: crate::request::client(),
        vars: Default::default(),
        secrets: Vec::new(),
        url_mode: opts.url.is_some(),
    };
    if let Some(s) = config.service_env("JWT_SECRET") {
        ctx.secrets.push(s);
    }
    let mut records = Vec::new();
    for (index, check) in lab.checks.iter().enumerate() {
        reporter.on_event(&Event::CheckStarted { index, id: check.id.clone() });
        let t = Instant::now();
        let mut outcome: Outcome = match host.prepare(check.spec.needs(), config, reporter).await? {
            Some(blocked) => blocked,
            None => check.spec.run(&mut ctx).await,
        };
        outcome.redact(&ctx.secrets);
        let record = CheckRecord {
            id: check.id.clone(),
            kind: check.spec.kind().to_string(),
            criterion: check.criterion.clone(),
            required: check.required,
            hint: check.hint.clone(),
            doc: doc_link(lab, &check.doc),
            location: check.location.clone(),
            outcome,
            duration: t.elapsed(),
        };
        reporter.on_event(&Event::CheckFinished(Box::new(record.clone())));
        records.push(record);
    }
    host.stop(config, reporter).await;

    let verdicts: Vec<_> = records.iter().map(|r| r.outcome.verdict).collect();
    let score = score::score_lab(lab, &verdicts, opts.pass_mark);
    let report = LabReport {
        lab: lab.id.clone(),
        title: lab.title.clone(),
        score,
        checks: records,
        duration: started.elapsed(),
        target: base_url.to_string(),
    };
    reporter.on_event(&Event::LabFinished(Box::new(report.clone())));
    Ok(report)
}

/// The shared service instance: started when a check needs it, stopped when a check needs
/// the port to itself (a `startup` check starts its own instances).
struct Host {
    service: Option<Service>,
    /// Why the service did not become ready; later checks that need it fail with this.
    not_ready: Option<Outcome>,
    url_mode: bool,
}

impl Host {
    /// Get the service into the state a check needs. `Some(outcome)` when the check cannot
    /// run because the service would not start.
    async fn prepare(
        &mut self,
        needs: Needs,
        config: &Config,
        reporter: &mut dyn Reporter,
    ) -> Result<Option<Outcome>, Error> {
        if self.url_mode {
            return Ok(None);
        }
        match needs {
            Needs::Nothing => Ok(None),
            Needs::Exclusive => {
                self.stop(config, reporter).await;
                Ok(None)
            }
            Needs::Service if self.service.is_some() => Ok(None),
            Needs::Service => {
                if let Some(o) = &self.not_ready {
                    return Ok(Some(o.clone()));
                }
                let cmd = config.service.start.clone().unwrap_or_default();
                reporter
                    .on_event(&Event::Service { message: format!("starting `{cmd}` in {}", config.repo.display()) });
                let t = Instant::now();
                match Service::start(config, &[]).await {
                    Ok(s) => {
                        reporter.on_event(&Event::Service {
                            message: format!(
                                "ready at {}{} after {:.1} s",
                                config.service.base_url.as_str().trim_end_matches('/'),
                                config.service.ready,
                                t.elapsed().as_secs_f64()
                            ),
                        });
                        self.service = Some(s);
                        Ok(None)
                    }
                    Err(StartError::NotReady { message, tail }) => {
                        let o = Outcome::fail(message)
                            .with(Evidence::Output { label: "service output".into(), lines: tail });
                        self.not_ready = Some(o.clone());
                        Ok(Some(o))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    async fn stop(&mut self, config: &Config, reporter: &mut dyn Reporter) {
        let Some(s) = self.service.take() else { return };
        let report = s.stop(config.service.stop_grace).await;
        let how = match (report.exit, report.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "unknown status".into(),
        };
        let mut msg = format!("stopped the service ({how}) in {:.1} s", report.took.as_secs_f64());
        if report.killed {
            msg.push_str(&format!("; it ignored SIGTERM for {} s and was killed", config.service.stop_grace.as_secs()));
        }
        if report.stray_killed > 0 {
            msg.push_str(&format!("; killed {} leftover process(es) it had started", report.stray_killed));
        }
        reporter.on_event(&Event::Service { message: msg });
    }
}

/// `README.md#errors` in a lab's spec → where the learner can read it.
fn doc_link(lab: &Lab, doc: &str) -> String {
    if doc.starts_with("http://") || doc.starts_with("https://") {
        return doc.to_string();
    }
    match lab.source.dir() {
        Some(dir) => dir.join(&lab.id).join(doc).display().to_string(),
        None => format!("labs/{}/{doc} (labgrade lab {} --readme)", lab.id, lab.id),
    }
}
