//! SPNEGO for HTTP services of a Kerberized cluster (WebHDFS, HiveServer2's HTTP transport):
//! `Authorization: Negotiate <token>` towards the server's `HTTP/<host>@REALM`, then the
//! server's authentication cookie (Hadoop's `hadoop.auth`, HiveServer2's `hive.server2.auth`),
//! kept per server, on every later request — one negotiation per server and cookie lifetime,
//! not one per request. A 401 to a cookie (it expired, or the server restarted with a new
//! secret) negotiates again, once: [`Spnego::authorize`] and [`Spnego::check`] are the whole
//! policy, and a caller only loops while `check` asks for a fresh negotiation.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{service_principal, KerberosConfig, KerberosError};

/// What goes on a request.
enum Credentials {
    /// `Cookie: hadoop.auth=…` (never logged).
    Cookie(String),
    /// `Authorization: Negotiate …` (never logged).
    Negotiate(String),
}

pub struct Spnego {
    #[cfg(feature = "kerberos")]
    login: std::sync::Arc<super::Login>,
    principal_pattern: String,
    /// The name of the server's authentication cookie.
    cookie: &'static str,
    cookies: Mutex<HashMap<String, String>>,
}

/// Hadoop's (WebHDFS, HttpFS, KMS…) authentication cookie.
pub const HADOOP_COOKIE: &str = "hadoop.auth";
/// HiveServer2's over its HTTP transport (`hive.server2.thrift.http.cookie.auth.enabled`).
pub const HIVESERVER2_COOKIE: &str = "hive.server2.auth";

impl Spnego {
    /// `label` names the login (the cluster); `principal_pattern` is the server's principal,
    /// `HTTP/_HOST@REALM` as a rule; `cookie` the name of its authentication cookie.
    pub fn new(
        config: &KerberosConfig,
        label: &str,
        principal_pattern: &str,
        cookie: &'static str,
    ) -> Result<Spnego, KerberosError> {
        #[cfg(not(feature = "kerberos"))]
        {
            let _ = (config, label, principal_pattern, cookie);
            Err(KerberosError::NotBuilt)
        }
        #[cfg(feature = "kerberos")]
        {
            Ok(Spnego {
                login: std::sync::Arc::new(super::Login::new(config, label)),
                principal_pattern: principal_pattern.to_string(),
                cookie,
                cookies: Mutex::new(HashMap::new()),
            })
        }
    }

    /// Puts the credentials on `request`: the server's cookie, or a new negotiation when there
    /// is none or when `fresh` (after [`Spnego::check`] asked for it). The `bool` says whether
    /// the request carries a negotiation.
    pub async fn authorize(
        &self,
        server: &str,
        request: reqwest::RequestBuilder,
        fresh: bool,
    ) -> Result<(reqwest::RequestBuilder, bool), KerberosError> {
        let credentials = if fresh {
            self.negotiate(server).await.map(Credentials::Negotiate)?
        } else {
            self.credentials(server).await?
        };
        Ok(match credentials {
            Credentials::Cookie(c) => (request.header(reqwest::header::COOKIE, c), false),
            Credentials::Negotiate(t) => (
                request.header(reqwest::header::AUTHORIZATION, format!("Negotiate {t}")),
                true,
            ),
        })
    }

    /// Reads the server's answer to a request that carried a negotiation or not: keeps the
    /// cookie it sets; a 401 drops the cookie and asks for a fresh negotiation (`Ok(true)`),
    /// unless the request carried one already (then the server refused the ticket).
    pub fn check(
        &self,
        server: &str,
        response: &reqwest::Response,
        negotiated: bool,
    ) -> Result<bool, KerberosError> {
        self.remember(server, response.headers());
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(false);
        }
        self.forget(server);
        if negotiated {
            return Err(KerberosError::Refused(format!(
                "{server} answered 401 to a Kerberos ticket for {}",
                self.principal_for(server)
            )));
        }
        Ok(true)
    }

    /// The cookie of `namenode` when there is one, else a fresh negotiation.
    async fn credentials(&self, namenode: &str) -> Result<Credentials, KerberosError> {
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
    async fn negotiate(&self, namenode: &str) -> Result<String, KerberosError> {
        #[cfg(not(feature = "kerberos"))]
        {
            let _ = namenode;
            Err(KerberosError::NotBuilt)
        }
        #[cfg(feature = "kerberos")]
        {
            use base64::Engine;
            let service = self.principal_for(namenode);
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

    /// Keeps the authentication cookie a server set.
    fn remember(&self, server: &str, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("").trim();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if name != self.cookie {
                continue;
            }
            let mut cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
            // An empty value is the server clearing it.
            if value.is_empty() || value == "\"\"" {
                cookies.remove(server);
            } else {
                cookies.insert(server.to_string(), pair.to_string());
            }
        }
    }

    /// Drops a cookie the server no longer takes.
    fn forget(&self, server: &str) {
        self.cookies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(server);
    }

    /// The principal asked for at `server` (a URL).
    fn principal_for(&self, server: &str) -> String {
        let host = url::Url::parse(server)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        service_principal(&self.principal_pattern, &host)
    }
}
