//! Kerberos for the services of a Kerberized cluster: the configuration (always compiled, so a
//! build without Kerberos can refuse it clearly), the errors an operator must tell apart, and —
//! with the cargo feature `kerberos` — a login through the system's GSSAPI (MIT krb5, via the
//! maintained `libgssapi` binding; no cryptography of our own).
//!
//! A keytab login is held by GSSAPI itself: credentials are acquired from a credential store
//! naming the keytab (`client_keytab`) and a private in-memory ticket cache, and MIT krb5 gets a
//! fresh ticket from the keytab whenever the one it holds is about to expire — a long-running
//! exporter survives ticket expiry without a restart. Without a keytab, an existing ticket cache
//! (`ccache`, or the default one) is used as it is; when it expires, the error says so.

#[cfg(feature = "kerberos")]
mod gss;
pub mod spnego;

use std::path::PathBuf;

use serde::Deserialize;

#[cfg(feature = "kerberos")]
pub use gss::{Initiator, Login};

/// `kerberos:` of a cluster (for all of its services), or of one service (overriding it).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct KerberosConfig {
    /// The client principal (`smallfiles@EXAMPLE.COM`); with a keytab, the entry to log in as
    /// (default: the keytab's first principal).
    #[serde(default)]
    pub principal: Option<String>,
    /// Log in from this keytab and renew the login in the process.
    #[serde(default)]
    pub keytab: Option<PathBuf>,
    /// The realm's krb5.conf (else `KRB5_CONFIG` or /etc/krb5.conf). One per process.
    #[serde(default)]
    pub krb5_conf: Option<PathBuf>,
    /// An existing ticket cache (`FILE:/tmp/krb5cc_1000`), used when no keytab is given.
    #[serde(default)]
    pub ccache: Option<String>,
}

impl KerberosConfig {
    /// What the configuration is wrong about, if anything (checked when the file is read).
    pub fn problem(&self) -> Option<String> {
        if self.keytab.is_some() && self.ccache.is_some() {
            return Some(
                "give keytab (a login the process renews) or ccache (an existing ticket cache), not both"
                    .into(),
            );
        }
        if let Some(p) = &self.principal {
            if p.is_empty() || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Some(format!("principal {p:?} is not a Kerberos principal"));
            }
        }
        None
    }

    /// Who logs in, for messages: the principal, else where the credentials come from.
    pub fn describe(&self) -> String {
        match (&self.principal, &self.keytab, &self.ccache) {
            (Some(p), Some(k), _) => format!("{p} from keytab {}", k.display()),
            (None, Some(k), _) => format!("the first principal of keytab {}", k.display()),
            (Some(p), None, _) => format!("{p} from the ticket cache"),
            (None, None, Some(c)) => format!("the ticket cache {c}"),
            (None, None, None) => "the default ticket cache".into(),
        }
    }
}

/// Points MIT krb5 at the realm's krb5.conf. It reads `KRB5_CONFIG` when a context is made;
/// the configuration checks that every block names the same file, so it is set once, before
/// any negotiation (GSSAPI logins, SPNEGO, and the native HDFS client).
pub fn use_krb5_conf(path: &std::path::Path) {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| std::env::set_var("KRB5_CONFIG", path));
}

/// A service principal as the JDBC URLs and Hadoop write it, `service/_HOST@REALM`, for a
/// server at `host`: `_HOST` becomes the host name in lower case. A principal without a
/// realm takes the default realm of krb5.conf.
pub fn service_principal(pattern: &str, host: &str) -> String {
    pattern.replace("_HOST", &host.to_ascii_lowercase())
}

/// Why Kerberos failed, in the operator's terms. Never holds key material or tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KerberosError {
    #[error("no Kerberos ticket: {0} (log in with kinit, or configure kerberos.keytab)")]
    NoTicket(String),
    #[error("the Kerberos ticket has expired: {0} (renew it, or configure kerberos.keytab)")]
    Expired(String),
    #[error(
        "the keytab cannot log in: {0} (wrong keytab or principal, or an outdated key version)"
    )]
    WrongKeytab(String),
    #[error("clock skew too great between this host and the KDC: {0} (synchronise the clocks)")]
    ClockSkew(String),
    #[error("the KDC does not know the service principal {principal}: {message} (check the *_principal settings)")]
    UnknownServer { principal: String, message: String },
    #[error("the KDC is unreachable: {0} (check krb5.conf and the network)")]
    KdcUnreachable(String),
    #[error("the server refused our Kerberos authentication: {0}")]
    Refused(String),
    #[error("Kerberos: {0}")]
    Other(String),
    #[error("this build has no Kerberos support: build with the cargo feature `kerberos`")]
    NotBuilt,
}

