//! Bearer tokens the grader mints itself: HS256 signed with the learner's JWT_SECRET, so
//! later labs' auth requirements never break earlier labs' checks.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    #[serde(default = "default_sub")]
    pub sub: String,
    /// Seconds from now until expiry (negative: already expired).
    #[serde(default = "default_ttl")]
    pub expires_in: i64,
}

impl Default for TokenSpec {
    fn default() -> Self {
        TokenSpec { role: default_role(), tenant: default_tenant(), sub: default_sub(), expires_in: default_ttl() }
    }
}

fn default_role() -> String {
    "owner".into()
}
fn default_tenant() -> String {
    "tenant-a".into()
}
fn default_sub() -> String {
    "labgrade".into()
}
fn default_ttl() -> i64 {
    3600
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    role: &'a str,
    tenant: &'a str,
    iat: i64,
    exp: i64,
}

/// Sign a token for `spec` with `secret`.
pub fn mint(secret: &str, spec: &TokenSpec) -> Result<String, String> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let claims =
        Claims { sub: &spec.sub, role: &spec.role, tenant: &spec.tenant, iat: now, exp: now + spec.expires_in };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("could not sign a token: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies_with_the_secret_only() {
        let t = mint("s3cret", &TokenSpec::default()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.required_spec_claims = ["exp".to_string()].into();
        let ok = jsonwebtoken::decode::<serde_json::Value>(&t, &jsonwebtoken::DecodingKey::from_secret(b"s3cret"), &v)
            .unwrap();
        assert_eq!(ok.claims["role"], "owner");
        assert_eq!(ok.claims["tenant"], "tenant-a");
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&t, &jsonwebtoken::DecodingKey::from_secret(b"other"), &v)
                .is_err()
        );
    }
}
