//! The progress store: every graded lab's attempt, kept in the learner's repo under
//! `.labgrade/progress.json` so `labgrade status` can show the track. Writes are atomic; a
//! file that cannot be read is moved aside and reported, never silently reset.

use crate::score::{self, TrackScore};
use crate::spec::Track;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DIR: &str = ".labgrade";
const FILE: &str = "progress.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub lab: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub score: f64,
    pub passed: bool,
    pub grader_version: String,
    pub spec_sha256: String,
    pub duration_ms: u64,
    /// Blocking checks that did not pass: each alone kept the lab from passing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_blocking: Vec<String>,
    /// Every check that did not pass (None: recorded by a labgrade that did not keep them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_passed: Option<Vec<String>>,
    /// A partial run (`check --only`, `--failed`, `watch --failed-first`): only the checks
    /// in `ran` ran. It never counts toward the best score, the track or the certificate;
    /// its `score` and `passed` are 0 and false, so that a labgrade from before partial runs
    /// does not count it either.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ran: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub version: u32,
    pub attempts: Vec<Attempt>,
}

/// Where one lab stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    Pending,
    Passed(f64),
    Failed(f64),
}

impl Progress {
    /// The attempts of a lab that count: whole-lab runs, never partial ones.
    fn counted<'a>(&'a self, lab: &'a str) -> impl DoubleEndedIterator<Item = &'a Attempt> + 'a {
        self.attempts.iter().filter(move |a| a.lab == lab && !a.partial)
    }

    /// The best attempt of a lab (highest score; a pass wins a tie).
    pub fn best(&self, lab: &str) -> Option<(f64, bool)> {
        score::best_attempt(self.counted(lab).map(|a| (a.score, a.passed)))
    }

    /// The attempt that is the best one (the latest of equals), for what it failed.
    pub fn best_attempt(&self, lab: &str) -> Option<&Attempt> {
        let (score, passed) = self.best(lab)?;
        self.attempts.iter().rev().find(|a| a.lab == lab && !a.partial && a.score == score && a.passed == passed)
    }

    /// The checks of `lab` that did not pass as of its last recorded runs: those of the last
    /// whole-lab attempt, updated by the partial runs after it (a check that passed in one
    /// is no longer failing; one that failed is). Err says why it cannot tell.
    pub fn failing(&self, lab: &str) -> Result<Vec<String>, String> {
        let of_lab: Vec<&Attempt> = self.attempts.iter().filter(|a| a.lab == lab).collect();
        if of_lab.is_empty() {
            return Err(format!("no attempt of lab {lab} is recorded yet"));
        }
        let start = of_lab.iter().rposition(|a| !a.partial);
        let mut failing: Vec<String> = match start {
            Some(i) => of_lab[i].not_passed.clone().ok_or_else(|| {
                format!(
                    "the last attempt of lab {lab} was recorded by a labgrade that did not keep which checks failed"
                )
            })?,
            None => Vec::new(),
        };
        for a in &of_lab[start.map_or(0, |i| i + 1)..] {
            let not_passed = a.not_passed.as_deref().unwrap_or_default();
            failing.retain(|c| !a.ran.contains(c) || not_passed.contains(c));
            for c in not_passed {
                if !failing.contains(c) {
                    failing.push(c.clone());
                }
            }
        }
        Ok(failing)
    }

    pub fn standing(&self, lab: &str) -> Standing {
        match self.best(lab) {
            None => Standing::Pending,
            Some((s, true)) => Standing::Passed(s),
            Some((s, false)) => Standing::Failed(s),
        }
    }

    /// The track from each lab's best attempt.
    pub fn track(&self, track: &Track) -> TrackScore {
        let best: Vec<_> = track.labs.iter().map(|l| self.best(&l.id)).collect();
        score::track(&best, track.pass_mark)
    }
}

/// The store of one learner repo.
pub struct Store {
    path: PathBuf,
}

/// What loading found besides the attempts: a damaged file that was moved aside.
#[derive(Debug)]
pub struct SetAside {
    pub file: PathBuf,
    pub moved_to: PathBuf,
    pub reason: String,
}

impl Store {
    pub fn in_repo(repo: &Path) -> Store {
        Store { path: repo.join(DIR).join(FILE) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The attempts so far (none when there is no file yet). A file that cannot be parsed
    /// is renamed to `progress.json.corrupt-<unix time>` and reported, so nothing is lost.
    pub fn load(&self) -> std::io::Result<(Progress, Option<SetAside>)> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Progress { version: VERSION, attempts: Vec::new() }, None));
            }
            Err(e) => return Err(e),
        };
        match parse(&bytes) {
            Ok(p) => Ok((p, None)),
            Err(reason) => {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let moved_to = self.path.with_file_name(format!("{FILE}.corrupt-{stamp}"));
                std::fs::rename(&self.path, &moved_to)?;
                let aside = SetAside { file: self.path.clone(), moved_to, reason };
                Ok((Progress { version: VERSION, attempts: Vec::new() }, Some(aside)))
            }
        }
    }

    /// Add an attempt and write the file atomically (a crash leaves the old file or the new
    /// one, never half of one).
    pub fn record(&self, attempt: Attempt) -> std::io::Result<Option<SetAside>> {
        let (mut p, aside) = self.load()?;
        p.attempts.push(attempt);
        let mut text = serde_json::to_string_pretty(&p).map_err(std::io::Error::other)?;
        text.push('\n');
        crate::report::json::write_atomic(&self.path, text.as_bytes())?;
        // The store is per machine, not part of the learner's submission.
        let ignore = self.path.with_file_name(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(ignore, "*\n");
        }
        Ok(aside)
    }
}

