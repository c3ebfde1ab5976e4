//! `kind = "auth_matrix"`: roles × routes, one request per cell with a token the grader
//! mints for that role (no token for `anonymous`). A denied cell must be 401 (no token) or
//! 403 (a role too low); an allowed cell must get past authorization — any status but
//! 401/403/5xx, since business rules may still refuse (409, 422) or the row be gone (404).
//!
//! `against = "contract"` holds the service to the lab's matrix; `against = "learner"` holds
//! it to the learner's own `authz.toml` — which must also list every route of the lab.

use super::{Ctx, Evidence, GridCell, Outcome};
use crate::request::{AuthSpec, RequestSpec};
use crate::token::TokenSpec;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub const ANONYMOUS: &str = "anonymous";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Columns, in the order cells are sent (lowest first, so a destructive route's owner
    /// cell runs last); `anonymous` sends no token.
    pub roles: Vec<String>,
    pub routes: Vec<Route>,
    #[serde(default)]
    pub against: Against,
    /// The learner's matrix (`against = "learner"`): default path and `[artifacts]` name.
    #[serde(default = "authz_file")]
    pub file: String,
    pub artifact: Option<String>,
    /// The tenant of every minted token.
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Against {
    #[default]
    Contract,
    Learner,
}

fn authz_file() -> String {
    "authz.toml".into()
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `METHOD /template/{id}`, as the learner's authz.toml writes it.
    pub route: String,
    /// The concrete path to request (may use `{{vars}}`); defaults to the template's path.
    pub path: Option<String>,
    pub json: Option<Value>,
    /// Roles the contract allows.
    pub allow: Vec<String>,
}

impl Route {
    fn method_and_template(&self) -> (String, String) {
        let (m, p) = self.route.split_once(' ').unwrap_or(("GET", &self.route));
        (m.trim().to_ascii_uppercase(), p.trim().to_string())
    }
}

impl Spec {
    pub fn against_learner(&self) -> bool {
        self.against == Against::Learner
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.roles.is_empty() || self.routes.is_empty() {
            return Err("an auth_matrix needs roles and routes".into());
        }
        for r in &self.routes {
            let (m, p) = r.method_and_template();
            if !p.starts_with('/') || m.is_empty() {
                return Err(format!("route {:?}: expected \"METHOD /path\"", r.route));
            }
            if let Some(bad) = r.allow.iter().find(|a| !self.roles.contains(a)) {
                return Err(format!("route {:?} allows {bad:?}, which is not one of roles", r.route));
            }
        }
        Ok(())
    }
}

/// What a cell must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Allowed,
    /// 401: no token.
    Unauthenticated,
    /// 403: a valid token, a role too low.
    Forbidden,
}

impl Expected {
    pub fn of(role: &str, allow: &[String]) -> Expected {
        if allow.iter().any(|a| a == role) {
            Expected::Allowed
        } else if role == ANONYMOUS {
            Expected::Unauthenticated
        } else {
            Expected::Forbidden
        }
    }

    pub fn admits(self, status: u16) -> bool {
        match self {
            Expected::Allowed => !matches!(status, 401 | 403) && status < 500,
            Expected::Unauthenticated => status == 401,
            Expected::Forbidden => status == 403,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Expected::Allowed => "allowed",
            Expected::Unauthenticated => "401",
            Expected::Forbidden => "403",
        }
    }
}

/// The learner's `authz.toml`: `[[route]]` with `method`, `path`, `allow`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthzFile {
    #[serde(default)]
    route: Vec<AuthzRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthzRoute {
    method: String,
    path: String,
    allow: Vec<String>,
}

/// Parse the learner's matrix: `METHOD /path` → allowed roles. Pure.
pub fn parse_authz(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let f: AuthzFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for r in f.route {
        let key = format!("{} {}", r.method.trim().to_ascii_uppercase(), r.path.trim());
        if out.insert(key.clone(), r.allow).is_some() {
            return Err(format!("{key} is listed twice"));
        }
    }
    Ok(out)
}

