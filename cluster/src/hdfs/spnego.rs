//! SPNEGO for WebHDFS on a Kerberized cluster: `Authorization: Negotiate <token>` towards the
//! NameNode's `HTTP/<host>@REALM`, then Hadoop's `hadoop.auth` cookie, kept per NameNode, on
//! every later request — one negotiation per NameNode and cookie lifetime, not one per
//! request. A 401 to a cookie (it expired, or the NameNode restarted with a new secret)
//! negotiates again, once.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::kerberos::{service_principal, KerberosConfig, KerberosError};

/// What goes on a request.
pub enum Credentials {
    /// `Cookie: hadoop.auth=…` (never logged).
    Cookie(String),
    /// `Authorization: Negotiate …` (never logged).
    Negotiate(String),
}

pub struct Spnego {
    #[cfg(feature = "kerberos")]
    login: std::sync::Arc<crate::kerberos::Login>,
    principal_pattern: String,
    cookies: Mutex<HashMap<String, String>>,
}

impl Spnego {
    /// `label` names the login (the cluster); `principal_pattern` is `hdfs.spnego_principal`.
    pub fn new(
        config: &KerberosConfig,
        label: &str,
        principal_pattern: &str,
    ) -> Result<Spnego, KerberosError> {
        #[cfg(not(feature = "kerberos"))]
        {
            let _ = (config, label, principal_pattern);
            Err(KerberosError::NotBuilt)
        }
        #[cfg(feature = "kerberos")]
        {
            Ok(Spnego {
                login: std::sync::Arc::new(crate::kerberos::Login::new(config, label)),
                principal_pattern: principal_pattern.to_string(),
                cookies: Mutex::new(HashMap::new()),
            })
        }
    }

    /// The cookie of `namenode` when there is one, else a fresh negotiation.
    pub async fn credentials(&self, namenode: &str) -> Result<Credentials, KerberosError> {
        if let Some(c) = self
            .cookies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(namenode)
        {
            return Ok(Credentials::Cookie(c.clone()));
        }
        self.negotiate(namenode).await.map(Credentials::Negotiate)
    }

    /// A Negotiate token for `namenode` (base64). GSSAPI may ask the KDC: off the runtime.
    pub async fn negotiate(&self, namenode: &str) -> Result<String, KerberosError> {
        #[cfg(not(feature = "kerberos"))]
        {
            let _ = namenode;
            Err(KerberosError::NotBuilt)
        }
        #[cfg(feature = "kerberos")]
        {
            use base64::Engine;
            let host = url::Url::parse(namenode)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            let service = service_principal(&self.principal_pattern, &host);
            let login = self.login.clone();
            let token = tokio::task::spawn_blocking(move || {
                let mut ctx = login.initiate(&service)?;
                ctx.step(None)?
                    .ok_or_else(|| KerberosError::Other("GSSAPI produced no initial token".into()))
            })
            .await
            .map_err(|e| KerberosError::Other(format!("negotiation task: {e}")))??;
            Ok(base64::engine::general_purpose::STANDARD.encode(token))
        }
    }

    /// Keeps the `hadoop.auth` cookie a NameNode set.
    pub fn remember(&self, namenode: &str, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("").trim();
            if let Some(value) = pair.strip_prefix("hadoop.auth=") {
                let mut cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
                // An empty value is the server clearing it.
                if value.is_empty() || value == "\"\"" {
                    cookies.remove(namenode);
                } else {
                    cookies.insert(namenode.to_string(), pair.to_string());
                }
            }
        }
    }

    /// Drops a cookie the NameNode no longer takes.
    pub fn forget(&self, namenode: &str) {
        self.cookies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(namenode);
    }

    /// The principal asked for at `namenode`, for messages.
    pub fn principal_for(&self, namenode: &str) -> String {
        let host = url::Url::parse(namenode)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        service_principal(&self.principal_pattern, &host)
    }
}
