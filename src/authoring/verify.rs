//! `labgrade lab verify LAB --reference DIR`: hold a lab to its fault map. The reference
//! solution must score 100; each fault mode (a service switch, or files changed in a copy
//! of the reference) must fail exactly the checks the map names, nothing else. Prints the
//! fault × check table and names checks no fault fails (a check that cannot fail proves
//! nothing). Each fault also states the lab verdict it must end with (a fault that breaks a
//! blocking property fails its lab, and the capstone that re-runs the check), and verify
//! holds that too.

use crate::checks::Verdict;
use crate::config::Config;
use crate::error::Error;
use crate::events::{Event, LabReport, Reporter};
use crate::runner::RunOptions;
use crate::spec::{Catalog, Lab};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `faults.toml` beside the reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultMap {
    /// The variable that switches a service fault on (its value: the fault's name).
    pub env: Option<String>,
    pub faults: BTreeMap<String, Fault>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Checks (`LAB/ID`) this fault must fail.
    #[serde(default)]
    pub fails: Vec<String>,
    /// Checks it leaves unjudged (skipped).
    #[serde(default)]
    pub skips: Vec<String>,
    /// Checks it may or may not fail (timing-dependent); neither is a violation.
    #[serde(default)]
    pub may_fail: Vec<String>,
    /// Files removed from the copy of the reference.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Files replaced in the copy: target → source, both relative to the reference.
    #[serde(default)]
    pub write: BTreeMap<String, String>,
    /// The lab verdict under the fault, in every lab where it fails a check.
    pub verdict: Option<LabVerdict>,
    /// Why a lab still passes under the fault (required with `verdict = "pass"`).
    pub why: Option<String>,
    /// Labs a `verdict = "fail"` fault still leaves passing: lab id → why.
    #[serde(default)]
    pub passes: BTreeMap<String, String>,
}

/// Whether a lab passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabVerdict {
    Pass,
    Fail,
}

impl LabVerdict {
    pub fn of(passed: bool) -> LabVerdict {
        if passed { LabVerdict::Pass } else { LabVerdict::Fail }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LabVerdict::Pass => "pass",
            LabVerdict::Fail => "fail",
        }
    }
}

impl Fault {
    /// It changes the learner's files, not the running service.
    pub fn in_repo(&self) -> bool {
        !self.remove.is_empty() || !self.write.is_empty()
    }

    /// It names a check of `lab`.
    pub fn touches(&self, lab: &str) -> bool {
        let prefix = format!("{lab}/");
        self.fails.iter().chain(&self.skips).chain(&self.may_fail).any(|c| c.starts_with(&prefix))
    }

    /// The verdict `lab` must end with, given that the fault fails some of its checks.
    pub fn verdict_in(&self, lab: &str) -> Option<LabVerdict> {
        if self.passes.contains_key(lab) { Some(LabVerdict::Pass) } else { self.verdict }
    }

    /// What is missing from the fault's statement of its verdict.
    fn verdict_problem(&self) -> Option<&'static str> {
        match (self.verdict, self.why.as_deref().map(str::trim)) {
            (None, _) => Some("states no `verdict` (\"fail\" or \"pass\")"),
            (Some(LabVerdict::Pass), None | Some("")) => Some("says `verdict = \"pass\"` without a `why`"),
            _ if self.passes.values().any(|w| w.trim().is_empty()) => Some("names a lab in `passes` without a reason"),
            _ => None,
        }
    }
}

/// One fault graded against the lab, compared with its line of the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultResult {
    pub fault: String,
    /// Check ids of the lab the map says must fail / be skipped.
    pub expected_fail: Vec<String>,
    pub expected_skip: Vec<String>,
    /// What each check of the lab ended with.
    pub outcomes: Vec<(String, String)>,
    /// The lab verdict the map states for this lab (none when the fault fails no check of it).
    pub expected_lab: Option<LabVerdict>,
    /// The lab verdict it ended with.
    pub lab: LabVerdict,
    /// Everything that disagrees with the map, in words.
    pub problems: Vec<String>,
}

impl FaultResult {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The map's lines for this lab's checks: its own (`LAB/ID`) and, for checks it includes
/// from other labs, theirs (the report names those `OTHER/ID` already).
fn mapped(lab: &str, ids: &[String], list: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|id| list.contains(&format!("{lab}/{id}")) || (id.contains('/') && list.contains(id)))
        .cloned()
        .collect()
}

