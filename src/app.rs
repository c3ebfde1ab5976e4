//! The commands, wired together: parse → load → run → report → exit code.

use crate::cli::{CheckArgs, Cli, Command, Format, LoadArgs, RunArgs};
use crate::config::{self, Config};
use crate::error::{Error, exit};
use crate::events::Reporter;
use crate::report::{Multi, human::HumanReporter, json::JsonReporter};
use crate::runner::{self, RunOptions};
use crate::spec::{Catalog, LabEntry, LabSource};
use std::io::{IsTerminal, Write};

pub fn main(cli: Cli) -> i32 {
    crate::procs::become_subreaper();
    // Two workers, but never more than the cores this process may run on (taskset, cgroup
    // cpusets): two workers sharing one core only add context switches to every request.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 2));
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labgrade: error: cannot start the async runtime: {e}");
            return 2;
        }
    };
    let result = rt.block_on(run(cli));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("labgrade: error: {e}");
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<i32, Error> {
    let source = match &cli.labs {
        Some(dir) => LabSource::Dir(dir.clone()),
        None => LabSource::Embedded,
    };
    match cli.command {
        Command::Check(args) => check(source, args).await,
        Command::Watch(args) => crate::watch::watch(source, args).await,
        Command::Doctor(args) => crate::doctor::doctor(source, args).await,
        Command::Grade(args) => grade(source, args).await,
        Command::Status { config } => {
            let catalog = Catalog::open(source)?;
            let cfg = Config::load(&Config::locate(config.path.as_deref())?)?;
            crate::grade::status(&catalog, &cfg)
        }
        Command::Labs => labs(source),
        Command::Lab { author: Some(c @ crate::authoring::LabCommand::Verify { .. }), .. } => {
            crate::authoring::verify_command(c, source).await
        }
        Command::Lab { author: Some(c), .. } => crate::authoring::run(c, cli.labs.as_deref()),
        Command::Lab { lab, .. } => readme(source, &lab.unwrap_or_default()),
        Command::Completions { shell } => Ok(crate::authoring::completions(shell)),
        Command::Man => crate::authoring::man(),
        Command::Init { path, force } => init(path, force),
        Command::Load(args) => load(args).await,
        Command::VerifyReport { file } => verify_report(&file),
        Command::Roster { paths, csv, markdown } => roster(source, &paths, csv, markdown),
        Command::Token { config, role, tenant, expires_in, attack } => {
            let cfg = Config::load(&Config::locate(config.path.as_deref())?)?;
            let secret = cfg.service_env("JWT_SECRET").ok_or_else(|| {
                Error::Usage("JWT_SECRET is set neither in [service.env] nor in the environment".into())
            })?;
            let spec = crate::token::TokenSpec { role, tenant, expires_in, attack, ..Default::default() };
            let t = crate::token::mint(&secret, &spec).map_err(Error::Environment)?;
            println!("{t}");
            Ok(0)
        }
    }
}

async fn check(source: LabSource, args: CheckArgs) -> Result<i32, Error> {
    let catalog = Catalog::open(source)?;
    let entry = catalog.resolve(&args.lab)?;
    let lab = crate::grade::written(&catalog, &entry.id)?;
    let (config, opts) = run_setup(&catalog, &args.run)?;
    let mut reporter = Multi(reporters(&args.run)?);
    let partial = if !args.only.is_empty() {
        let wanted = crate::select::resolve(&lab, &args.only).map_err(Error::Usage)?;
        Some(crate::select::partial(&lab, &wanted, format!("--only {}", args.only.join(","))))
    } else if args.failed {
        match failed_checks(&config, &lab)? {
            Some(wanted) => Some(crate::select::partial(&lab, &wanted, "--failed".into())),
            None => return Ok(exit::PASSED),
        }
    } else {
        None
    };
    let (lab, partial) = match partial {
        Some((cut, run)) => {
            reporter.on_event(&crate::events::Event::Partial(Box::new(run)));
            (cut, true)
        }
        None => (lab, false),
    };
    let report = match crate::grade::run_one(&lab, &config, &opts, &mut reporter).await {
        Ok(r) => r,
        Err(e) => {
            // An interrupted run still writes what it has, marked interrupted.
            if matches!(e, Error::Interrupted | Error::Deadline { .. }) {
                let _ = reporter.finish();
            }
            return Err(e);
        }
    };
    match (args.run.no_record, partial) {
        (true, _) => {}
        (false, true) => crate::grade::record_partial(&config, &report),
        (false, false) => crate::grade::record(&config, &report),
    }
    reporter.finish().map_err(|e| Error::Environment(format!("cannot write the report: {e}")))?;
    // A partial run passes when every check it ran passed; it is no grade of the lab.
    let passed = if partial {
        report.checks.iter().all(|c| c.outcome.verdict == crate::checks::Verdict::Pass)
    } else {
        report.score.passed
    };
    Ok(if passed { exit::PASSED } else { exit::NOT_PASSED })
}

