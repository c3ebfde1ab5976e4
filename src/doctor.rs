//! `labgrade doctor [LAB]`: is this machine and repo ready to be graded? Each finding is ✓,
//! ✗ with the line that fixes it, or – when it cannot be told; exit 0 only without a ✗.
//! The judging of what was found is pure ([`start_program`], [`runtimes_for`], [`render`]);
//! the probing around it starts the service with the same supervisor `check` uses.

use crate::cli::{DoctorArgs, DoctorFormat};
use crate::config::Config;
use crate::db::provision::Provision;
use crate::error::Error;
use crate::service::{Service, StartError};
use crate::spec::{Catalog, Lab, LabEntry, LabSource};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    /// It could not be told (or does not apply here).
    Skip,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What was looked at: `config`, `start`, `runtime`, `port`, `database`, `artifact`, `service`.
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do about a ✗.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Lines that show it (the service's last output).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl Finding {
    fn ok(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, status: Status::Ok, message: message.into(), fix: None, details: Vec::new() }
    }

    fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { check, status: Status::Fail, message: message.into(), fix: Some(fix.into()), details: Vec::new() }
    }

    fn skip(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, status: Status::Skip, message: message.into(), fix: None, details: Vec::new() }
    }
}

pub async fn doctor(source: LabSource, args: DoctorArgs) -> Result<i32, Error> {
    let catalog = Catalog::open(source)?;
    let labs: Vec<Lab> = match &args.lab {
        Some(wanted) => vec![crate::grade::written(&catalog, &catalog.resolve(wanted)?.id)?],
        None => catalog
            .track
            .labs
            .iter()
            .filter_map(|l| match catalog.load(&l.id) {
                Ok(LabEntry::Written(lab)) => Some(Ok(*lab)),
                Ok(LabEntry::NotWritten) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()?,
    };
    let path = Config::locate(args.config.path.as_deref())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Environment(format!("cannot watch SIGTERM: {e}")))?;
    let findings = tokio::select! {
        f = examine(&path, &labs) => Ok(f),
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        _ = term.recv() => Err(Error::Interrupted),
    };
    // Whatever was provisioned for the start goes, however it ended.
    for line in crate::db::provision::cleanup().await {
        if args.format == DoctorFormat::Human {
            eprintln!("labgrade: {line}");
        }
    }
    let findings = findings?;
    let ok = !findings.iter().any(|f| f.status == Status::Fail);
    match args.format {
        DoctorFormat::Human => print!("{}", render(&path, args.lab.as_deref(), &findings)),
        DoctorFormat::Json => {
            let v = serde_json::json!({
                "config": path.display().to_string(),
                "lab": args.lab,
                "ok": ok,
                "checks": findings,
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
    }
    Ok(if ok { 0 } else { 1 })
}

/// Everything, in the order a learner fixes things.
async fn examine(path: &Path, labs: &[Lab]) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = match Config::load(path) {
        Ok(c) => {
            out.push(Finding::ok("config", format!("{} is valid", path.display())));
            c
        }
        Err(e) => {
            let fix = match &e {
                Error::Usage(m) if m.contains("labgrade init") => {
                    "run `labgrade init` to write one, or point at yours with -c PATH".to_string()
                }
                _ => format!("correct {} where the message points", path.display()),
            };
            out.push(Finding::fail("config", e.to_string(), fix));
            out.push(Finding::skip("others", "nothing else can be checked without a valid labgrade.toml"));
            return out;
        }
    };
    let file = config.file.display().to_string();

    // The start command and what it runs on.
    let start = config.service.start.clone();
    let program = match start.as_deref() {
        None => {
            out.push(Finding::skip(
                "start",
                format!("{file} has no [service] start, so labgrade can only grade a service you run (--url)"),
            ));
            None
        }
        Some(cmd) => match start_program(cmd) {
            Err(why) => {
                out.push(Finding::skip(
                    "start",
                    format!("`{cmd}`: {why}; labgrade cannot tell which program it needs"),
                ));
                None
            }
            Ok(p) => {
                let path_var = config.service_env("PATH").unwrap_or_default();
                match find_program(&p, &config.repo, &path_var) {
                    Some(found) => {
                        out.push(Finding::ok("start", format!("`{p}` (from `{cmd}`) is at {}", found.display())));
                        Some(p)
                    }
                    None => {
                        let fix = if p.contains('/') {
                            format!(
                                "build or create {p} in {}, or correct [service] start in {file}",
                                config.repo.display()
                            )
                        } else {
                            format!("install {p} or put it on PATH, or correct [service] start in {file}")
                        };
                        out.push(Finding::fail("start", format!("`{p}` (from `{cmd}`) is not found"), fix));
                        Some(p)
                    }
                }
            }
        },
    };
    let runtimes = program.as_deref().map(runtimes_for).unwrap_or_default();
    if runtimes.is_empty() {
        out.push(Finding::skip(
            "runtime",
            match &program {
                Some(p) => {
                    format!("`{p}` names no runtime labgrade knows (node, npm, python, …) to ask for its version")
                }
                None => "no start program to tell the runtime from".to_string(),
            },
        ));
    }
    for rt in runtimes {
        out.push(match version_of(rt, &config).await {
            Some(v) => Finding::ok("runtime", format!("{rt}: {v}")),
            None => Finding::fail(
                "runtime",
                format!("{rt} is not found (or `{rt} {}` failed)", version_flag(rt)),
                match rt {
                    "node" | "npm" | "npx" => {
                        "install Node.js 20 or later (it brings npm) and put it on PATH".to_string()
                    }
                    other => format!("install {other} and put it on PATH"),
                },
            ),
        });
    }

    // The port the service will listen on.
    let base = &config.service.base_url;
    let port_taken = crate::service::port_taken(base).await;
    match &port_taken {
        Some(addr) => {
            let port = base.port_or_known_default().unwrap_or(0);
            out.push(Finding::fail(
                "port",
                format!("something is already listening on {addr} (the port of base_url {base})"),
                format!(
                    "stop it (`ss -ltnp 'sport = :{port}'` shows which process), or give your service another port in {file} (base_url and PORT)"
                ),
            ))
        }
        None => out.push(Finding::ok("port", format!("{} is free", address(base)))),
    }

    // The database: provisioning works (it is kept for the start below), or the learner's own answers.
    let mut config = config;
    let needs_db: Vec<&str> = labs.iter().filter(|l| uses_database(l)).map(|l| l.id.as_str()).collect();
    let db_ok = database(&mut config, &needs_db, &mut out).await;

    // The files the labs read.
    out.extend(artifacts(&config, labs));

    // The service starts and becomes ready, as `check` starts it, and stops cleanly.
    out.push(if start.is_none() {
        Finding::skip("service", "not started: there is no [service] start command")
    } else if port_taken.is_some() {
        Finding::skip("service", "not started: its port is taken (see above)")
    } else if !db_ok {
        Finding::skip("service", "not started: its database is not reachable (see above)")
    } else {
        start_and_stop(&config).await
    });
    out
}

fn address(url: &url::Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or("?"), url.port_or_known_default().unwrap_or(0))
}

fn uses_database(lab: &Lab) -> bool {
    lab.checks.iter().any(|c| c.spec.uses_database()) || lab.steps.iter().any(|s| s.spec.uses_database())
}

/// Check the database the labs use; false when it cannot be used.
async fn database(config: &mut Config, needs_db: &[&str], out: &mut Vec<Finding>) -> bool {
    let file = config.file.display().to_string();
    let unreachable_fix = |shown: &str| {
        format!(
            "start the database server at {shown} (PostgreSQL: e.g. `pg_ctlcluster 16 main start` or `docker run -p 5432:5432 postgres`), or correct [database] url in {file}"
        )
    };
    let Some(d) = config.database.clone() else {
        return match config.service_env("DATABASE_URL") {
            Some(url) => match connect(&url).await {
                Ok(()) => {
                    out.push(Finding::ok(
                        "database",
                        format!("DATABASE_URL {} answers", crate::db::without_password(&url)),
                    ));
                    true
                }
                Err(e) => {
                    let shown = crate::db::without_password(&url);
                    out.push(Finding::fail("database", e, unreachable_fix(&shown)));
                    false
                }
            },
            None if needs_db.is_empty() => {
                out.push(Finding::skip("database", "no database configured, and these labs read none"));
                true
            }
            None => {
                out.push(Finding::fail(
                    "database",
                    format!("no database configured, and lab(s) {} read yours", needs_db.join(", ")),
                    format!("add a [database] section to {file} (`labgrade init` writes an example), or set DATABASE_URL in [service.env]"),
                ));
                false
            }
        };
    };
    match d.provision {
        Provision::Url | Provision::Ephemeral => {
            let url = d.url.clone().unwrap_or_default();
            let shown = crate::db::without_password(&url);
            if let Err(e) = connect(&url).await {
                out.push(Finding::fail("database", e, unreachable_fix(&shown)));
                return false;
            }
            if d.provision == Provision::Url {
                out.push(Finding::ok("database", format!("your database {shown} answers")));
                config.service.env.insert(d.env.clone(), url);
                return true;
            }
            // What `check` does: a fresh database for the run, handed to the service.
            match crate::db::provision::provision(&d).await {
                Ok(p) => {
                    out.push(Finding::ok(
                        "database",
                        format!("{shown} answers, and labgrade may create a database on it (as each run does)"),
                    ));
                    config.service.env.insert(d.env.clone(), p.url);
                    true
                }
                Err(e) => {
                    let user = url::Url::parse(&url).ok().map(|u| u.username().to_string()).unwrap_or_default();
                    out.push(Finding::fail(
                        "database",
                        format!("{shown} answers, but labgrade cannot create a database there: {}", e.message),
                        format!(
                            "let the user create databases (PostgreSQL, as a superuser: ALTER ROLE \"{user}\" CREATEDB), or use your own database: [database] url = it, without provision"
                        ),
                    ));
                    false
                }
            }
        }
        Provision::Container => {
            // Starting one is what a run does; here, only whether a Docker engine answers.
            match docker_answers().await {
                Ok(()) => {
                    out.push(Finding::ok("database", "a Docker engine answers, for provision = \"container\""));
                    true
                }
                Err(e) => {
                    out.push(Finding::fail(
                        "database",
                        format!("provision = \"container\" needs a Docker engine, and none answers ({e})"),
                        format!(
                            "start Docker, or use provision = \"ephemeral\" with url = a PostgreSQL server in {file}"
                        ),
                    ));
                    false
                }
            }
        }
    }
}

async fn connect(url: &str) -> Result<(), String> {
    let c = tokio::time::timeout(Duration::from_secs(10), crate::db::Database::connect(url)).await;
    match c {
        Err(_) => Err(format!("{} did not answer within 10 s", crate::db::without_password(url))),
        Ok(Err(e)) => Err(e.message),
        Ok(Ok(db)) => {
            let r = db.rows("SELECT 1 AS one", &[]).await;
            db.close().await;
            r.map(|_| ()).map_err(|e| e.message)
        }
    }
}

async fn docker_answers() -> Result<(), String> {
    use testcontainers_modules::testcontainers::core::client::docker_client_instance;
    let ping = async {
        let docker = docker_client_instance().await.map_err(|e| e.to_string())?;
        docker.ping().await.map(|_| ()).map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), ping).await.map_err(|_| "no answer within 5 s".to_string())?
}

/// One finding per missing file, and one for all present ones.
fn artifacts(config: &Config, labs: &[Lab]) -> Vec<Finding> {
    use crate::checks::CheckSpec;
    // path → (the [artifacts] name, the first lab and check that read it)
    let mut files: Vec<(PathBuf, Option<String>, String, String)> = Vec::new();
    for lab in labs {
        for check in &lab.checks {
            let name = match &check.spec {
                CheckSpec::Doc(s) => s.artifact.clone(),
                CheckSpec::Artifact(s) => s.artifact.clone(),
                CheckSpec::AuthMatrix(s) => s.artifact.clone(),
                _ => continue,
            };
            let Some(path) = check.spec.learner_file(config) else { continue };
            if !files.iter().any(|(p, ..)| *p == path) {
                files.push((path, name, lab.files_of(check).to_string(), check.id.clone()));
            }
        }
    }
    let file = config.file.display().to_string();
    let mut out = Vec::new();
    let mut present = Vec::new();
    for (path, name, lab, check) in &files {
        let shown = config.in_repo(path);
        if path.is_file() {
            present.push(shown);
            continue;
        }
        let number = lab.split_once('-').map_or(lab.as_str(), |(n, _)| n);
        let check = check.rsplit_once('/').map_or(check.as_str(), |(_, c)| c);
        let point = match name {
            Some(n) => format!(", or point [artifacts] {n} in {file} at yours"),
            None => String::new(),
        };
        out.push(Finding::fail(
            "artifact",
            format!("{shown} is missing (lab {lab}, check {check} reads it)"),
            format!("write it — `labgrade lab {number}` says what it must hold{point}"),
        ));
    }
    if !present.is_empty() {
        out.insert(0, Finding::ok("artifact", format!("present: {}", present.join(", "))));
    }
    if files.is_empty() {
        out.push(Finding::skip("artifact", "these labs read no file of yours"));
    }
    out
}

async fn start_and_stop(config: &Config) -> Finding {
    let t = Instant::now();
    match Service::start(config, &[]).await {
        Ok(s) => {
            let ready = t.elapsed();
            let stop = s.stop(config.service.stop_grace).await;
            let mut msg = format!(
                "started and ready at {}{} after {:.1} s; stopped in {:.1} s",
                config.service.base_url.as_str().trim_end_matches('/'),
                config.service.ready,
                ready.as_secs_f64(),
                stop.took.as_secs_f64()
            );
            if stop.killed {
                return Finding::fail(
                    "service",
                    format!(
                        "{msg}, but it ignored SIGTERM for {} s and was killed",
                        config.service.stop_grace.as_secs()
                    ),
                    "handle SIGTERM: stop accepting, finish what is in flight, then exit (lab 09 grades it)",
                );
            }
            if stop.stray_killed > 0 {
                msg.push_str(&format!("; {} process(es) it started outlived it and were killed", stop.stray_killed));
            }
            Finding::ok("service", msg)
        }
        Err(StartError::NotReady { message, tail }) => Finding {
            details: tail,
            ..Finding::fail(
                "service",
                message,
                format!(
                    "run `{}` yourself in {} and read what it prints (its last lines are above)",
                    config.service.start.as_deref().unwrap_or_default(),
                    config.repo.display()
                ),
            )
        },
        Err(e) => Finding::fail("service", e.to_string(), format!("correct [service] in {}", config.file.display())),
    }
}

/// The program a start command runs: its first word after `exec`, `env` and `NAME=value`
/// assignments. Err when it cannot be told (a compound shell command, `sh -c`). Pure.
pub fn start_program(cmd: &str) -> Result<String, String> {
    if cmd.contains(|c: char| ";&|<>()`\n".contains(c)) || cmd.contains("$(") {
        return Err("it is a compound shell command".into());
    }
    let words = shell_words(cmd).ok_or("its quotes do not close")?;
    let assignment = |w: &str| {
        w.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let mut rest = words.iter().map(String::as_str).peekable();
    loop {
        match rest.peek() {
            Some(&"exec") | Some(&"env") => {
                rest.next();
            }
            Some(w) if assignment(w) => {
                rest.next();
            }
            Some(w) if w.starts_with('-') => {
                // `env -i …`: its options.
                rest.next();
            }
            _ => break,
        }
    }
    let program = rest.next().ok_or("it names no program")?;
    if program.contains('$') {
        return Err("its program comes from a variable".into());
    }
    let base = program.rsplit('/').next().unwrap_or(program);
    if ["sh", "bash", "zsh", "dash", "ksh"].contains(&base) {
        return Err(format!("it runs a shell ({program})"));
    }
    Ok(program.to_string())
}

/// Split like a shell would, for plain words and quotes (no expansion). Pure.
fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// Where `program` is: a path (relative to the repo) or a name on `path_var`.
fn find_program(program: &str, repo: &Path, path_var: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let p = if Path::new(program).is_absolute() { PathBuf::from(program) } else { repo.join(program) };
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path_var).map(|d| d.join(program)).find(|p| executable(p))
}

/// The runtimes a start program needs, to ask each for its version: npm needs node too. Pure.
pub fn runtimes_for(program: &str) -> Vec<&'static str> {
    let base = program.rsplit('/').next().unwrap_or(program);
    const KNOWN: &[&str] = &[
        "node", "deno", "bun", "python", "python3", "uv", "poetry", "ruby", "bundle", "java", "mvn", "gradle", "go",
        "dotnet", "php", "cargo", "elixir", "mix",
    ];
    match base {
        "npm" => vec!["node", "npm"],
        "npx" => vec!["node", "npx"],
        "yarn" => vec!["node", "yarn"],
        "pnpm" => vec!["node", "pnpm"],
        other => KNOWN.iter().copied().filter(|k| *k == other).collect(),
    }
}