/// MIT krb5's error codes (com_err table `krb5`) that GSSAPI passes on as minor status.
pub mod codes {
    pub const KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
    pub const KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1765328377;
    pub const KDC_ERR_PREAUTH_FAILED: i32 = -1765328360;
    pub const AP_ERR_BAD_INTEGRITY: i32 = -1765328353;
    pub const AP_ERR_TKT_EXPIRED: i32 = -1765328352;
    pub const AP_ERR_SKEW: i32 = -1765328347;
    /// The client's own check of the KDC's reply (with `kdc_timesync = 0`).
    pub const KDCREP_SKEW: i32 = -1765328236;
    pub const CC_NOTFOUND: i32 = -1765328243;
    pub const KDC_UNREACH: i32 = -1765328228;
    pub const KT_NOTFOUND: i32 = -1765328203;
    pub const FCC_NOFILE: i32 = -1765328189;
    /// `KRB5_KT_END`: the keytab has no entry for the principal.
    pub const KT_END: i32 = -1765328202;
}

impl KerberosError {
    /// Classifies a GSSAPI failure by its krb5 minor status; `message` is GSSAPI's own text.
    pub fn classify(minor: i32, message: String, service: &str) -> KerberosError {
        use codes::*;
        match minor {
            FCC_NOFILE | CC_NOTFOUND => KerberosError::NoTicket(message),
            AP_ERR_TKT_EXPIRED => KerberosError::Expired(message),
            KDC_ERR_PREAUTH_FAILED
            | AP_ERR_BAD_INTEGRITY
            | KT_NOTFOUND
            | KT_END
            | KDC_ERR_C_PRINCIPAL_UNKNOWN => KerberosError::WrongKeytab(message),
            AP_ERR_SKEW | KDCREP_SKEW => KerberosError::ClockSkew(message),
            KDC_ERR_S_PRINCIPAL_UNKNOWN => KerberosError::UnknownServer {
                principal: service.to_string(),
                message,
            },
            KDC_UNREACH => KerberosError::KdcUnreachable(message),
            _ => KerberosError::Other(message),
        }
    }
}

/// The one krb5.conf of the process (MIT krb5 reads `KRB5_CONFIG` when a context is made):
/// every configured block must name the same file, or none.
pub fn krb5_conf_of<'a>(
    blocks: impl IntoIterator<Item = &'a KerberosConfig>,
) -> Result<Option<PathBuf>, String> {
    let mut found: Option<&PathBuf> = None;
    for b in blocks {
        if let Some(p) = &b.krb5_conf {
            match found {
                Some(f) if f != p => {
                    return Err(format!(
                    "kerberos.krb5_conf names {} and {}: one krb5.conf serves the whole process",
                    f.display(),
                    p.display()
                ))
                }
                _ => found = Some(p),
            }
        }
    }
    Ok(found.cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_principals_take_the_host() {
        assert_eq!(
            service_principal("HTTP/_HOST@EXAMPLE.COM", "NN1.example.com"),
            "HTTP/nn1.example.com@EXAMPLE.COM"
        );
        assert_eq!(
            service_principal("hive/hs2.example.com@EXAMPLE.COM", "other"),
            "hive/hs2.example.com@EXAMPLE.COM"
        );
    }

    #[test]
    fn failures_are_told_apart() {
        let c = |minor| KerberosError::classify(minor, "m".into(), "HTTP/nn@R");
        assert!(matches!(c(codes::FCC_NOFILE), KerberosError::NoTicket(_)));
        assert!(matches!(
            c(codes::AP_ERR_TKT_EXPIRED),
            KerberosError::Expired(_)
        ));
        assert!(matches!(
            c(codes::KDC_ERR_PREAUTH_FAILED),
            KerberosError::WrongKeytab(_)
        ));
        assert!(matches!(c(codes::AP_ERR_SKEW), KerberosError::ClockSkew(_)));
        assert!(matches!(c(codes::KDCREP_SKEW), KerberosError::ClockSkew(_)));
        assert!(matches!(
            c(codes::KDC_ERR_S_PRINCIPAL_UNKNOWN),
            KerberosError::UnknownServer { .. }
        ));
        assert!(matches!(
            c(codes::KDC_UNREACH),
            KerberosError::KdcUnreachable(_)
        ));
        assert!(matches!(c(1), KerberosError::Other(_)));
    }

    #[test]
    fn one_krb5_conf_per_process() {
        let a = KerberosConfig {
            krb5_conf: Some("/etc/a.conf".into()),
            ..Default::default()
        };
        let b = KerberosConfig {
            krb5_conf: Some("/etc/b.conf".into()),
            ..Default::default()
        };
        assert_eq!(
            krb5_conf_of([&a, &KerberosConfig::default(), &a]).unwrap(),
            Some("/etc/a.conf".into())
        );
        assert!(krb5_conf_of([&a, &b])
            .unwrap_err()
            .contains("one krb5.conf"));
        let both = KerberosConfig {
            keytab: Some("/k".into()),
            ccache: Some("FILE:/c".into()),
            ..Default::default()
        };
        assert!(both.problem().unwrap().contains("not both"));
    }
}
