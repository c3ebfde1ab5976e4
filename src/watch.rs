//! `labgrade watch LAB`: grade the lab, then again each time a file of the learner's repo
//! changes (debounced), and say what changed since the run before: fixed, still failing,
//! newly failing. Every run starts and stops the service, as `check` does; Ctrl-C stops the
//! watch and leaves nothing running.
//!
//! What counts as a change: a file under the repo that is not in `.git`, `.labgrade`,
//! `node_modules` or `target`, and that no `.gitignore` of the repo ignores.

use crate::checks::Verdict;
use crate::cli::WatchArgs;
use crate::config::Config;
use crate::error::Error;
use crate::events::{Event, LabReport, Reporter};
use crate::report::HumanReporter;
use crate::runner::RunOptions;
use crate::spec::{Catalog, Lab, LabSource};
use ignore::gitignore::Gitignore;
use notify::RecursiveMode;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Folders never watched, wherever they are.
const NEVER: &[&str] = &[".git", ".labgrade", "node_modules", "target"];

/// Which paths of a repo are the learner's sources (not in [`NEVER`], not gitignored), and
/// whether one really changed: a file event is also sent when a file is only read (the
/// service loading its code, the grader reading a document), so a file counts as changed
/// when its modification time or size is not what it was.
pub struct Filter {
    root: PathBuf,
    /// Each `.gitignore` of the repo (and `.git/info/exclude`), with the folder it applies to.
    ignores: Vec<Gitignore>,
    /// Each source file's modification time and size when last seen.
    stamps: std::collections::HashMap<PathBuf, (Option<std::time::SystemTime>, u64)>,
}

impl Filter {
    /// Read the repo's ignore files; the folders to watch come with it.
    pub fn new(root: &Path) -> (Filter, Vec<PathBuf>) {
        let mut f = Filter { root: root.to_path_buf(), ignores: Vec::new(), stamps: Default::default() };
        let exclude = root.join(".git/info/exclude");
        if exclude.is_file() {
            let mut b = ignore::gitignore::GitignoreBuilder::new(root);
            b.add(&exclude);
            if let Ok(g) = b.build() {
                f.ignores.push(g);
            }
        }
        let mut dirs = Vec::new();
        f.scan(root, &mut dirs);
        (f, dirs)
    }

    /// Add the ignore files under `dir` and return its folders that are watched (itself too).
    fn scan(&mut self, dir: &Path, dirs: &mut Vec<PathBuf>) {
        if !dir.is_dir() || self.ignored(dir, true) {
            return;
        }
        let gi = dir.join(".gitignore");
        if gi.is_file() {
            let (g, _) = Gitignore::new(&gi);
            self.ignores.push(g);
        }
        dirs.push(dir.to_path_buf());
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut subs: Vec<PathBuf> = Vec::new();
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => subs.push(e.path()),
                Ok(_) => {
                    if let Ok(m) = e.metadata() {
                        self.stamps.insert(e.path(), (m.modified().ok(), m.len()));
                    }
                }
                Err(_) => {}
            }
        }
        subs.sort();
        for s in subs {
            self.scan(&s, dirs);
        }
    }

    /// Did this source file change since it was last seen (created, written, removed)?
    pub fn changed(&mut self, path: &Path) -> bool {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => false,
            Ok(m) => {
                let stamp = (m.modified().ok(), m.len());
                self.stamps.insert(path.to_path_buf(), stamp) != Some(stamp)
            }
            Err(_) => self.stamps.remove(path).is_some(),
        }
    }

    /// Is this path outside the learner's sources?
    pub fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        let Ok(rel) = path.strip_prefix(&self.root) else { return true };
        if rel.components().any(|c| NEVER.iter().any(|n| c.as_os_str() == *n)) {
            return true;
        }
        if rel.as_os_str().is_empty() {
            return false;
        }
        self.ignores.iter().any(|g| {
            path.starts_with(g.path()) && path != g.path() && g.matched_path_or_any_parents(path, is_dir).is_ignore()
        })
    }
}

/// What changed between two runs, by check id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub fixed: Vec<String>,
    pub still_failing: Vec<String>,
    pub newly_failing: Vec<String>,
}

impl Diff {
    /// `before`: each check's last known result (true: passed). `now`: the checks that ran
    /// now. A check not known before counts as newly failing when it fails. Pure.
    pub fn between(before: &BTreeMap<String, bool>, now: &[(String, bool)]) -> Diff {
        let mut d = Diff::default();
        for (id, passed) in now {
            match (before.get(id), passed) {
                (Some(false), true) => d.fixed.push(id.clone()),
                (Some(false), false) => d.still_failing.push(id.clone()),
                (Some(true) | None, false) => d.newly_failing.push(id.clone()),
                _ => {}
            }
        }
        d
    }

    /// `2 fixed, 1 still failing, 1 newly failing`, each list named. Pure.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} fixed, {} still failing, {} newly failing",
            self.fixed.len(),
            self.still_failing.len(),
            self.newly_failing.len()
        );
        for (word, ids) in
            [("fixed", &self.fixed), ("still failing", &self.still_failing), ("newly failing", &self.newly_failing)]
        {
            if !ids.is_empty() {
                s.push_str(&format!("\n  {word}: {}", ids.join(", ")));
            }
        }
        s
    }
}