/// Compare a fault's graded outcomes and lab verdict (`passed`) with the map. Pure.
pub fn compare(
    lab: &str,
    name: &str,
    fault: &Fault,
    outcomes: &[(String, Verdict, String)],
    passed: bool,
) -> FaultResult {
    let ids: Vec<String> = outcomes.iter().map(|(id, _, _)| id.clone()).collect();
    let (fails, skips, may) =
        (mapped(lab, &ids, &fault.fails), mapped(lab, &ids, &fault.skips), mapped(lab, &ids, &fault.may_fail));
    let mut problems = Vec::new();
    for (id, v, message) in outcomes {
        let want = if fails.contains(id) {
            Some(Verdict::Fail)
        } else if skips.contains(id) {
            Some(Verdict::Skipped)
        } else if may.contains(id) {
            None
        } else {
            Some(Verdict::Pass)
        };
        match want {
            Some(w) if w != *v => problems.push(match w {
                Verdict::Pass => {
                    format!("{id} did not pass but the map does not name it — {}: {message}", v.as_str())
                }
                _ => format!("{id} was {} but the map says {}", v.as_str(), w.as_str()),
            }),
            _ => {}
        }
    }
    let expected_lab = if fails.is_empty() { None } else { fault.verdict_in(lab) };
    let got = LabVerdict::of(passed);
    match expected_lab {
        Some(LabVerdict::Fail) if got == LabVerdict::Pass => problems.push(format!(
            "the lab passed, but the map says the fault fails {lab} (it breaks a blocking check or too much score)"
        )),
        Some(LabVerdict::Pass) if got == LabVerdict::Fail => {
            let why = fault.passes.get(lab).or(fault.why.as_ref()).map(String::as_str).unwrap_or("");
            problems.push(format!("the lab failed, but the map says it still passes under the fault: {why}"))
        }
        _ => {}
    }
    FaultResult {
        fault: name.to_string(),
        expected_lab,
        lab: got,
        expected_fail: fails,
        expected_skip: skips,
        outcomes: outcomes.iter().map(|(id, v, _)| (id.clone(), v.as_str().to_string())).collect(),
        problems,
    }
}

/// The whole verification of one lab.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub lab: String,
    pub reference_score: f64,
    /// Checks the reference did not pass (must be none).
    pub reference_not_passed: Vec<String>,
    pub faults: Vec<FaultResult>,
    /// Checks of the lab that no fault of the map fails at all (graded or not).
    pub never_failed: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.reference_not_passed.is_empty() && self.faults.iter().all(FaultResult::ok)
    }
}

/// Checks no fault of the map fails, among `ids`. Pure.
pub fn never_failed(lab: &str, ids: &[String], map: &FaultMap) -> Vec<String> {
    ids.iter()
        .filter(|id| {
            let full = if id.contains('/') { (*id).clone() } else { format!("{lab}/{id}") };
            !map.faults.values().any(|f| f.fails.contains(&full))
        })
        .cloned()
        .collect()
}

