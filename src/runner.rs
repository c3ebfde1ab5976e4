//! Runs one lab: start the service (or use `--url`), run each check in spec order (a check
//! that reads the whole run's output last), stop the service, score. Everything it learns
//! goes out as events.

use crate::checks::{CheckSpec, Ctx, DbHandle, Evidence, Needs, Outcome, Verdict};
use crate::config::Config;
use crate::db::provision::{self, Provision};
use crate::error::Error;
use crate::events::{CheckRecord, Event, LabReport, Reporter, StepRecord};
use crate::score;
use crate::service::{Service, StartError};
use crate::spec::Lab;
use crate::spec::lab::Step;
use crate::steps::{self, StepSpec};
use std::time::{Duration, Instant};

pub struct RunOptions {
    /// Grade a service that is already running here instead of starting one.
    pub url: Option<url::Url>,
    pub allow_remote: bool,
    pub pass_mark: f64,
    /// A lab that runs longer is stopped: every request has a timeout, but a service can
    /// make many of them run out.
    pub deadline: std::time::Duration,
    /// The run seed: every generated input (the lab's `[generate]` values, seeded rows,
    /// `{{uuid}}`) follows it, so `--seed` replays a run's requests exactly.
    pub seed: u64,
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
    // Every instance of the service the run starts keeps its output for the checks that judge
    // the whole run (`logs` with scope = "run").
    crate::service::RunOutputs::default().recording(run_recorded(lab, config, opts, reporter)).await
}

