//! The real binary against the real reference service: it scores 100, and each fault mode
//! fails exactly the checks `faults.toml` maps it to — no more, no fewer.

mod common;

use common::*;
use std::collections::BTreeMap;

const LABS: &[&str] = &[
    "01-runtime",
    "02-http-contracts",
    "03-config-validation",
    "04-persistence",
    "05-indexing",
    "06-auth",
    "07-async",
    "08-observability",
    "09-monitoring",
];

#[derive(serde::Deserialize)]
struct FaultMap {
    faults: BTreeMap<String, Fault>,
}

#[derive(serde::Deserialize)]
struct Fault {
    fails: Vec<String>,
    #[serde(default)]
    skips: Vec<String>,
    #[serde(default)]
    may_fail: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    write: BTreeMap<String, String>,
}

impl Fault {
    /// It breaks the learner's repo (files), not the running service.
    fn in_repo(&self) -> bool {
        !self.remove.is_empty() || !self.write.is_empty()
    }

    fn touches_any(&self, labs: &[&str]) -> bool {
        labs.iter().any(|l| self.touches(l))
    }

    fn touches(&self, lab: &str) -> bool {
        let prefix = format!("{lab}/");
        self.fails.iter().chain(&self.skips).chain(&self.may_fail).any(|c| c.starts_with(&prefix))
    }
}

fn fault_map() -> FaultMap {
    toml::from_str(&std::fs::read_to_string(fixture().join("faults.toml")).unwrap()).unwrap()
}

/// Grade and assert that no process of the run survives it. A repo fault is graded on a
/// changed copy of the reference; a service fault through FIXTURE_FAULTS.
fn grade_clean(lab: &str, faults: &str, repo: Option<&Fault>) -> Run {
    let copy = repo.map(|f| repo_copy_changed(&f.remove, &f.write));
    let repo = copy.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_else(fixture);
    let _guard = serial();
    let run = grade(lab, faults, &repo, &[]);
    let marker_port =
        run.json()["target"].as_str().unwrap_or("").rsplit(':').next().unwrap_or("").trim_end_matches('/').to_string();
    let left = processes_with_env(&format!("LEDGER_PORT={marker_port}"));
    assert!(left.is_empty(), "processes left behind after grading {lab} with {faults:?}: {left:?}");
    run
}

fn reference_scores_100(lab: &str) {
    let run = grade_clean(lab, "", None);
    let report = run.json();
    assert_eq!(not_passed(&report), Vec::<String>::new(), "reference must pass every check of {lab}:\n{}", run.stdout);
    assert_eq!(report["score"], 100.0);
    assert_eq!(report["passed"], true);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
}

#[test]
fn lab01_reference_scores_100() {
    reference_scores_100("01-runtime");
}

#[test]
fn lab02_reference_scores_100() {
    reference_scores_100("02-http-contracts");
}

/// For every fault (that `which` selects): grade `lab`, and compare the checks that did not
/// pass with the map.
fn faults_fail_exactly_their_checks(lab: &str, which: &dyn Fn(&Fault) -> bool) {
    let mut wrong = Vec::new();
    let mine = |list: &[String]| -> Vec<String> {
        let mut v: Vec<String> =
            list.iter().filter_map(|f| f.strip_prefix(&format!("{lab}/")).map(str::to_string)).collect();
        v.sort();
        v
    };
    for (name, fault) in fault_map().faults.into_iter().filter(|(_, f)| which(f)) {
        let run = if fault.in_repo() { grade_clean(lab, "", Some(&fault)) } else { grade_clean(lab, &name, None) };
        let report = run.json();
        let (fails, skips, may_fail) = (mine(&fault.fails), mine(&fault.skips), mine(&fault.may_fail));
        let mut expected: Vec<String> = fails.iter().chain(&skips).cloned().collect();
        expected.sort();
        let mut actual: Vec<String> = not_passed(&report).into_iter().filter(|c| !may_fail.contains(c)).collect();
        actual.sort();
        if actual != expected {
            wrong.push(format!("{name}: expected {expected:?} not to pass, got {actual:?}"));
        }
        // Each mapped check must really fail (not error out), each skip really be skipped.
        for c in report["checks"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap().to_string();
            let want = if fails.contains(&id) {
                "fail"
            } else if skips.contains(&id) {
                "skipped"
            } else {
                continue;
            };
            if c["outcome"] != want {
                wrong.push(format!("{name}: {id} was {} ({}), expected {want}", c["outcome"], c["message"]));
            }
        }
        let expect_code = if report["passed"] == true { 0 } else { 1 };
        assert_eq!(run.code, expect_code, "{name}: exit code disagrees with the report; stderr: {}", run.stderr);
    }
    assert!(wrong.is_empty(), "fault map of {lab} violated:\n{}", wrong.join("\n"));
}

