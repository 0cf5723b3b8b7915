//! The transports under a session: the binary one (plain TCP or TLS, then NOSASL, SASL PLAIN
//! or SASL GSSAPI) and the HTTP one (Basic or SPNEGO). One Thrift message out, one back.

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::{hs2, lost, Auth, Hs2Config};
use super::thrift::{decode_message, DecodeError, Message};
use crate::error::Result;

const MAX_FRAME: usize = 256 << 20;

/// The byte stream under the binary transport: plain TCP or TLS. (Kerberos with QOP auth adds
/// no layer; auth-int/auth-conf would wrap every frame here, and are refused.)
pub(super) trait Stream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

fn read_pem_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(|e| hs2(&format!("ca_file {}", path.display()), e))?;
    let certs: std::result::Result<Vec<_>, _> =
        rustls_pemfile::certs(&mut pem.as_slice()).collect();
    let certs = certs.map_err(|e| hs2(&format!("ca_file {}", path.display()), e))?;
    if certs.is_empty() {
        return Err(hs2(
            &format!("ca_file {}", path.display()),
            "no PEM certificate in the file",
        ));
    }
    Ok(certs)
}

async fn tls_connect(cfg: &Hs2Config, host: &str, stream: TcpStream) -> Result<Box<dyn Stream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.ca_file {
        for cert in read_pem_certificates(path)? {
            roots.add(cert).map_err(|e| hs2("ca_file", e))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| hs2("tls", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| hs2("tls", format!("server name {host:?}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tls = tokio::time::timeout(cfg.connect_timeout, connector.connect(name, stream))
        .await
        .map_err(|_| hs2(host, "TLS handshake timed out"))?
        .map_err(|e| hs2("tls", e))?;
    Ok(Box::new(tls))
}

pub(super) enum Transport {
    /// Unframed Thrift on the socket.
    Raw {
        stream: Box<dyn Stream>,
        buf: Vec<u8>,
    },
    /// After SASL negotiation: each message in a 4-byte length frame.
    Framed { stream: Box<dyn Stream> },
    Http {
        http: reqwest::Client,
        url: String,
        auth: HttpAuth,
    },
}

/// How each HTTP request authenticates.
pub(super) enum HttpAuth {
    /// `Authorization: Basic …` (SASL PLAIN's user and password).
    Basic(String),
    /// Kerberos: SPNEGO, then HiveServer2's `hive.server2.auth` cookie.
    Spnego(crate::kerberos::spnego::Spnego),
}

impl Transport {
    pub(super) async fn connect(cfg: &Hs2Config) -> Result<Transport> {
        if cfg.url.starts_with("http://") || cfg.url.starts_with("https://") {
            let mut builder = reqwest::Client::builder()
                .timeout(cfg.statement_timeout)
                .connect_timeout(cfg.connect_timeout);
            if let Some(path) = &cfg.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| hs2(&format!("ca_file {}", path.display()), e))?;
                for cert in reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| hs2(&format!("ca_file {}", path.display()), e))?
                {
                    builder = builder.add_root_certificate(cert);
                }
            }
            let http = builder.build().map_err(|e| hs2("http client", e))?;
            let password = cfg
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            let auth = if cfg.auth == Auth::Kerberos {
                let k = cfg.kerberos.as_ref().ok_or_else(|| {
                    hs2(
                        "kerberos",
                        "auth kerberos needs the endpoint's kerberos settings",
                    )
                })?;
                HttpAuth::Spnego(
                    crate::kerberos::spnego::Spnego::new(
                        &k.login,
                        &k.label,
                        &k.principal,
                        crate::kerberos::spnego::HIVESERVER2_COOKIE,
                    )
                    .map_err(|e| hs2("kerberos", e))?,
                )
            } else {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{password}", cfg.user));
                HttpAuth::Basic(format!("Basic {token}"))
            };
            return Ok(Transport::Http {
                http,
                url: cfg.url.clone(),
                auth,
            });
        }
        let addr = cfg
            .url
            .strip_prefix("hive2://")
            .unwrap_or(&cfg.url)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let stream = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| hs2(&addr, "connect timed out"))?
            .map_err(|e| hs2(&addr, e))?;
        stream.set_nodelay(true).ok();
        let stream: Box<dyn Stream> = if cfg.tls {
            let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(&addr);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            tls_connect(cfg, host, stream).await?
        } else {
            Box::new(stream)
        };
        match cfg.auth {
            Auth::NoSasl => Ok(Transport::Raw {
                stream,
                buf: Vec::new(),
            }),
            Auth::Kerberos => {
                let mut stream = stream;
                let k = cfg.kerberos.as_ref().ok_or_else(|| {
                    hs2(
                        "kerberos",
                        "auth kerberos needs the endpoint's kerberos settings",
                    )
                })?;
                let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(&addr);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                super::gssapi::negotiate(&mut stream, host, k).await?;
                Ok(Transport::Framed { stream })
            }
            Auth::Plain => {
                let mut stream = stream;
                let password = cfg
                    .password
                    .as_ref()
                    .map(|p| p.expose().to_string())
                    .unwrap_or_else(|| "anonymous".into());
                super::sasl::plain(&mut stream, &cfg.user, &password)
                    .await
                    .map_err(|e| hs2("sasl", e))?;
                Ok(Transport::Framed { stream })
            }
        }
    }

    pub(super) async fn exchange(&mut self, request: &[u8]) -> Result<Message> {
        match self {
            Transport::Raw { stream, buf } => {
                stream
                    .write_all(request)
                    .await
                    .map_err(|e| lost("send", e))?;
                loop {
                    match decode_message(buf) {
                        Ok((m, used)) => {
                            buf.drain(..used);
                            return Ok(m);
                        }
                        Err(DecodeError::Incomplete) => {
                            if buf.len() > MAX_FRAME {
                                return Err(hs2("receive", "message too large"));
                            }
                            let mut chunk = [0u8; 16384];
                            let n = stream
                                .read(&mut chunk)
                                .await
                                .map_err(|e| lost("receive", e))?;
                            if n == 0 {
                                return Err(lost("receive", "connection closed by the server"));
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        Err(e) => return Err(hs2("receive", e)),
                    }
                }
            }
            Transport::Framed { stream } => {
                let mut framed = (request.len() as u32).to_be_bytes().to_vec();
                framed.extend_from_slice(request);
                stream
                    .write_all(&framed)
                    .await
                    .map_err(|e| lost("send", e))?;
                let mut len = [0u8; 4];
                stream
                    .read_exact(&mut len)
                    .await
                    .map_err(|e| lost("receive", e))?;
                let n = u32::from_be_bytes(len) as usize;
                if n > MAX_FRAME {
                    return Err(hs2("receive", format!("frame of {n} bytes refused")));
                }
                let mut body = vec![0u8; n];
                stream
                    .read_exact(&mut body)
                    .await
                    .map_err(|e| lost("receive", e))?;
                decode_message(&body)
                    .map(|(m, _)| m)
                    .map_err(|e| hs2("receive", e))
            }
            Transport::Http { http, url, auth } => {
                // Kerberos: the session's cookie, or a negotiation; once more when the server
                // asks (`check`).
                let mut fresh = false;
                let resp = loop {
                    let mut req = http
                        .post(url.as_str())
                        .header("Content-Type", "application/x-thrift")
                        .body(request.to_vec());
                    let mut negotiated = false;
                    match auth {
                        HttpAuth::Basic(b) => req = req.header("Authorization", b.as_str()),
                        HttpAuth::Spnego(s) => {
                            (req, negotiated) = s
                                .authorize(url, req, fresh)
                                .await
                                .map_err(|e| hs2("kerberos", e))?;
                        }
                    }
                    let resp = req
                        .send()
                        .await
                        .map_err(|e| lost("http", e.without_url()))?;
                    if let HttpAuth::Spnego(s) = auth {
                        if s.check(url, &resp, negotiated)
                            .map_err(|e| hs2("kerberos", e))?
                        {
                            fresh = true;
                            continue;
                        }
                    }
                    break resp;
                };
                let status = resp.status();
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| hs2("http", e.without_url()))?;
                if !status.is_success() {
                    return Err(hs2("http", format!("HTTP {status}")));
                }
                decode_message(&body)
                    .map(|(m, _)| m)
                    .map_err(|e| hs2("receive", e))
            }
        }
    }
}