pub async fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    // Whose expectations: the contract's, or the learner's file (missing routes noted).
    let mut missing = Vec::new();
    let allow: Vec<Vec<String>> = match spec.against {
        Against::Contract => spec.routes.iter().map(|r| r.allow.clone()).collect(),
        Against::Learner => {
            let path = ctx.config.artifact_path(spec.artifact.as_deref(), &spec.file);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => return Outcome::fail(format!("cannot read your role matrix {}: {e}", path.display())),
            };
            let file = match parse_authz(&text) {
                Ok(f) => f,
                Err(e) => return Outcome::fail(format!("{} is not a valid role matrix: {e}", path.display())),
            };
            spec.routes
                .iter()
                .map(|r| {
                    let (m, p) = r.method_and_template();
                    file.get(&format!("{m} {p}")).cloned().unwrap_or_else(|| {
                        missing.push(format!("{m} {p}"));
                        r.allow.clone()
                    })
                })
                .collect()
        }
    };

    let mut cells = Vec::new();
    let mut curls = Vec::new();
    let mut wrong = 0;
    for (route, allowed) in spec.routes.iter().zip(&allow) {
        let (method, template) = route.method_and_template();
        let mut row = Vec::new();
        for role in &spec.roles {
            let auth = if role == ANONYMOUS {
                AuthSpec::Flag(false)
            } else {
                let mut t = TokenSpec { role: role.clone(), ..Default::default() };
                if let Some(tenant) = &spec.tenant {
                    t.tenant = tenant.clone();
                }
                AuthSpec::Token(t)
            };
            let req = RequestSpec {
                method: method.clone(),
                path: route.path.clone().unwrap_or_else(|| template.clone()),
                json: route.json.clone(),
                auth: Some(auth),
                ..RequestSpec::default()
            };
            let prepared = match ctx.prepare(&req) {
                Ok(p) => p,
                Err(o) => return o,
            };
            let expected = Expected::of(role, allowed);
            let (actual, ok) = match prepared.send(&ctx.client).await {
                Ok(r) => (r.status.to_string(), expected.admits(r.status)),
                Err(e) => (format!("no answer: {e}"), false),
            };
            if !ok {
                wrong += 1;
                curls.push(format!("# {} as {role}: expected {}, got {actual}", route.route, expected.label()));
                curls.push(prepared.curl());
            }
            row.push(GridCell { expected: expected.label().into(), actual, ok });
        }
        cells.push(row);
    }
    let grid =
        Evidence::Grid { rows: spec.routes.iter().map(|r| r.route.clone()).collect(), cols: spec.roles.clone(), cells };
    let total = spec.routes.len() * spec.roles.len();
    let whose = if spec.against == Against::Learner { "your authz.toml" } else { "the lab's role matrix" };
    if wrong == 0 && missing.is_empty() {
        return Outcome::pass(format!("all {total} cells match {whose}")).with(grid);
    }
    let mut msg = Vec::new();
    if !missing.is_empty() {
        msg.push(format!("{} does not list {}", spec.file, missing.join(", ")));
    }
    if wrong > 0 {
        msg.push(format!("{wrong} of {total} cells differ from {whose}"));
    }
    let mut o = Outcome::fail(msg.join("; ")).with(grid);
    if !curls.is_empty() {
        o = o.with(Evidence::Output { label: "reproduce the wrong cells".into(), lines: curls });
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cells_want_401_403_or_past_authorization() {
        let allow = roles(&["accountant", "admin", "owner"]);
        assert_eq!(Expected::of("anonymous", &allow), Expected::Unauthenticated);
        assert_eq!(Expected::of("viewer", &allow), Expected::Forbidden);
        assert_eq!(Expected::of("owner", &allow), Expected::Allowed);
        assert!(Expected::Allowed.admits(201) && Expected::Allowed.admits(409) && Expected::Allowed.admits(404));
        assert!(!Expected::Allowed.admits(403) && !Expected::Allowed.admits(401) && !Expected::Allowed.admits(500));
        assert!(
            Expected::Forbidden.admits(403) && !Expected::Forbidden.admits(404) && !Expected::Forbidden.admits(200)
        );
        assert!(Expected::Unauthenticated.admits(401) && !Expected::Unauthenticated.admits(403));
    }

    #[test]
    fn learner_matrix_parses_and_refuses_duplicates() {
        let m = parse_authz("[[route]]\nmethod = \"get\"\npath = \"/invoices/{id}\"\nallow = [\"viewer\"]\n").unwrap();
        assert_eq!(m["GET /invoices/{id}"], vec!["viewer"]);
        let dup = "[[route]]\nmethod = \"GET\"\npath = \"/x\"\nallow = []\n[[route]]\nmethod = \"GET\"\npath = \"/x\"\nallow = []\n";
        assert!(parse_authz(dup).unwrap_err().contains("twice"));
        assert!(parse_authz("[[route]]\nmethod = \"GET\"\n").unwrap_err().contains("missing field"));
    }
}
