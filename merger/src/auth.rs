//! Who is calling: bearer tokens (Alertmanager's `http_config.authorization`) or basic auth
//! (user = token name, password = token), compared in constant time.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use smallfiles_cluster::config::Secret;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Trigger,
    Operator,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
}

pub struct Authenticator {
    tokens: Vec<(String, Secret, Role)>,
}

fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

impl Authenticator {
    pub fn new(tokens: Vec<(String, Secret, Role)>) -> Authenticator {
        Authenticator { tokens }
    }

    /// Checks an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Identity, AuthFailure> {
        let header = header
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(AuthFailure::Missing)?;
        let (scheme, value) = header.split_once(' ').ok_or(AuthFailure::Invalid)?;
        let value = value.trim();
        let mut found = None;
        if scheme.eq_ignore_ascii_case("bearer") {
            // Every token is compared, so the time taken does not tell which one matched.
            for (name, secret, role) in &self.tokens {
                if same(value.as_bytes(), secret.expose().as_bytes()) {
                    found = Some(Identity {
                        name: name.clone(),
                        role: *role,
                    });
                }
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| AuthFailure::Invalid)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AuthFailure::Invalid)?;
            let (user, password) = decoded.split_once(':').ok_or(AuthFailure::Invalid)?;
            for (name, secret, role) in &self.tokens {
                let ok = same(user.as_bytes(), name.as_bytes())
                    & same(password.as_bytes(), secret.expose().as_bytes());
                if ok {
                    found = Some(Identity {
                        name: name.clone(),
                        role: *role,
                    });
                }
            }
        }
        found.ok_or(AuthFailure::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(vec![
            (
                "alertmanager".into(),
                Secret::new("am-token"),
                Role::Trigger,
            ),
            ("ops".into(), Secret::new("ops-token"), Role::Operator),
        ])
    }

    #[test]
    fn bearer_and_basic() {
        let a = auth();
        assert_eq!(
            a.authenticate(Some("Bearer am-token")).unwrap().role,
            Role::Trigger
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("ops:ops-token");
        assert_eq!(
            a.authenticate(Some(&format!("Basic {basic}")))
                .unwrap()
                .name,
            "ops"
        );
        let wrong_user = base64::engine::general_purpose::STANDARD.encode("alertmanager:ops-token");
        assert_eq!(
            a.authenticate(Some(&format!("Basic {wrong_user}"))),
            Err(AuthFailure::Invalid)
        );
        assert_eq!(
            a.authenticate(Some("Bearer nope")),
            Err(AuthFailure::Invalid)
        );
        assert_eq!(
            a.authenticate(Some("Bearer am-token2")),
            Err(AuthFailure::Invalid)
        );
        assert_eq!(a.authenticate(None), Err(AuthFailure::Missing));
        assert_eq!(
            a.authenticate(Some("Token am-token")),
            Err(AuthFailure::Invalid)
        );
        assert!(
            Role::Viewer < Role::Trigger
                && Role::Trigger < Role::Operator
                && Role::Operator < Role::Admin
        );
    }
}