fn version_flag(rt: &str) -> &'static str {
    match rt {
        "go" => "version",
        "java" => "-version",
        _ => "--version",
    }
}

/// The first line `rt --version` prints, run as the service would be (its PATH).
async fn version_of(rt: &str, config: &Config) -> Option<String> {
    let mut cmd = tokio::process::Command::new(rt);
    cmd.arg(version_flag(rt))
        .current_dir(&config.repo)
        .envs(&config.service.env)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(15), cmd.output()).await.ok()?.ok()?;
    if !out.status.success() {
        return None;
    }
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())
}

/// The findings as the terminal shows them. Pure.
pub fn render(config: &Path, lab: Option<&str>, findings: &[Finding]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let scope = match lab {
        Some(l) => format!("lab {l}"),
        None => "every lab".to_string(),
    };
    let _ = writeln!(s, "labgrade doctor — {} ({scope})", config.display());
    for f in findings {
        let mark = match f.status {
            Status::Ok => "✓",
            Status::Fail => "✗",
            Status::Skip => "–",
        };
        let _ = writeln!(s, "  {mark} {:<9} {}", f.check, f.message);
        for d in &f.details {
            let _ = writeln!(s, "      │ {d}");
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(s, "      fix: {fix}");
        }
    }
    let problems = findings.iter().filter(|f| f.status == Status::Fail).count();
    if problems == 0 {
        s.push_str("\nready to grade\n");
    } else {
        let _ = writeln!(s, "\n{problems} problem(s) to fix before grading");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_program_is_the_first_word_after_assignments() {
        assert_eq!(start_program("node src/server.js").unwrap(), "node");
        assert_eq!(start_program("PORT=3000 NODE_ENV=production npm start").unwrap(), "npm");
        assert_eq!(
            start_program("exec env -i A=b ./target/release/ledger --port 3").unwrap(),
            "./target/release/ledger"
        );
        assert_eq!(start_program("'/opt/my app/run' x").unwrap(), "/opt/my app/run");
        assert!(start_program("npm run build && node dist/x.js").unwrap_err().contains("compound"));
        assert!(start_program("sh -c 'node x'").unwrap_err().contains("shell"));
        assert!(start_program("$RUNNER x").unwrap_err().contains("variable"));
        assert!(start_program("A=1").unwrap_err().contains("no program"));
    }

    #[test]
    fn npm_needs_node_and_a_binary_needs_nothing() {
        assert_eq!(runtimes_for("npm"), ["node", "npm"]);
        assert_eq!(runtimes_for("/usr/bin/python3"), ["python3"]);
        assert!(runtimes_for("./target/release/ledger").is_empty());
    }

    #[test]
    fn a_program_is_found_on_path_or_in_the_repo() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("run");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("./run", dir.path(), ""), Some(dir.path().join("./run")));
        assert_eq!(find_program("run", Path::new("/"), &dir.path().display().to_string()), Some(bin));
        assert_eq!(find_program("no-such-program-here", dir.path(), "/usr/bin:/bin"), None);
    }

    #[test]
    fn a_problem_shows_its_fix_and_fails_the_page() {
        let f = vec![
            Finding::ok("config", "labgrade.toml is valid"),
            Finding::fail("port", "something is already listening on 127.0.0.1:3000", "stop it"),
            Finding::skip("service", "not started: its port is taken (see above)"),
        ];
        let text = render(Path::new("labgrade.toml"), Some("01"), &f);
        assert!(text.contains("  ✓ config    labgrade.toml is valid\n"), "{text}");
        assert!(
            text.contains("  ✗ port      something is already listening on 127.0.0.1:3000\n      fix: stop it\n"),
            "{text}"
        );
        assert!(text.contains("  – service   not started"), "{text}");
        assert!(text.ends_with("1 problem(s) to fix before grading\n"), "{text}");
    }
}
