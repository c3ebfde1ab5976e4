//! The track's assessment lab (`assessment = "10-capstone"` in track.toml) is what keeps a
//! certificate honest after the lessons: it must re-run every blocking check of every other
//! lab, so a regression in a later lesson still locks the certificate. Pure: lab texts in,
//! the blocking checks it leaves out.

use std::collections::BTreeSet;

/// The blocking checks (`LAB/ID`) of `labs` (id, lab.toml text) that the assessment lab does
/// not include. Labs that do not parse define nothing here (their own lint reports them).
pub fn gaps(assessment: &str, labs: &[(String, String)]) -> Vec<String> {
    let table = |text: &str| -> toml::Table { toml::from_str(text).unwrap_or_default() };
    let Some((_, text)) = labs.iter().find(|(id, _)| id == assessment) else { return Vec::new() };
    let mut included = BTreeSet::new();
    for inc in table(text).get("include").and_then(|v| v.as_array()).into_iter().flatten() {
        let lab = inc.get("lab").and_then(|v| v.as_str()).unwrap_or_default();
        for id in inc.get("checks").and_then(|v| v.as_array()).into_iter().flatten().filter_map(|v| v.as_str()) {
            included.insert(format!("{lab}/{id}"));
        }
    }
    let mut missing = Vec::new();
    for (lab, text) in labs.iter().filter(|(id, _)| id != assessment) {
        for check in table(text).get("check").and_then(|v| v.as_array()).into_iter().flatten() {
            let blocking =
                ["blocking", "required"].iter().any(|k| check.get(*k).and_then(|v| v.as_bool()) == Some(true));
            let id = check.get("id").and_then(|v| v.as_str()).unwrap_or_default();
            if blocking && !included.contains(&format!("{lab}/{id}")) {
                missing.push(format!("{lab}/{id}"));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labs() -> Vec<(String, String)> {
        vec![
            (
                "01-a".into(),
                "[[check]]\nid = \"x\"\nblocking = true\n[[check]]\nid = \"y\"\n[[check]]\nid = \"z\"\nrequired = true\n"
                    .into(),
            ),
            ("10-cap".into(), "[[include]]\nlab = \"01-a\"\nchecks = [\"x\", \"y\"]\n".into()),
        ]
    }

    #[test]
    fn names_each_blocking_check_the_assessment_leaves_out() {
        assert_eq!(gaps("10-cap", &labs()), vec!["01-a/z"]);
    }

    #[test]
    fn an_assessment_that_re_runs_them_all_has_no_gaps() {
        let mut l = labs();
        l[1].1 = "[[include]]\nlab = \"01-a\"\nchecks = [\"x\", \"z\"]\n".into();
        assert!(gaps("10-cap", &l).is_empty());
    }

    #[test]
    fn the_shipped_capstone_re_runs_every_blocking_check() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs");
        let labs: Vec<(String, String)> = super::super::lab_folders(&dir)
            .into_iter()
            .map(|id| {
                let text = std::fs::read_to_string(dir.join(&id).join("lab.toml")).unwrap();
                (id, text)
            })
            .collect();
        assert_eq!(gaps("10-capstone", &labs), Vec::<String>::new());
    }
}
