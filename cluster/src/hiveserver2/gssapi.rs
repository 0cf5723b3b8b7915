//! SASL GSSAPI (RFC 4752) on HiveServer2's binary transport, as Hive's `TSaslClientTransport`
//! frames it (one status byte, a 4-byte length, the payload): START "GSSAPI", the Kerberos
//! context tokens, then the security-layer exchange — the server offers protection levels in a
//! wrapped message, the client chooses. Only QOP `auth` (authentication, no per-frame wrapping)
//! is supported; a server that requires `auth-int` or `auth-conf` is refused with a clear
//! error. After COMPLETE, messages travel in plain 4-byte frames as with SASL PLAIN.

// Without the feature only the refusal below is built; the exchange's pieces stay unused.
#![cfg_attr(not(feature = "kerberos"), allow(dead_code, unused_imports))]

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
use crate::kerberos::{service_principal, KerberosConfig, KerberosError};

/// Kerberos settings of one endpoint.
#[derive(Debug, Clone)]
pub struct Hs2Kerberos {
    pub login: KerberosConfig,
    /// Names the login's private ticket cache (shared by the endpoints of one cluster).
    pub label: String,
    /// `hive/_HOST@REALM` (or `impala/…`), `_HOST` being the server's host.
    pub principal: String,
}

use super::sasl::{BAD, COMPLETE, ERROR, OK, START};

/// The security layers of RFC 4752's bit mask.
const LAYER_NONE: u8 = 0x01;

fn sasl_err(e: impl std::fmt::Display) -> Error {
    Error::HiveServer2(format!("sasl gssapi: {e}"))
}

fn kerberos_err(e: KerberosError) -> Error {
    Error::HiveServer2(format!("kerberos: {e}"))
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, status: u8, payload: &[u8]) -> Result<()> {
    super::sasl::send_frame(stream, status, payload)
        .await
        .map_err(sasl_err)
}

async fn receive<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(u8, Vec<u8>)> {
    super::sasl::receive_frame(stream).await.map_err(sasl_err)
}

/// The client's answer to the server's security-layer offer (already unwrapped): no layer,
/// no maximum buffer, no authorization identity. Refuses a server that cannot do without one.
pub fn choose_layer(offer: &[u8]) -> std::result::Result<[u8; 4], String> {
    let Some(&mask) = offer.first() else {
        return Err("the server's security-layer offer is empty".into());
    };
    if offer.len() != 4 {
        return Err(format!(
            "the server's security-layer offer has {} bytes, not 4",
            offer.len()
        ));
    }
    if mask & LAYER_NONE == 0 {
        return Err(format!(
            "the server requires SASL QOP auth-int or auth-conf (offer {mask:#04x}); only auth is supported: set hive.server2.thrift.sasl.qop=auth"
        ));
    }
    Ok([LAYER_NONE, 0, 0, 0])
}

/// Authenticates `stream` to the server at `host` with Kerberos.
#[cfg(feature = "kerberos")]
pub async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
    k: &Hs2Kerberos,
) -> Result<()> {
    let service = service_principal(&k.principal, host);
    let login = crate::kerberos::Login::new(&k.login, &k.label);
    // The first step may ask the KDC for a service ticket: off the runtime.
    let (mut ctx, first) = tokio::task::spawn_blocking({
        let service = service.clone();
        move || {
            let mut ctx = login.initiate(&service)?;
            let first = ctx.step(None)?.unwrap_or_default();
            Ok::<_, KerberosError>((ctx, first))
        }
    })
    .await
    .map_err(sasl_err)?
    .map_err(kerberos_err)?;
    send(stream, START, b"GSSAPI").await?;
    send(stream, OK, &first).await?;
    loop {
        let (status, payload) = receive(stream).await?;
        match status {
            COMPLETE if ctx.is_complete() => return Ok(()),
            COMPLETE => return Err(sasl_err("the server completed before the Kerberos context")),
            OK if !ctx.is_complete() => {
                let out = ctx.step(Some(&payload)).map_err(kerberos_err)?;
                send(stream, OK, &out.unwrap_or_default()).await?;
            }
            OK if payload.is_empty() => send(stream, OK, &[]).await?,
            OK => {
                let offer = ctx.unwrap(&payload).map_err(kerberos_err)?;
                let answer = choose_layer(&offer).map_err(sasl_err)?;
                let wrapped = ctx.wrap(false, &answer).map_err(kerberos_err)?;
                send(stream, OK, &wrapped).await?;
            }
            BAD | ERROR => {
                return Err(kerberos_err(KerberosError::Refused(format!(
                    "{service}: {}",
                    String::from_utf8_lossy(&payload)
                ))))
            }
            other => return Err(sasl_err(format!("unexpected SASL status {other}"))),
        }
    }
}

/// A build without Kerberos cannot authenticate so.
#[cfg(not(feature = "kerberos"))]
pub async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    _stream: &mut S,
    _host: &str,
    _k: &Hs2Kerberos,
) -> Result<()> {
    Err(kerberos_err(KerberosError::NotBuilt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_auth_layer_is_chosen() {
        assert_eq!(choose_layer(&[0x07, 0, 0x10, 0]), Ok([1, 0, 0, 0]));
        assert_eq!(choose_layer(&[0x01, 0, 0, 0]), Ok([1, 0, 0, 0]));
        let conf_only = choose_layer(&[0x04, 0, 0x10, 0]).unwrap_err();
        assert!(conf_only.contains("auth-int or auth-conf"), "{conf_only}");
        assert!(choose_layer(&[]).is_err());
        assert!(choose_layer(&[1, 2]).is_err());
    }
}
