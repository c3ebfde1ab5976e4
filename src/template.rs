//! `{{name}}` templating in check requests and expectations: captured variables, plus
//! `{{uuid}}` (a fresh random UUID each time it appears). Pure: same input, same output
//! (but for `uuid`).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable {{{{{0}}}}}; it is neither built in (uuid) nor captured by an earlier check")]
    Unknown(String),
    #[error("unclosed {{{{ in {0:?}")]
    Unclosed(String),
}

pub type Vars = BTreeMap<String, String>;

/// Replace every `{{name}}` in `text`.
pub fn render(text: &str, vars: &Vars) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(TemplateError::Unclosed(text.to_string()));
        };
        let name = after[..close].trim();
        match (name, vars.get(name)) {
            (_, Some(v)) => out.push_str(v),
            ("uuid", None) => out.push_str(&uuid::Uuid::new_v4().to_string()),
            (_, None) => return Err(TemplateError::Unknown(name.to_string())),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Render every string inside a JSON value.
pub fn render_json(v: &serde_json::Value, vars: &Vars) -> Result<serde_json::Value, TemplateError> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => Value::String(render(s, vars)?),
        Value::Array(a) => Value::Array(a.iter().map(|x| render_json(x, vars)).collect::<Result<_, _>>()?),
        Value::Object(o) => Value::Object(
            o.iter().map(|(k, x)| Ok((k.clone(), render_json(x, vars)?))).collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("id".to_string(), "42".to_string())].into()
    }

    #[test]
    fn replaces_known_variables() {
        assert_eq!(render("/invoices/{{id}}", &vars()).unwrap(), "/invoices/42");
        assert_eq!(render("/invoices/{{ id }}/x", &vars()).unwrap(), "/invoices/42/x");
        assert_eq!(render("no templates", &vars()).unwrap(), "no templates");
    }

    #[test]
    fn uuid_is_fresh_each_time() {
        let a = render("{{uuid}}", &vars()).unwrap();
        let b = render("{{uuid}}", &vars()).unwrap();
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
    }

    #[test]
    fn captured_value_shadows_builtin() {
        let mut v = vars();
        v.insert("uuid".into(), "fixed".into());
        assert_eq!(render("{{uuid}}", &v).unwrap(), "fixed");
    }

    #[test]
    fn unknown_and_unclosed_are_errors() {
        assert_eq!(render("/x/{{nope}}", &vars()), Err(TemplateError::Unknown("nope".into())));
        assert!(matches!(render("/x/{{id", &vars()), Err(TemplateError::Unclosed(_))));
    }

    #[test]
    fn renders_inside_json() {
        let v = serde_json::json!({"a": ["{{id}}", 1], "b": {"c": "x{{id}}"}});
        let r = render_json(&v, &vars()).unwrap();
        assert_eq!(r, serde_json::json!({"a": ["42", 1], "b": {"c": "x42"}}));
    }
}