/// `--failed`: the checks of `lab` that did not pass in its last recorded run, as indexes;
/// None (after saying so) when nothing failed.
fn failed_checks(config: &Config, lab: &crate::spec::Lab) -> Result<Option<Vec<usize>>, Error> {
    let store = crate::progress::Store::in_repo(&config.repo);
    let (progress, _) =
        store.load().map_err(|e| Error::Environment(format!("cannot read {}: {e}", store.path().display())))?;
    let number = lab.id.split_once('-').map_or(lab.id.as_str(), |(n, _)| n);
    let failing = progress.failing(&lab.id).map_err(|why| {
        Error::Usage(format!("--failed: {why} in {}; run `labgrade check {number}` first", store.path().display()))
    })?;
    let known: Vec<usize> = failing.iter().filter_map(|id| lab.checks.iter().position(|c| &c.id == id)).collect();
    let gone: Vec<&String> = failing.iter().filter(|id| !lab.checks.iter().any(|c| &c.id == *id)).collect();
    if !gone.is_empty() {
        eprintln!(
            "labgrade: lab {} no longer has check(s) {}; they are left out",
            lab.id,
            gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if known.is_empty() {
        eprintln!(
            "labgrade: every check of lab {} passed in its last recorded run; nothing to re-run (`labgrade check {number}` grades the whole lab)",
            lab.id
        );
        return Ok(None);
    }
    Ok(Some(known))
}

async fn grade(source: LabSource, args: RunArgs) -> Result<i32, Error> {
    let catalog = Catalog::open(source)?;
    let (config, opts) = run_setup(&catalog, &args)?;
    let mut reporter = Multi(reporters(&args)?);
    let code = match crate::grade::grade(&catalog, &config, &opts, !args.no_record, &mut reporter).await {
        Ok(c) => c,
        Err(e) => {
            if matches!(e, Error::Interrupted | Error::Deadline { .. }) {
                let _ = reporter.finish();
            }
            return Err(e);
        }
    };
    reporter.finish().map_err(|e| Error::Environment(format!("cannot write the report: {e}")))?;
    Ok(code)
}

/// The learner's config and the run options `check` and `grade` share.
fn run_setup(catalog: &Catalog, args: &RunArgs) -> Result<(Config, RunOptions), Error> {
    let config = Config::load(&Config::locate(args.config.path.as_deref())?)?;
    let opts = RunOptions {
        url: args.url.clone(),
        allow_remote: args.allow_remote,
        pass_mark: catalog.track.pass_mark,
        deadline: std::time::Duration::from_secs(args.deadline_secs),
        seed: args.seed.unwrap_or_else(crate::template::fresh_seed),
    };
    Ok((config, opts))
}

fn verify_report(file: &std::path::Path) -> Result<i32, Error> {
    let key = crate::signing::key_from_env().ok_or_else(|| {
        Error::Usage(format!("set {} to the key the reports were signed with", crate::signing::KEY_ENV))
    })?;
    let text =
        std::fs::read_to_string(file).map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{} is not JSON: {e}", file.display())))?;
    let results = crate::signing::verify_document(&doc, &key);
    let labs: Vec<String> = match &doc {
        serde_json::Value::Array(a) => a.iter().map(|r| r["lab"].as_str().unwrap_or("?").to_string()).collect(),
        serde_json::Value::Object(o) if o.get("labs").is_some_and(serde_json::Value::is_array) => {
            o["labs"].as_array().into_iter().flatten().map(|r| r["lab"].as_str().unwrap_or("?").to_string()).collect()
        }
        one => vec![one["lab"].as_str().unwrap_or("?").to_string()],
    };
    let mut genuine = true;
    for (lab, r) in labs.iter().zip(&results) {
        match r {
            Ok(()) => println!("{lab}: genuine — signed with this key and unmodified"),
            Err(e) => {
                genuine = false;
                println!("{lab}: NOT genuine — {e}");
            }
        }
    }
    Ok(if genuine && !results.is_empty() { 0 } else { 1 })
}

fn roster(
    source: LabSource,
    paths: &[std::path::PathBuf],
    csv: Option<std::path::PathBuf>,
    markdown: Option<std::path::PathBuf>,
) -> Result<i32, Error> {
    let catalog = Catalog::open(source)?;
    let key = crate::signing::key_from_env();
    let book =
        crate::roster::collect(paths, &catalog.track, key.as_deref()).map_err(|e| Error::Usage(e.to_string()))?;
    let write = |path: &std::path::Path, text: String| {
        crate::report::json::write_atomic(path, text.as_bytes())
            .map_err(|e| Error::Environment(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &csv {
        write(path, crate::roster::csv(&book))?;
    }
    match &markdown {
        Some(path) => write(path, crate::roster::markdown(&book))?,
        None if csv.is_none() => print!("{}", crate::roster::markdown(&book)),
        None => {}
    }
    if key.is_none() {
        eprintln!(
            "labgrade: {} is not set, so no report could be verified; every report is flagged unverified",
            crate::signing::KEY_ENV
        );
    }
    Ok(0)
}

/// `-o` values: `FORMAT=FILE`, or a bare FILE for the one file format (json, junit,
/// github) `formats` selects that no `FORMAT=FILE` names — json when it selects none. A
/// bare FILE that could be more than one of them is a usage mistake that shows the form.
/// Pure.
pub fn parse_outputs(formats: &[Format], outputs: &[String]) -> Result<Vec<(Format, std::path::PathBuf)>, Error> {
    let mut out: Vec<(Format, std::path::PathBuf)> = Vec::new();
    let mut bare: Vec<&str> = Vec::new();
    for o in outputs {
        let (format, file) = match o.split_once('=') {
            Some((f, file)) if !f.contains('/') && !f.contains('.') => {
                let format = <Format as clap::ValueEnum>::from_str(f, true).map_err(|_| {
                    Error::Usage(format!("-o {o}: {f:?} is not a format; expected json=, junit=, github= or human="))
                })?;
                (format, file)
            }
            _ => {
                bare.push(o.as_str());
                continue;
            }
        };
        if file.is_empty() {
            return Err(Error::Usage(format!("-o {o}: expected a file after the =")));
        }
        if out.iter().any(|(f, _)| *f == format) {
            return Err(Error::Usage(format!("-o names a second file for {format:?}; give each format one file")));
        }
        out.push((format, file.into()));
    }
    let name = |f: Format| format!("{f:?}").to_lowercase();
    let selected: Vec<Format> = formats.iter().copied().filter(|f| *f != Format::Human).fold(Vec::new(), |mut v, f| {
        if !v.contains(&f) {
            v.push(f);
        }
        v
    });
    let open: Vec<Format> = selected.iter().copied().filter(|f| !out.iter().any(|(x, _)| x == f)).collect();
    for file in bare {
        let format = match (selected.as_slice(), open.as_slice()) {
            ([], _) => Format::Json,
            (_, [one]) => *one,
            (_, []) => {
                return Err(Error::Usage(format!(
                    "-o {file}: every report --format selects already has a file; give each format one file (-o FORMAT=FILE)"
                )));
            }
            _ => {
                let form: Vec<String> = open.iter().map(|f| format!("-o {}={file}", name(*f))).collect();
                return Err(Error::Usage(format!(
                    "-o {file} is ambiguous: --format selects {}, so say which report goes to {file}: {}",
                    selected.iter().map(|f| name(*f)).collect::<Vec<_>>().join(", "),
                    form.join(" or ")
                )));
            }
        };
        if out.iter().any(|(f, _)| *f == format) {
            return Err(Error::Usage(format!(
                "-o {file}: the {} report already has a file; give each format one file (-o FORMAT=FILE)",
                name(format)
            )));
        }
        out.push((format, file.into()));
    }
    Ok(out)
}

/// One reporter per format. Human goes to the terminal unless another report takes stdout;
/// a format with an `-o` file writes there (a format named only by `-o` is on too).
fn reporters(args: &RunArgs) -> Result<Vec<Box<dyn Reporter>>, Error> {
    let (formats, outputs) = (&args.formats, &args.outputs);
    let files = parse_outputs(formats, outputs)?;
    let file_of = |f: Format| files.iter().find(|(x, _)| *x == f).map(|(_, p)| p.clone());
    let mut on: Vec<Format> = formats.to_vec();
    for (f, _) in &files {
        if !on.contains(f) {
            on.push(*f);
        }
    }
    if files.iter().any(|(f, _)| *f == Format::Human) {
        return Err(Error::Usage("the human report goes to the terminal; redirect it instead of -o human=".into()));
    }
    let to_stdout: Vec<Format> =
        on.iter().copied().filter(|f| matches!(f, Format::Json | Format::Junit) && file_of(*f).is_none()).collect();
    if to_stdout.len() > 1 {
        return Err(Error::Usage(format!(
            "{to_stdout:?} would all write to stdout; give all but one a file with -o FORMAT=FILE"
        )));
    }
    let mut reporters: Vec<Box<dyn Reporter>> = Vec::new();
    if on.contains(&Format::Human) && to_stdout.is_empty() {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal();
        reporters.push(Box::new(HumanReporter::new(color, std::io::stderr().is_terminal(), false)));
    }
    if on.contains(&Format::Json) {
        reporters.push(Box::new(JsonReporter::new(file_of(Format::Json))));
    }
    if on.contains(&Format::Junit) {
        reporters.push(Box::new(crate::report::junit::JunitReporter::new(file_of(Format::Junit))));
    }
    if on.contains(&Format::Github) {
        reporters.push(Box::new(crate::report::github::GithubReporter::new(file_of(Format::Github))));
    }
    if args.timings {
        reporters.push(Box::<crate::report::timings::TimingsReporter>::default());
    }
    Ok(reporters)
}

async fn load(args: LoadArgs) -> Result<i32, Error> {
    if !(1..=256).contains(&args.connections) || !(100..=600_000).contains(&args.duration_ms) {
        return Err(Error::Usage("--connections must be 1..256 and --duration-ms 100..600000".into()));
    }
    runner::check_target(&args.url, args.allow_remote).await?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (k, v) =
            h.split_once(':').ok_or_else(|| Error::Usage(format!("--header {h:?}: expected `Name: value`")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let req = crate::request::Prepared {
        method: reqwest::Method::GET,
        url: args.url.clone(),
        headers,
        body: None,
        chunked: false,
        token: None,
        token_args: String::new(),
        timeout: crate::request::DEFAULT_TIMEOUT,
    };
    let client = crate::request::client();
    let any = crate::matching::StatusExpect::Class("2xx".into());
    let window = std::time::Duration::from_millis(args.duration_ms);
    // On a terminal, the window's live req/s on stderr while it runs.
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let run = crate::events::with_progress(tx, crate::load::run_for(&client, &req, args.connections, window, &any));
    tokio::pin!(run);
    let r = loop {
        tokio::select! {
            r = &mut run => break r,
            Some(p) = rx.recv() => if let Some(b) = &bar { b.set_message(p.line()) },
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let p = r.latencies.percentiles();
    let secs = r.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { r.requests as f64 / secs } else { 0.0 };
    if args.json {
        let v = serde_json::json!({
            "url": args.url.as_str(), "connections": args.connections, "duration_s": secs,
            "requests": r.requests, "errors": r.errors, "non_2xx": r.unexpected, "requests_per_s": rate,
            "p50_ms": p.p50_ms, "p95_ms": p.p95_ms, "p99_ms": p.p99_ms, "max_ms": p.max_ms,
        });
        println!("{v}");
    } else {
        println!(
            "{} requests in {secs:.2} s over {} connection(s): {rate:.1} req/s, {} errors, {} other non-2xx",
            r.requests, args.connections, r.errors, r.unexpected
        );
        println!(
            "latency p50 {:.2} ms · p95 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
            p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
        );
    }
    Ok(if r.errors == 0 && r.unexpected == 0 && p.samples > 0 { 0 } else { 1 })
}

fn labs(source: LabSource) -> Result<i32, Error> {
    let catalog = Catalog::open(source)?;
    let t = &catalog.track;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{} — pass mark {}%", t.title, t.pass_mark);
    for section in &t.sections {
        let _ = writeln!(out, "\n{}", section.title);
        for lab in t.labs.iter().filter(|l| l.section == section.id) {
            let status = match catalog.load(&lab.id)? {
                LabEntry::Written(l) => format!("{} checks", l.checks.len()),
                LabEntry::NotWritten => "not written yet".to_string(),
            };
            let _ = writeln!(out, "  {:<22} {:<58} {status}", lab.id, lab.title);
        }
    }
    Ok(0)
}

fn readme(source: LabSource, wanted: &str) -> Result<i32, Error> {
    let catalog = Catalog::open(source)?;
    let entry = catalog.resolve(wanted)?;
    let rel = format!("{}/README.md", entry.id);
    match catalog.source.read(&rel).map_err(|e| Error::Usage(e.to_string()))? {
        Some(text) => {
            print!("{text}");
            Ok(0)
        }
        None => Err(Error::Usage(format!("lab {} has no README yet", entry.id))),
    }
}

fn init(path: Option<std::path::PathBuf>, force: bool) -> Result<i32, Error> {
    let dir = path.unwrap_or_else(|| ".".into());
    let file = if dir.extension().is_some_and(|e| e == "toml") { dir } else { dir.join(config::FILE_NAME) };
    if file.exists() && !force {
        return Err(Error::Usage(format!("{} exists; pass --force to overwrite it", file.display())));
    }
    std::fs::write(&file, config::TEMPLATE)
        .map_err(|e| Error::Environment(format!("cannot write {}: {e}", file.display())))?;
    println!("wrote {} — edit [service] start and base_url, then run `labgrade check 01`", file.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn outputs(formats: &[Format], o: &[&str]) -> Result<Vec<(Format, PathBuf)>, String> {
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        parse_outputs(formats, &o).map_err(|e| e.to_string())
    }

    #[test]
    fn a_bare_output_file_takes_the_one_file_format_selected() {
        use Format::*;
        assert_eq!(outputs(&[Junit], &["report.xml"]).unwrap(), vec![(Junit, "report.xml".into())]);
        assert_eq!(outputs(&[Human, Github], &["s.md"]).unwrap(), vec![(Github, "s.md".into())]);
        assert_eq!(outputs(&[Human], &["r.json"]).unwrap(), vec![(Json, "r.json".into())]);
        assert_eq!(outputs(&[Human, Json], &["r.json"]).unwrap(), vec![(Json, "r.json".into())]);
        // The other format named, the bare file is the one left.
        assert_eq!(
            outputs(&[Json, Junit], &["junit=j.xml", "r.json"]).unwrap(),
            vec![(Junit, "j.xml".into()), (Json, "r.json".into())]
        );
        let e = outputs(&[Human, Json, Junit], &["x"]).unwrap_err();
        assert!(e.contains("-o x is ambiguous: --format selects json, junit"), "{e}");
        assert!(e.contains("-o json=x or -o junit=x"), "{e}");
        let e = outputs(&[Json], &["json=a", "b"]).unwrap_err();
        assert!(e.contains("already has a file"), "{e}");
    }
}