/// Parse the store's text: what it must hold, or why it is not a progress file. Pure.
pub fn parse(bytes: &[u8]) -> Result<Progress, String> {
    let p: Progress = serde_json::from_slice(bytes).map_err(|e| format!("not a progress file: {e}"))?;
    if p.version != VERSION {
        return Err(format!("progress file version {} (this labgrade writes version {VERSION})", p.version));
    }
    Ok(p)
}

/// Now as RFC 3339 UTC (seconds), without a date crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc3339(secs)
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ`, by the seed generator's calendar. Pure.
pub fn rfc3339(secs: u64) -> String {
    let micros = i64::try_from(secs).unwrap_or(i64::MAX / 1_000_000) * 1_000_000;
    let t = crate::db::generate::format_micros(micros);
    format!("{}Z", t[..19].replacen(' ', "T", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(lab: &str, score: f64, passed: bool) -> Attempt {
        Attempt {
            lab: lab.into(),
            at: "2026-11-26T03:00:00Z".into(),
            score,
            passed,
            grader_version: "0.1.0".into(),
            spec_sha256: "ab".into(),
            duration_ms: 10,
            ..Default::default()
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn partial(lab: &str, ran: &[&str], not_passed: &[&str]) -> Attempt {
        Attempt { partial: true, ran: strings(ran), not_passed: Some(strings(not_passed)), ..attempt(lab, 0.0, false) }
    }

    #[test]
    fn a_partial_run_never_counts_as_an_attempt() {
        let mut p = Progress { version: VERSION, attempts: vec![attempt("01", 60.0, false)] };
        p.attempts.push(Attempt { score: 100.0, passed: true, ..partial("01", &["a"], &[]) });
        assert_eq!(p.standing("01"), Standing::Failed(60.0));
        assert_eq!(p.best_attempt("01").map(|a| a.score), Some(60.0));
        p.attempts = vec![partial("02", &["a"], &[])];
        assert_eq!(p.standing("02"), Standing::Pending);
        // Written as partial, read back as partial; an old entry reads as a whole run.
        let text = serde_json::to_string(&p.attempts[0]).unwrap();
        assert!(text.contains("\"partial\":true"), "{text}");
        let old: Attempt = serde_json::from_str(
            r#"{"lab":"01","at":"x","score":1.0,"passed":false,"grader_version":"0","spec_sha256":"","duration_ms":1}"#,
        )
        .unwrap();
        assert!(!old.partial && old.not_passed.is_none());
    }

    #[test]
    fn failing_follows_the_last_whole_run_and_the_partial_runs_after_it() {
        let whole = |np: &[&str]| Attempt { not_passed: Some(strings(np)), ..attempt("01", 50.0, false) };
        let mut p = Progress { version: VERSION, attempts: vec![whole(&["x"]), whole(&["a", "b"])] };
        assert_eq!(p.failing("01").unwrap(), ["a", "b"]);
        p.attempts.push(partial("01", &["a", "b"], &["b"]));
        assert_eq!(p.failing("01").unwrap(), ["b"]);
        p.attempts.push(partial("01", &["c"], &["c"]));
        assert_eq!(p.failing("01").unwrap(), ["b", "c"]);
        p.attempts.push(whole(&[]));
        assert!(p.failing("01").unwrap().is_empty());
        assert!(p.failing("02").unwrap_err().contains("no attempt of lab 02"));
        p.attempts.push(attempt("01", 50.0, false));
        assert!(p.failing("01").unwrap_err().contains("did not keep which checks failed"));
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_656_225), "2026-11-26T01:23:45Z");
    }

    #[test]
    fn the_best_attempt_counts() {
        let p = Progress {
            version: VERSION,
            attempts: vec![attempt("01", 60.0, false), attempt("01", 95.0, true), attempt("01", 70.0, false)],
        };
        assert_eq!(p.standing("01"), Standing::Passed(95.0));
        assert_eq!(p.standing("02"), Standing::Pending);
    }

    #[test]
    fn records_atomically_and_keeps_a_corrupt_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_repo(dir.path());
        assert!(store.record(attempt("01", 80.0, true)).unwrap().is_none());
        assert!(store.record(attempt("02", 50.0, false)).unwrap().is_none());
        let (p, _) = store.load().unwrap();
        assert_eq!(p.attempts.len(), 2);
        assert!(dir.path().join(".labgrade/.gitignore").exists());

        std::fs::write(store.path(), b"{ half a file").unwrap();
        let aside = store.record(attempt("03", 100.0, true)).unwrap().expect("reported");
        assert!(aside.reason.contains("not a progress file"), "{}", aside.reason);
        assert_eq!(std::fs::read(&aside.moved_to).unwrap(), b"{ half a file");
        let (p, _) = store.load().unwrap();
        assert_eq!(p.attempts, vec![attempt("03", 100.0, true)]);
        assert!(parse(br#"{"version": 9, "attempts": []}"#).unwrap_err().contains("version 9"));
    }
}