pub async fn watch(source: LabSource, args: WatchArgs) -> Result<i32, Error> {
    let catalog = Catalog::open(source)?;
    let entry = catalog.resolve(&args.lab)?;
    let lab = crate::grade::written(&catalog, &entry.id)?;
    let config = Config::load(&Config::locate(args.config.path.as_deref())?)?;
    let root = config
        .repo
        .canonicalize()
        .map_err(|e| Error::Environment(format!("cannot read {}: {e}", config.repo.display())))?;
    // Registered now, so a Ctrl-C between two runs is never lost.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| Error::Environment(format!("cannot watch SIGINT: {e}")))?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Environment(format!("cannot watch SIGTERM: {e}")))?;

    let (mut filter, dirs) = Filter::new(&root);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut debouncer = notify_debouncer_mini::new_debouncer(
        Duration::from_millis(args.debounce_ms),
        move |res: notify_debouncer_mini::DebounceEventResult| {
            if let Ok(events) = res {
                let _ = tx.send(events.into_iter().map(|e| e.path).collect());
            }
        },
    )
    .map_err(|e| Error::Environment(format!("cannot watch files: {e}")))?;
    // One watch per source folder: node_modules and the like hold more folders than the
    // system lets one process watch.
    let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
    for d in dirs {
        if debouncer.watcher().watch(&d, RecursiveMode::NonRecursive).is_ok() {
            watched.insert(d);
        }
    }
    let number = lab.id.split_once('-').map_or(lab.id.as_str(), |(n, _)| n).to_string();
    eprintln!("labgrade: watching {} ({} folders) for lab {}; Ctrl-C stops", root.display(), watched.len(), lab.id);

    // Each run picks new generated inputs unless --seed replays some.
    let opts = || RunOptions {
        url: None,
        allow_remote: false,
        pass_mark: catalog.track.pass_mark,
        deadline: Duration::from_secs(args.deadline_secs),
        seed: args.seed.unwrap_or_else(crate::template::fresh_seed),
    };
    // Each check's last known result: from the last recorded run, then from each run here.
    let store = crate::progress::Store::in_repo(&config.repo);
    let mut known: BTreeMap<String, bool> = match store.load().ok().map(|(p, _)| p.failing(&lab.id)) {
        Some(Ok(failing)) => lab.checks.iter().map(|c| (c.id.clone(), !failing.contains(&c.id))).collect(),
        _ => BTreeMap::new(),
    };
    let mut run = 1;
    let mut changed: Vec<PathBuf> = Vec::new();
    loop {
        banner(run, &changed, &root);
        let ran = grade(&lab, &config, &opts(), &args, &known).await?;
        if !known.is_empty() || run > 1 {
            // Each check once, as the last report that ran it says.
            let mut now: Vec<(String, bool)> = Vec::new();
            for (id, passed) in ran.iter().flat_map(checks_of) {
                match now.iter_mut().find(|(x, _)| *x == id) {
                    Some(slot) => slot.1 = passed,
                    None => now.push((id, passed)),
                }
            }
            let d = Diff::between(&known, &now);
            println!("\nsince the last run: {}", d.line());
        }
        for r in &ran {
            for (id, passed) in checks_of(r) {
                known.insert(id, passed);
            }
        }
        let failing = known.values().filter(|p| !**p).count();
        eprintln!(
            "labgrade: waiting for changes ({failing} check(s) not passing; `labgrade check {number}` grades once; Ctrl-C stops)"
        );
        let _ = std::io::stdout().flush();
        // Wait for a change to a source file (changes made during the run count too).
        changed = loop {
            let paths = tokio::select! {
                p = rx.recv() => match p {
                    Some(p) => p,
                    None => return Err(Error::Environment("the file watcher stopped".into())),
                },
                _ = interrupt.recv() => return Ok(stopped(&lab)),
                _ = term.recv() => return Ok(stopped(&lab)),
            };
            let mut mine = Vec::new();
            for p in paths {
                let is_dir = p.is_dir();
                if filter.ignored(&p, is_dir) {
                    continue;
                }
                let new_dir = is_dir && !watched.contains(&p);
                if new_dir {
                    // A new folder: watch it and what it holds.
                    let mut dirs = Vec::new();
                    filter.scan(&p, &mut dirs);
                    for d in dirs {
                        if debouncer.watcher().watch(&d, RecursiveMode::NonRecursive).is_ok() {
                            watched.insert(d);
                        }
                    }
                }
                if (new_dir || filter.changed(&p)) && !mine.contains(&p) {
                    mine.push(p);
                }
            }
            if !mine.is_empty() {
                break mine;
            }
        };
        // More changes may follow right after (an editor saving several files).
        while let Ok(more) = rx.try_recv() {
            for p in more {
                if !filter.ignored(&p, p.is_dir()) && filter.changed(&p) && !changed.contains(&p) {
                    changed.push(p);
                }
            }
        }
        run += 1;
    }
}