/// The fault × check table: one row per fault, one column per check (numbered, with a
/// legend). `✗` failed as mapped, `s` skipped as mapped, `·` passed, `!` failed or was
/// skipped unmapped, `?` passed though mapped to fail. Pure.
pub fn table(v: &Verification, ids: &[String]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "checks of {}:", v.lab);
    for (i, id) in ids.iter().enumerate() {
        let never = if v.never_failed.contains(id) {
            "   ← no fault fails this check: it may not be able to fail"
        } else {
            ""
        };
        let _ = writeln!(s, "  {:>2}  {id}{never}", i + 1);
    }
    let width = v.faults.iter().map(|f| f.fault.chars().count()).max().unwrap_or(5).max(9);
    let _ = write!(s, "\n{:<width$}  ", "fault");
    for i in 0..ids.len() {
        let _ = write!(s, "{}", (i + 1) % 10);
    }
    s.push_str("  lab\n");
    let _ = write!(s, "{:<width$}  ", "reference");
    for id in ids {
        s.push(if v.reference_not_passed.contains(id) { '!' } else { '·' });
    }
    s.push_str(if v.reference_not_passed.is_empty() { "  P    ok\n" } else { "  ?    NOT 100\n" });
    for f in &v.faults {
        let _ = write!(s, "{:<width$}  ", f.fault);
        for (id, outcome) in &f.outcomes {
            let failed_as_mapped = f.expected_fail.contains(id) && outcome == "fail";
            let skipped_as_mapped = f.expected_skip.contains(id) && outcome == "skipped";
            s.push(match (outcome.as_str(), failed_as_mapped, skipped_as_mapped) {
                (_, true, _) => '✗',
                (_, _, true) => 's',
                ("pass", _, _) if f.expected_fail.contains(id) || f.expected_skip.contains(id) => '?',
                ("pass", _, _) => '·',
                _ if f.problems.iter().any(|p| p.starts_with(&format!("{id} "))) => '!',
                _ => '~', // may fail, and did
            });
        }
        // The lab verdict: P passed, F failed; lower case when the map states none here, `!`
        // after it when the map states the other one.
        let mark = match (f.lab, f.expected_lab) {
            (LabVerdict::Pass, None) => "p ",
            (LabVerdict::Fail, None) => "f ",
            (got, Some(want)) if got != want => {
                if got == LabVerdict::Pass {
                    "P!"
                } else {
                    "F!"
                }
            }
            (LabVerdict::Pass, _) => "P ",
            (LabVerdict::Fail, _) => "F ",
        };
        let _ = write!(s, "  {mark}");
        s.push_str(if f.ok() { "   ok\n" } else { "   WRONG\n" });
        for p in &f.problems {
            let _ = writeln!(s, "{:<width$}    {p}", "");
        }
    }
    s.push_str(
        "\n✗ failed as mapped · s skipped as mapped · · passed · ! not mapped · ? mapped but passed · ~ may fail\n\
         lab: F failed · P passed, as the map states · F! P! the map states the other verdict · f p the fault fails no check here\n",
    );
    s
}

/// Which faults of the map to grade.
pub enum Selection {
    /// Those that name a check of the lab (or one it includes).
    Mapped,
    All,
    Named(Vec<String>),
}

/// A reporter that keeps nothing: verify reads the reports the runner returns. On a
/// terminal it draws a bar over the runs (the reference, then fault i of N) with what the
/// run is doing (the check, the seed, the load window); elsewhere each fault ends with a line.
struct Quiet {
    bar: Option<indicatif::ProgressBar>,
}

impl Quiet {
    fn new(runs: usize) -> Quiet {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = indicatif::ProgressStyle::with_template("{spinner} {prefix} [{bar:20}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = indicatif::ProgressBar::new(runs as u64).with_style(style);
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            bar
        });
        Quiet { bar }
    }

    /// The run under way: `reference`, or `fault 3 of 12: name`.
    fn run(&self, label: String) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(label);
            bar.set_message("");
        }
    }

    fn done(&self, line: String) {
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }
}