async fn run_recorded(
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
    let mut config = config.clone();
    let db = database(lab, &mut config, opts.url.is_some(), reporter).await?;
    let upstreams = if opts.url.is_some() { Vec::new() } else { start_upstreams(lab, &mut config, reporter).await? };
    let config = &config;
    let mut host = Host { service: None, not_ready: None, url_mode: opts.url.is_some() };
    let mut ctx = Ctx {
        lab,
        token: lab.token,
        files_of: lab.id.clone(),
        config,
        base_url: base_url.clone(),
        client: crate::request::client(),
        vars: Default::default(),
        secrets: Vec::new(),
        url_mode: opts.url.is_some(),
        db,
        service_pid: None,
        seeded: Default::default(),
        upstreams,
        service_output: None,
        seed: opts.seed,
    };
    crate::template::seed_uuids(opts.seed);
    for (name, g) in &lab.generate {
        ctx.vars.insert(name.clone(), g.value(opts.seed, name));
    }
    if let Some(s) = config.service_env("JWT_SECRET") {
        ctx.secrets.push(s);
    }
    // The database password is a secret whether or not a check ever connects.
    if let Some(p) = ctx.db.url.as_deref().and_then(crate::db::password_of) {
        ctx.secrets.push(p);
    }
    let mut records = Vec::new();
    let mut step_records = Vec::new();
    // After a step that did not succeed, checks that need the service or the database would
    // judge a state the lab did not set up; they end with this instead.
    let mut blocked: Option<Blocked> = None;
    let mut steps = lab.steps.iter().peekable();
    // A check that judges the whole run's output runs after every other check and step, so it
    // sees all of it and every token minted; its record keeps its place in the lab.
    let last = |i: usize| matches!(&lab.checks[i].spec, CheckSpec::Logs(s) if s.whole_run());
    let n = lab.checks.len();
    let order: Vec<usize> = (0..n).filter(|&i| !last(i)).chain((0..n).filter(|&i| last(i))).collect();
    let mut placed: Vec<usize> = Vec::new();
    for index in order {
        let check = &lab.checks[index];
        let at = if last(index) { usize::MAX } else { index };
        while let Some(step) = steps.next_if(|s| s.before <= at) {
            let rec = run_step(step, &mut host, &mut ctx, reporter).await?;
            if rec.outcome.verdict != Verdict::Pass && blocked.as_ref().is_none_or(|b| b.only.is_some()) {
                blocked = Some(Blocked::after(step, &rec));
            }
            step_records.push(rec);
        }
        reporter.on_event(&Event::CheckStarted { index, id: check.id.clone() });
        let t = Instant::now();
        let needs = check.spec.needs();
        let mut outcome: Outcome = match blocked.as_ref().and_then(|b| b.outcome_for(&check.id, needs)) {
            Some(b) => b,
            None => match host.prepare(needs, config, reporter).await? {
                Some(not_ready) => not_ready,
                None => {
                    ctx.token = check.token;
                    ctx.files_of = lab.files_of(check).to_string();
                    ctx.service_pid = host.service.as_ref().and_then(Service::pid);
                    ctx.service_output = host.service.as_ref().map(|s| s.output.clone());
                    check.spec.run(&mut ctx).await
                }
            },
        };
        outcome.evidence.extend(upstream_calls(&ctx.upstreams, t));
        // A failure about a learner's file points at it (line 1 unless the check knew better).
        if outcome.verdict == Verdict::Fail
            && !outcome.evidence.iter().any(|e| matches!(e, Evidence::At { .. }))
            && let Some(file) = check.spec.learner_file(config)
        {
            outcome.evidence.push(Evidence::At { file: config.in_repo(&file), line: 1, col: 1 });
        }
        outcome.redact(&ctx.secrets);
        let record = CheckRecord {
            id: check.id.clone(),
            kind: check.spec.kind().to_string(),
            criterion: check.criterion.clone(),
            blocking: check.blocking,
            hint: check.hint.clone(),
            doc: doc_link(lab, lab.files_of(check), &check.doc),
            location: check.location.clone(),
            outcome,
            duration: t.elapsed(),
        };
        let failed = record.outcome.verdict == Verdict::Fail;
        reporter.on_event(&Event::CheckFinished(Box::new(record.clone())));
        let pos = placed.iter().filter(|&&i| i < index).count();
        placed.insert(pos, index);
        records.insert(pos, record);
        if failed && needs == Needs::Service {
            host.settle().await;
        }
    }
    for step in steps {
        let rec = run_step(step, &mut host, &mut ctx, reporter).await?;
        step_records.push(rec);
    }
    host.stop(config, reporter).await;
    if let Some(db) = ctx.db.conn.take() {
        db.close().await;
    }
    for message in crate::db::provision::cleanup().await {
        reporter.on_event(&Event::Service { message });
    }

    let verdicts: Vec<_> = records.iter().map(|r| r.outcome.verdict).collect();
    let score = score::score_lab(lab, &verdicts, opts.pass_mark);
    let by_id: Vec<_> = records.iter().map(|r| (r.id.as_str(), r.outcome.verdict)).collect();
    let readiness = crate::readiness::summarize(&lab.readiness, &by_id);
    let report = LabReport {
        lab: lab.id.clone(),
        title: lab.title.clone(),
        score,
        checks: records,
        steps: step_records,
        duration: started.elapsed(),
        target: base_url.to_string(),
        spec_sha256: spec_hash(lab),
        readiness,
        seed: opts.seed,
    };
    reporter.on_event(&Event::LabFinished(Box::new(report.clone())));
    Ok(report)
}