fn stopped(lab: &Lab) -> i32 {
    eprintln!("labgrade: stopped watching lab {}; nothing is left running", lab.id);
    130
}

fn checks_of(r: &LabReport) -> Vec<(String, bool)> {
    r.checks.iter().map(|c| (c.id.clone(), c.outcome.verdict == Verdict::Pass)).collect()
}

fn banner(run: usize, changed: &[PathBuf], root: &Path) {
    let mut line = format!("── run {run}");
    if !changed.is_empty() {
        let shown: Vec<String> =
            changed.iter().take(3).map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string()).collect();
        line.push_str(&format!(" · changed: {}", shown.join(", ")));
        if changed.len() > 3 {
            line.push_str(&format!(" and {} more", changed.len() - 3));
        }
    }
    line.push_str(" ──");
    println!("\n{line}\n");
}

/// One re-grade: with `--failed-first` and checks failing, those first (a partial run), and
/// the whole lab once they pass; else the whole lab. The reports of what ran.
async fn grade(
    lab: &Lab,
    config: &Config,
    opts: &RunOptions,
    args: &WatchArgs,
    known: &BTreeMap<String, bool>,
) -> Result<Vec<LabReport>, Error> {
    let mut reports = Vec::new();
    let failing: Vec<usize> =
        lab.checks.iter().enumerate().filter(|(_, c)| known.get(&c.id) == Some(&false)).map(|(i, _)| i).collect();
    if args.failed_first && !failing.is_empty() && failing.len() < lab.checks.len() {
        let (cut, partial) = crate::select::partial(lab, &failing, "--failed-first".into());
        let mut reporter = human();
        reporter.on_event(&Event::Partial(Box::new(partial)));
        let report = crate::grade::run_one(&cut, config, opts, &mut reporter).await?;
        let _ = reporter.finish();
        if !args.no_record {
            crate::grade::record_partial(config, &report);
        }
        let all_pass = report.checks.iter().all(|c| c.outcome.verdict == Verdict::Pass);
        reports.push(report);
        if !all_pass {
            println!("\nthe checks that failed last time still fail; the whole lab runs once they pass");
            return Ok(reports);
        }
        println!("\nthey pass now; grading the whole lab");
    }
    let mut reporter = human();
    let report = crate::grade::run_one(lab, config, opts, &mut reporter).await?;
    let _ = reporter.finish();
    if !args.no_record {
        crate::grade::record(config, &report);
    }
    reports.push(report);
    Ok(reports)
}

fn human() -> HumanReporter {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal();
    HumanReporter::new(color, std::io::stderr().is_terminal(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_names_fixed_still_and_newly_failing() {
        let before: BTreeMap<String, bool> =
            [("a", false), ("b", false), ("c", true), ("d", false)].map(|(k, v)| (k.to_string(), v)).into();
        let now: Vec<(String, bool)> = [("a", true), ("b", false), ("c", false), ("d", true), ("e", false)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
        let d = Diff::between(&before, &now);
        assert_eq!(d.fixed, ["a", "d"]);
        assert_eq!(d.still_failing, ["b"]);
        assert_eq!(d.newly_failing, ["c", "e"]);
        assert!(d.line().starts_with("2 fixed, 1 still failing, 2 newly failing\n  fixed: a, d\n"), "{}", d.line());
    }

    #[test]
    fn vcs_dependencies_builds_and_gitignored_files_are_not_sources() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["src", "node_modules/x", ".git", "target/debug", "logs", "sub/tmp"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join(".gitignore"), "logs/\n*.log\n").unwrap();
        std::fs::write(root.join("sub/.gitignore"), "tmp/\n").unwrap();
        let (f, dirs) = Filter::new(&root);
        let rel: Vec<String> = dirs.iter().map(|d| d.strip_prefix(&root).unwrap().display().to_string()).collect();
        assert_eq!(rel, ["", "src", "sub"]);
        assert!(!f.ignored(&root.join("src/server.js"), false));
        assert!(!f.ignored(&root.join("README.md"), false));
        for p in [
            "node_modules/x/a.js",
            ".git/index",
            "target/debug/x",
            ".labgrade/progress.json",
            "logs/a",
            "a.log",
            "sub/tmp/x",
        ] {
            assert!(f.ignored(&root.join(p), false), "{p}");
        }
        assert!(f.ignored(Path::new("/elsewhere/x"), false));
    }

    #[test]
    fn a_file_read_is_no_change_a_write_or_removal_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let file = root.join("a.js");
        std::fs::write(&file, "one").unwrap();
        let (mut f, _) = Filter::new(&root);
        let _ = std::fs::read(&file).unwrap();
        assert!(!f.changed(&file), "read only");
        std::fs::write(&file, "three").unwrap();
        assert!(f.changed(&file));
        assert!(!f.changed(&file), "seen now");
        std::fs::remove_file(&file).unwrap();
        assert!(f.changed(&file));
        assert!(!f.changed(&root.join("never-there")));
        std::fs::write(root.join("new.js"), "x").unwrap();
        assert!(f.changed(&root.join("new.js")));
    }
}