impl Reporter for Quiet {
    fn on_event(&mut self, event: &Event) {
        let Some(bar) = &self.bar else { return };
        match event {
            Event::CheckStarted { id, .. } => bar.set_message(id.clone()),
            Event::Progress(p) => bar.set_message(p.line()),
            _ => {}
        }
    }
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

pub async fn verify(
    catalog: &Catalog,
    lab: &Lab,
    reference: &Path,
    map: &FaultMap,
    selection: &Selection,
) -> Result<Verification, Error> {
    let config_path = reference.join(crate::config::FILE_NAME);
    let config = Config::load(&config_path)?;
    let opts = RunOptions {
        url: None,
        allow_remote: false,
        pass_mark: catalog.track.pass_mark,
        deadline: std::time::Duration::from_secs(900),
        seed: crate::template::fresh_seed(),
    };
    // One run for the reference and one per fault; how many faults is known below.
    let mut quiet = Quiet::new(1);
    quiet.run("reference".into());
    let reference_report = crate::grade::run_one(lab, &config, &opts, &mut quiet).await?;
    let verdicts = |r: &LabReport| -> Vec<(String, Verdict, String)> {
        r.checks.iter().map(|c| (c.id.clone(), c.outcome.verdict, c.outcome.message.clone())).collect()
    };
    let ids: Vec<String> = reference_report.checks.iter().map(|c| c.id.clone()).collect();
    let included = |f: &Fault| -> bool {
        f.touches(&lab.id) || ids.iter().any(|id| id.contains('/') && f.fails.iter().chain(&f.skips).any(|x| x == id))
    };
    let chosen: Vec<(&String, &Fault)> = map
        .faults
        .iter()
        .filter(|(name, f)| match selection {
            Selection::Mapped => included(f),
            Selection::All => true,
            Selection::Named(names) => names.contains(name),
        })
        .collect();
    if let Selection::Named(names) = selection
        && let Some(missing) = names.iter().find(|n| !map.faults.contains_key(*n))
    {
        return Err(Error::Usage(format!("the fault map has no fault {missing:?}")));
    }
    if let Some(bar) = &quiet.bar {
        bar.set_length(chosen.len() as u64 + 1);
        bar.inc(1);
    }
    let mut faults = Vec::new();
    for (i, (name, fault)) in chosen.iter().enumerate() {
        let started = std::time::Instant::now();
        quiet.run(
            crate::events::Progress {
                unit: crate::events::Unit::Faults,
                label: (*name).clone(),
                done: i as u64 + 1,
                total: Some(chosen.len() as u64),
                elapsed: std::time::Duration::ZERO,
                window: None,
            }
            .line(),
        );
        let report = if fault.in_repo() {
            let copy = changed_copy(reference, fault)?;
            let cfg = Config::load(&copy.path().join(crate::config::FILE_NAME))?;
            crate::grade::run_one(lab, &cfg, &opts, &mut quiet).await?
        } else {
            let var = map.env.as_deref().ok_or_else(|| {
                Error::Usage(format!(
                    "fault {name:?} changes no file, and the fault map names no `env` variable to switch it on"
                ))
            })?;
            let mut cfg = config.clone();
            cfg.service.env.insert(var.to_string(), (*name).clone());
            crate::grade::run_one(lab, &cfg, &opts, &mut quiet).await?
        };
        let result = compare(&lab.id, name, fault, &verdicts(&report), report.score.passed);
        quiet.done(format!(
            "labgrade: fault {}/{} {name}: {} ({:.1} s)",
            i + 1,
            chosen.len(),
            if result.ok() { "as mapped" } else { "NOT as mapped" },
            started.elapsed().as_secs_f64()
        ));
        faults.push(result);
    }
    Ok(Verification {
        lab: lab.id.clone(),
        reference_score: reference_report.score.score,
        reference_not_passed: reference_report
            .checks
            .iter()
            .filter(|c| c.outcome.verdict != Verdict::Pass)
            .map(|c| c.id.clone())
            .collect(),
        never_failed: never_failed(&lab.id, &ids, map),
        faults,
    })
}

/// A copy of the reference with the fault's files removed or replaced. Dependencies
/// (node_modules) are linked, not copied; the progress store and VCS data are left out.
fn changed_copy(reference: &Path, fault: &Fault) -> Result<tempfile::TempDir, Error> {
    let env = |e: std::io::Error| Error::Environment(format!("cannot copy the reference: {e}"));
    // Absolute, so the linked node_modules does not point at itself.
    let reference = &reference.canonicalize().map_err(env)?;
    let dir = tempfile::tempdir().map_err(env)?;
    copy_tree(reference, dir.path()).map_err(env)?;
    for r in &fault.remove {
        std::fs::remove_file(dir.path().join(r))
            .map_err(|e| Error::Usage(format!("fault removes {r}, which the reference does not have: {e}")))?;
    }
    for (target, source) in &fault.write {
        std::fs::copy(reference.join(source), dir.path().join(target))
            .map_err(|e| Error::Usage(format!("fault writes {target} from {source}: {e}")))?;
    }
    Ok(dir)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)?.flatten() {
        let name = e.file_name();
        let (src, dst): (PathBuf, PathBuf) = (e.path(), to.join(&name));
        match name.to_str() {
            Some(".git" | ".labgrade" | "target") => continue,
            Some("node_modules") => {
                std::os::unix::fs::symlink(&src, &dst)?;
                continue;
            }
            _ => {}
        }
        if e.file_type()?.is_dir() {
            std::fs::create_dir_all(&dst)?;
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Read a fault map, with its errors located.
pub fn load_map(path: &Path) -> Result<FaultMap, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read the fault map {}: {e}", path.display())))?;
    let map: FaultMap = toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|s| crate::spec::Location::at(&path.display().to_string(), &text, s.start));
        Error::Usage(match at {
            Some(at) => format!("{at}: {}", e.message()),
            None => format!("{}: {}", path.display(), e.message()),
        })
    })?;
    for (name, fault) in &map.faults {
        if let Some(problem) = fault.verdict_problem() {
            let at = text
                .find(&format!("[faults.{name}]"))
                .map(|i| crate::spec::Location::at(&path.display().to_string(), &text, i).to_string())
                .unwrap_or_else(|| path.display().to_string());
            return Err(Error::Usage(format!("{at}: fault {name:?} {problem}")));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(fails: &[&str]) -> Fault {
        Fault { fails: fails.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn exactly_the_mapped_checks_is_ok_anything_else_is_named() {
        let f = fault(&["01-x/a", "02-y/b"]);
        let got = |a: Verdict, b: Verdict, c: Verdict| {
            vec![
                ("a".to_string(), a, "m".to_string()),
                ("02-y/b".to_string(), b, "m".into()),
                ("c".to_string(), c, "m".into()),
            ]
        };
        let r = compare("01-x", "f", &f, &got(Verdict::Fail, Verdict::Fail, Verdict::Pass), true);
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.expected_fail, vec!["a", "02-y/b"]);
        let r = compare("01-x", "f", &f, &got(Verdict::Pass, Verdict::Fail, Verdict::Fail), true);
        assert_eq!(
            r.problems,
            vec!["a was pass but the map says fail", "c did not pass but the map does not name it — fail: m"]
        );
        // An error where a failure is mapped is not a failure.
        let r = compare("01-x", "f", &f, &got(Verdict::Error, Verdict::Fail, Verdict::Pass), true);
        assert_eq!(r.problems, vec!["a was error but the map says fail"]);
    }

    #[test]
    fn the_table_marks_each_cell_and_flags_checks_no_fault_fails() {
        let map = FaultMap { env: None, faults: [("f".to_string(), fault(&["01-x/a"]))].into() };
        let ids = vec!["a".to_string(), "b".to_string()];
        let f = compare(
            "01-x",
            "f",
            &map.faults["f"],
            &[("a".into(), Verdict::Fail, String::new()), ("b".into(), Verdict::Fail, String::new())],
            false,
        );
        let v = Verification {
            lab: "01-x".into(),
            reference_score: 100.0,
            reference_not_passed: vec![],
            faults: vec![f],
            never_failed: never_failed("01-x", &ids, &map),
        };
        assert_eq!(v.never_failed, vec!["b"]);
        let t = table(&v, &ids);
        assert!(t.contains("   2  b   ← no fault fails this check"), "{t}");
        assert!(t.contains("reference  ··  P    ok\n"), "{t}");
        assert!(t.contains("f          ✗!  f    WRONG\n"), "{t}");
        assert!(!v.ok());
    }

    #[test]
    fn the_lab_verdict_is_held_where_the_fault_fails_a_check() {
        let outcomes = |v: Verdict| vec![("a".to_string(), v, String::new())];
        let mut f = fault(&["01-x/a"]);
        f.verdict = Some(LabVerdict::Fail);
        // A blocking fault that left its lab passing is named.
        let r = compare("01-x", "f", &f, &outcomes(Verdict::Fail), true);
        assert_eq!(r.expected_lab, Some(LabVerdict::Fail));
        assert!(r.problems[0].starts_with("the lab passed, but the map says the fault fails 01-x"), "{:?}", r.problems);
        assert!(compare("01-x", "f", &f, &outcomes(Verdict::Fail), false).ok());
        // A lab it does not touch has no stated verdict.
        let r = compare("02-y", "f", &f, &outcomes(Verdict::Pass), true);
        assert_eq!(r.expected_lab, None);
        assert!(r.ok());
        // `passes` names a lab that still passes, with its reason.
        f.passes.insert("01-x".into(), "only a document".into());
        let r = compare("01-x", "f", &f, &outcomes(Verdict::Fail), false);
        assert_eq!(
            r.problems,
            vec!["the lab failed, but the map says it still passes under the fault: only a document"]
        );
    }

    #[test]
    fn a_fault_must_state_its_verdict_and_a_pass_its_reason() {
        let mut f = fault(&["01-x/a"]);
        assert!(f.verdict_problem().unwrap().contains("states no `verdict`"));
        f.verdict = Some(LabVerdict::Pass);
        assert!(f.verdict_problem().unwrap().contains("without a `why`"));
        f.why = Some("a document".into());
        assert_eq!(f.verdict_problem(), None);
        f.verdict = Some(LabVerdict::Fail);
        f.passes.insert("10-z".into(), " ".into());
        assert!(f.verdict_problem().unwrap().contains("without a reason"));
    }
}