/// SHA-256 of the lab's spec text, and of the specs it includes checks from (empty text
/// for one that cannot be read again).
pub fn spec_hash(lab: &Lab) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(lab.read_file("lab.toml").ok().flatten().unwrap_or_default().as_bytes());
    for inc in &lab.includes {
        h.update(lab.source.read(&format!("{}/lab.toml", inc.lab)).ok().flatten().unwrap_or_default().as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a step that did not succeed means for the checks after it.
struct Blocked {
    outcome: Outcome,
    /// Only these checks (the step's `needed_by`); None: every later check that needs the
    /// service or the database.
    only: Option<Vec<String>>,
}

impl Blocked {
    fn after(step: &Step, rec: &StepRecord) -> Blocked {
        let only = (!step.needed_by.is_empty()).then(|| step.needed_by.clone());
        let outcome = Outcome {
            verdict: rec.outcome.verdict,
            message: format!("not judged: step {} did not succeed ({})", rec.id, rec.outcome.message),
            evidence: vec![],
        };
        Blocked { outcome, only }
    }

    fn outcome_for(&self, check: &str, needs: Needs) -> Option<Outcome> {
        let hit = match &self.only {
            Some(ids) => ids.iter().any(|i| i == check),
            None => needs != Needs::Nothing,
        };
        hit.then(|| self.outcome.clone())
    }
}

/// Where this run's database comes from; a provisioned one is handed to the service
/// through `[database] env` (DATABASE_URL).
async fn database(
    lab: &Lab,
    config: &mut Config,
    url_mode: bool,
    reporter: &mut dyn Reporter,
) -> Result<DbHandle, Error> {
    let uses_db = lab.checks.iter().any(|c| c.spec.uses_database()) || lab.steps.iter().any(|s| s.spec.uses_database());
    let Some(d) = config.database.clone() else {
        return Ok(DbHandle { url: config.service_env("DATABASE_URL"), throwaway: false, conn: None });
    };
    if url_mode {
        return match d.provision {
            Provision::Url => Ok(DbHandle { url: d.url.clone(), throwaway: false, conn: None }),
            _ if uses_db => Err(Error::Usage(format!(
                "with --url your service already has its database, so labgrade cannot provision one \
                 ([database] provision = {:?}); set [database] url to the database your service uses",
                format!("{:?}", d.provision).to_lowercase()
            ))),
            _ => Ok(DbHandle::default()),
        };
    }
    let p = provision::provision(&d).await.map_err(|e| Error::Environment(e.message))?;
    reporter.on_event(&Event::Service { message: p.description.clone() });
    config.service.env.insert(d.env.clone(), p.url.clone());
    Ok(DbHandle { url: Some(p.url), throwaway: p.throwaway, conn: None })
}

/// Start a stand-in for every dependency an `upstream` step names, before the service
/// starts, and hand each one's URL to the service through its variable.
async fn start_upstreams(
    lab: &Lab,
    config: &mut Config,
    reporter: &mut dyn Reporter,
) -> Result<Vec<crate::upstream::Upstream>, Error> {
    let mut started: Vec<crate::upstream::Upstream> = Vec::new();
    for step in &lab.steps {
        let StepSpec::Upstream(s) = &step.spec else { continue };
        if started.iter().any(|u| u.env == s.env) {
            continue;
        }
        let up = crate::upstream::Upstream::start(&s.env, steps::upstream::initial_mode())
            .await
            .map_err(|e| Error::Environment(format!("cannot open a loopback port for the {} stand-in: {e}", s.env)))?;
        reporter.on_event(&Event::Service { message: format!("stand-in for {} listening at {}", s.env, up.url) });
        config.service.env.insert(s.env.clone(), up.url.clone());
        started.push(up);
    }
    Ok(started)
}

/// What the stand-ins saw while a check ran, as evidence.
fn upstream_calls(upstreams: &[crate::upstream::Upstream], since: Instant) -> Vec<Evidence> {
    use crate::upstream::End;
    upstreams
        .iter()
        .filter_map(|u| {
            let calls = u.calls_since(since);
            (!calls.is_empty()).then(|| Evidence::Upstream {
                env: u.env.clone(),
                calls: calls
                    .into_iter()
                    .map(|c| {
                        let (end, lasted) = match &c.ended {
                            Some((at, End::Answered(s))) => (format!("answered {s}"), *at - c.arrived),
                            Some((at, End::GaveUp)) => ("gave up".to_string(), *at - c.arrived),
                            None => ("open".to_string(), c.arrived.elapsed()),
                        };
                        crate::checks::UpstreamCall {
                            method: c.method,
                            path: c.path,
                            behaviour: c.mode,
                            arrived_ms: (c.arrived - since).as_millis() as u64,
                            end,
                            lasted_ms: Some(lasted.as_millis() as u64),
                        }
                    })
                    .collect(),
            })
        })
        .collect()
}

async fn run_step(
    step: &Step,
    host: &mut Host,
    ctx: &mut Ctx<'_>,
    reporter: &mut dyn Reporter,
) -> Result<StepRecord, Error> {
    let t = Instant::now();
    let config = ctx.config;
    let mut outcome = match &step.spec {
        StepSpec::Restart(_) => host.restart(config, reporter).await?,
        StepSpec::Upstream(s) => steps::upstream::run(s, ctx),
        _ => match host.prepare(Needs::Service, config, reporter).await? {
            Some(not_ready) => not_ready,
            None => match &step.spec {
                StepSpec::Seed(s) => steps::seed::run(&step.id, s, ctx).await,
                StepSpec::Sql(s) => steps::sql::run(s, ctx).await,
                StepSpec::Http(s) => steps::http::run(s, ctx).await,
                StepSpec::Restart(_) | StepSpec::Upstream(_) => unreachable!("handled above"),
            },
        },
    };
    outcome.redact(&ctx.secrets);
    let rec = StepRecord {
        id: step.id.clone(),
        kind: step.spec.kind().to_string(),
        location: step.location.clone(),
        outcome,
        duration: t.elapsed(),
    };
    reporter.on_event(&Event::StepFinished(Box::new(rec.clone())));
    Ok(rec)
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
    /// After a failed check, give a service that is going down a moment to be
    /// reaped: a crash closes its sockets just before the process can be waited for, and the
    /// next check should hear "the service exited", not "could not connect".
    async fn settle(&mut self) {
        let Some(service) = self.service.as_mut() else { return };
        let until = Instant::now() + Duration::from_millis(100);
        while service.try_exit().is_none() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

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
            Needs::Service if self.service.is_some() => {
                // A service that crashed mid-run: say so once, with its last words, instead
                // of "could not connect" on every later check.
                let Some(status) = self.service.as_mut().and_then(Service::try_exit) else { return Ok(None) };
                let tail = self.service.as_ref().map(|s| s.output.tail(20)).unwrap_or_default();
                let o = Outcome::fail(format!("the service exited ({status}) during the run, before this check"))
                    .with(Evidence::Output { label: "its last output".into(), lines: tail });
                if let Some(s) = self.service.take() {
                    s.stop(config.service.stop_grace).await;
                }
                self.not_ready = Some(o.clone());
                Ok(Some(o))
            }
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

    /// Stop the service and start it again (a `restart` step).
    async fn restart(&mut self, config: &Config, reporter: &mut dyn Reporter) -> Result<Outcome, Error> {
        if self.url_mode {
            return Ok(Outcome::skipped(
                "labgrade cannot restart a service it did not start (--url); grade without --url to judge what survives a restart",
            ));
        }
        if self.service.is_none() && self.not_ready.is_none() {
            return Ok(Outcome::error("restart before any check started the service: the lab spec is out of order"));
        }
        self.stop(config, reporter).await;
        self.not_ready = None;
        Ok(match self.prepare(Needs::Service, config, reporter).await? {
            Some(o) => Outcome {
                verdict: Verdict::Fail,
                message: format!("the service did not come back after a restart: {}", o.message),
                evidence: o.evidence,
            },
            None => Outcome::pass("stopped the service and started it again"),
        })
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
fn doc_link(lab: &Lab, folder: &str, doc: &str) -> String {
    if doc.starts_with("http://") || doc.starts_with("https://") {
        return doc.to_string();
    }
    match lab.source.dir() {
        Some(dir) => dir.join(folder).join(doc).display().to_string(),
        None => format!("labs/{folder}/{doc} (labgrade lab {folder} --readme)"),
    }
}
