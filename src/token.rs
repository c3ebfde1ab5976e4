//! Bearer tokens the grader mints itself: HS256 signed with the learner's JWT_SECRET, so
//! later labs' auth requirements never break earlier labs' checks.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
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
    /// Send a token a service must refuse instead of a good one.
    pub attack: Option<Attack>,
}

/// Bad tokens every service must answer with 401.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum Attack {
    /// Signed correctly, but `exp` is a minute in the past.
    Expired,
    /// Signed with another secret.
    WrongSignature,
    /// `{"alg": "none"}` and no signature at all.
    AlgNone,
    /// Not a JWT.
    Malformed,
    /// Signed correctly, without a `role` claim.
    MissingRole,
}

impl Default for TokenSpec {
    fn default() -> Self {
        TokenSpec {
            role: default_role(),
            tenant: default_tenant(),
            sub: default_sub(),
            expires_in: default_ttl(),
            attack: None,
        }
    }
}

impl TokenSpec {
    /// The `labgrade token` arguments that mint this kind of token (empty for the default),
    /// so a curl line can reproduce a request without printing its token.
    pub fn cli_args(&self) -> String {
        let d = TokenSpec::default();
        let mut args = Vec::new();
        if self.role != d.role {
            args.push(format!("--role {}", self.role));
        }
        if self.tenant != d.tenant {
            args.push(format!("--tenant {}", self.tenant));
        }
        if self.expires_in != d.expires_in {
            args.push(format!("--expires-in {}", self.expires_in));
        }
        if let Some(a) = self.attack {
            args.push(format!("--attack {}", a.name()));
        }
        args.join(" ")
    }
}

impl Attack {
    pub fn name(self) -> &'static str {
        match self {
            Attack::Expired => "expired",
            Attack::WrongSignature => "wrong-signature",
            Attack::AlgNone => "alg-none",
            Attack::Malformed => "malformed",
            Attack::MissingRole => "missing-role",
        }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    tenant: &'a str,
    iat: i64,
    exp: i64,
}

/// Sign a token for `spec` with `secret` (or build the bad token its `attack` names).
pub fn mint(secret: &str, spec: &TokenSpec) -> Result<String, String> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let exp = if spec.attack == Some(Attack::Expired) { now - 60 } else { now + spec.expires_in };
    let role = (spec.attack != Some(Attack::MissingRole)).then_some(spec.role.as_str());
    let claims = Claims { sub: &spec.sub, role, tenant: &spec.tenant, iat: now, exp };
    let b64 = |v: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    match spec.attack {
        Some(Attack::Malformed) => return Ok("not-a.jwt".into()),
        Some(Attack::AlgNone) => {
            let payload = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
            return Ok(format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(&payload)));
        }
        _ => {}
    }
    let key = if spec.attack == Some(Attack::WrongSignature) {
        format!("{secret}-but-not-the-service-secret")
    } else {
        secret.to_string()
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
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

    fn claims_of(token: &str) -> serde_json::Value {
        use base64::Engine;
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn each_attack_breaks_exactly_one_thing() {
        let attack = |a| mint("s3cret", &TokenSpec { attack: Some(a), ..Default::default() }).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.required_spec_claims = ["exp".to_string()].into();
        v.leeway = 0;
        let key = jsonwebtoken::DecodingKey::from_secret(b"s3cret");
        let verify = |t: &str| jsonwebtoken::decode::<serde_json::Value>(t, &key, &v).map(|d| d.claims);

        let expired = attack(Attack::Expired);
        assert!(matches!(verify(&expired).unwrap_err().kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature));
        assert!(matches!(
            verify(&attack(Attack::WrongSignature)).unwrap_err().kind(),
            jsonwebtoken::errors::ErrorKind::InvalidSignature
        ));
        let none = attack(Attack::AlgNone);
        assert!(none.ends_with('.'), "{none}");
        assert_eq!(claims_of(&none)["role"], "owner");
        assert!(verify(&none).is_err());
        assert!(verify(&attack(Attack::Malformed)).is_err());
        let no_role = verify(&attack(Attack::MissingRole)).unwrap();
        assert!(no_role.get("role").is_none() && no_role["tenant"] == "tenant-a");
    }
}