/// The labs that grade every fault of the course so far.
const EARLY: &[&str] = &[
    "01-runtime",
    "02-http-contracts",
    "03-config-validation",
    "04-persistence",
    "05-indexing",
    "06-auth",
    "07-async",
];

/// The quick labs (01, 02, 04, 06: a few seconds a run) are held to every fault mapped into
/// labs 01–07, so each of those faults is shown not to break anything it is not mapped to.
/// The slow labs (03, 05, 07, 09: learner tests, a million seeded rows, load) are held to
/// the faults mapped into them. `scripts/fault-matrix` grades every fault against every lab,
/// on demand (LABGRADE_FULL_FAULT_MATRIX=1).
fn all(f: &Fault) -> bool {
    full_matrix() || f.touches_any(EARLY)
}

/// The faults mapped into `lab` (every fault under the full matrix).
fn own(lab: &'static str) -> impl Fn(&Fault) -> bool {
    move |f| full_matrix() || f.touches(lab)
}

fn full_matrix() -> bool {
    std::env::var_os("LABGRADE_FULL_FAULT_MATRIX").is_some()
}

#[test]
fn lab01_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("01-runtime", &all);
}

#[test]
fn lab02_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("02-http-contracts", &all);
}

#[test]
fn lab03_reference_scores_100() {
    reference_scores_100("03-config-validation");
}

#[test]
fn lab03_faults_fail_exactly_their_mapped_checks() {
    // Each run starts the service several times and runs the learner's own test suite.
    faults_fail_exactly_their_checks("03-config-validation", &own("03-config-validation"));
}

#[test]
fn lab04_reference_scores_100() {
    reference_scores_100("04-persistence");
}

#[test]
fn lab04_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("04-persistence", &all);
}

#[test]
fn lab05_reference_scores_100() {
    reference_scores_100("05-indexing");
}

/// Lab 05 seeds a million rows (~15 s a run); lab 04 exercises the same endpoints in a
/// second and is held to every fault.
#[test]
fn lab05_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("05-indexing", &own("05-indexing"));
}

#[test]
fn lab06_reference_scores_100() {
    reference_scores_100("06-auth");
}

#[test]
fn lab06_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("06-auth", &all);
}

#[test]
fn lab07_reference_scores_100() {
    reference_scores_100("07-async");
}

/// Lab 07 seeds 200,000 rows and moves 32 MiB each way (~9 s a run).
#[test]
fn lab07_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("07-async", &own("07-async"));
}

#[test]
fn lab08_reference_scores_100() {
    reference_scores_100("08-observability");
}

/// Lab 08 is held to the faults mapped into 08 or 09 (the service faults of earlier labs
/// touch neither logs nor metrics; the full matrix checks that on demand).
#[test]
fn lab08_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("08-observability", &|f| {
        full_matrix() || f.touches_any(&["08-observability", "09-monitoring"])
    });
}

#[test]
fn lab09_reference_scores_100() {
    reference_scores_100("09-monitoring");
}

#[test]
fn lab09_faults_fail_exactly_their_mapped_checks() {
    faults_fail_exactly_their_checks("09-monitoring", &own("09-monitoring"));
}

#[test]
fn every_mapped_check_exists_and_every_check_is_failed_by_some_fault() {
    let map = fault_map();
    let mut failable = std::collections::BTreeSet::new();
    let mut named = std::collections::BTreeSet::new();
    for f in map.faults.values() {
        failable.extend(f.fails.iter().cloned());
        named.extend(f.fails.iter().chain(&f.skips).chain(&f.may_fail).cloned());
    }
    for lab in LABS {
        let text = std::fs::read_to_string(root().join("labs").join(lab).join("lab.toml")).unwrap();
        let spec: toml::Value = toml::from_str(&text).unwrap();
        let ids: Vec<String> =
            spec["check"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
        for id in &ids {
            assert!(
                failable.contains(&format!("{lab}/{id}")),
                "no fault fails {lab}/{id}: a check no fault can fail is a suspect check"
            );
        }
        for f in named.iter().filter(|f| f.starts_with(&format!("{lab}/"))) {
            assert!(
                ids.iter().any(|id| f.ends_with(&format!("/{id}"))),
                "faults.toml names {f}, which {lab} does not define"
            );
        }
    }
}

#[test]
fn blocking_checksum_fails_lab01_and_shows_the_measured_p95() {
    let run = grade_clean("1", "blocking-checksum", None);
    assert_eq!(run.code, 1);
    let report = run.json();
    let probe = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "checksum-health-under-load").unwrap();
    assert_eq!(probe["outcome"], "fail");
    let latency =
        probe["evidence"].as_array().unwrap().iter().find(|e| e["type"] == "latency").expect("latency evidence");
    let p95 = latency["p95_ms"].as_f64().unwrap();
    assert!(p95 > 50.0, "p95 {p95}");
    assert!(latency["samples"].as_u64().unwrap() >= 90);
    assert!(probe["message"].as_str().unwrap().contains("p95 was"), "{}", probe["message"]);
}
