//! Sessions and statements over the TCLIService calls: OpenSession, ExecuteStatement (async)
//! polled with GetOperationStatus, GetResultSetMetadata, FetchResults (columnar and row-based
//! results, null bitmaps), CancelOperation, CloseOperation, CloseSession.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::thrift::{self, decode_message, encode_message, DecodeError, Message, Value, T_STRING};
use crate::config::Secret;
use crate::error::{Error, Result};

/// TProtocolVersion HIVE_CLI_SERVICE_PROTOCOL_V10: columnar results; servers answer with theirs.
pub const CLIENT_PROTOCOL: i32 = 9;
const MAX_FRAME: usize = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    NoSasl,
    Plain,
    /// SASL GSSAPI with [`Hs2Config::kerberos`].
    Kerberos,
}

#[derive(Debug, Clone)]
pub struct Hs2Config {
    /// `hive2://host:port` (binary) or `http(s)://host:port/cliservice`.
    pub url: String,
    pub auth: Auth,
    pub user: String,
    pub password: Option<Secret>,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    /// Session settings (`set:hiveconf:<key>` in OpenSession).
    pub settings: BTreeMap<String, String>,
    /// TLS on the binary transport (`hive.server2.use.SSL`); `https://` URLs always use it.
    pub tls: bool,
    /// Extra trusted CA certificates (PEM), besides the public roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// The login and the service principal for [`Auth::Kerberos`].
    pub kerberos: Option<super::gssapi::Hs2Kerberos>,
}

/// The byte stream under the binary transport: plain TCP or TLS. (Kerberos with QOP auth adds
/// no layer; auth-int/auth-conf would wrap every frame here, and are refused.)
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
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

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

enum Transport {
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
enum HttpAuth {
    /// `Authorization: Basic …` (SASL PLAIN's user and password).
    Basic(String),
    /// Kerberos: SPNEGO, then HiveServer2's `hive.server2.auth` cookie.
    Spnego(crate::kerberos::spnego::Spnego),
}

fn hs2(what: &str, e: impl std::fmt::Display) -> Error {
    Error::HiveServer2(format!("{what}: {e}"))
}

impl Transport {
    async fn connect(cfg: &Hs2Config) -> Result<Transport> {
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
                sasl_frame(&mut stream, 0x01, b"PLAIN").await?;
                let mut plain = vec![0u8];
                plain.extend_from_slice(cfg.user.as_bytes());
                plain.push(0);
                plain.extend_from_slice(password.as_bytes());
                sasl_frame(&mut stream, 0x02, &plain).await?;
                let mut head = [0u8; 5];
                stream
                    .read_exact(&mut head)
                    .await
                    .map_err(|e| hs2("sasl", e))?;
                let n = u32::from_be_bytes(head[1..5].try_into().expect("4 bytes")) as usize;
                if n > 64 << 10 {
                    return Err(hs2("sasl", "oversized negotiation frame"));
                }
                let mut payload = vec![0u8; n];
                stream
                    .read_exact(&mut payload)
                    .await
                    .map_err(|e| hs2("sasl", e))?;
                match head[0] {
                    0x05 => Ok(Transport::Framed { stream }),
                    status => Err(hs2(
                        "sasl",
                        format!(
                            "authentication refused (status {status}): {}",
                            String::from_utf8_lossy(&payload)
                        ),
                    )),
                }
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Message> {
        match self {
            Transport::Raw { stream, buf } => {
                stream
                    .write_all(request)
                    .await
                    .map_err(|e| hs2("send", e))?;
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
                                .map_err(|e| hs2("receive", e))?;
                            if n == 0 {
                                return Err(hs2("receive", "connection closed by the server"));
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
                    .map_err(|e| hs2("send", e))?;
                let mut len = [0u8; 4];
                stream
                    .read_exact(&mut len)
                    .await
                    .map_err(|e| hs2("receive", e))?;
                let n = u32::from_be_bytes(len) as usize;
                if n > MAX_FRAME {
                    return Err(hs2("receive", format!("frame of {n} bytes refused")));
                }
                let mut body = vec![0u8; n];
                stream
                    .read_exact(&mut body)
                    .await
                    .map_err(|e| hs2("receive", e))?;
                decode_message(&body)
                    .map(|(m, _)| m)
                    .map_err(|e| hs2("receive", e))
            }
            Transport::Http { http, url, auth } => {
                use crate::kerberos::spnego::Credentials;
                // Kerberos: the session's cookie; a 401 to it negotiates again, once.
                let mut negotiated = false;
                let resp = loop {
                    let mut req = http
                        .post(url.as_str())
                        .header("Content-Type", "application/x-thrift")
                        .body(request.to_vec());
                    match auth {
                        HttpAuth::Basic(b) => req = req.header("Authorization", b.as_str()),
                        HttpAuth::Spnego(s) => {
                            let credentials = if negotiated {
                                s.negotiate(url).await.map(Credentials::Negotiate)
                            } else {
                                s.credentials(url).await
                            };
                            req = match credentials.map_err(|e| hs2("kerberos", e))? {
                                Credentials::Cookie(c) => req.header("Cookie", c),
                                Credentials::Negotiate(t) => {
                                    negotiated = true;
                                    req.header("Authorization", format!("Negotiate {t}"))
                                }
                            };
                        }
                    }
                    let resp = req.send().await.map_err(|e| hs2("http", e.without_url()))?;
                    if let HttpAuth::Spnego(s) = auth {
                        s.remember(url, resp.headers());
                        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
                            s.forget(url);
                            if !negotiated {
                                negotiated = true;
                                continue;
                            }
                            return Err(hs2(
                                "kerberos",
                                format!(
                                    "the server answered 401 to a Kerberos ticket for {}",
                                    s.principal_for(url)
                                ),
                            ));
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

async fn sasl_frame(stream: &mut Box<dyn Stream>, status: u8, payload: &[u8]) -> Result<()> {
    let mut f = vec![status];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    stream.write_all(&f).await.map_err(|e| hs2("sasl", e))
}

/// The TStatus of a response: an error's message, SQL state and code, verbatim.
fn check_status(call: &str, resp: &Value) -> Result<()> {
    let status = resp
        .field(1)
        .ok_or_else(|| hs2(call, "response without status"))?;
    match status.field(1).and_then(Value::as_i32) {
        Some(0) | Some(1) | Some(2) => Ok(()),
        code => {
            let msg = status
                .field(5)
                .and_then(Value::as_string)
                .unwrap_or_default();
            let state = status
                .field(3)
                .and_then(Value::as_string)
                .unwrap_or_default();
            let ecode = status.field(4).and_then(Value::as_i32).unwrap_or_default();
            Err(Error::HiveServer2(format!(
                "{call} failed (status {}, SQLSTATE {state}, code {ecode}): {msg}",
                code.unwrap_or(-1)
            )))
        }
    }
}

pub struct Session {
    transport: Transport,
    handle: Value,
    seq: i32,
    pub server_protocol: i32,
    statement_timeout: Duration,
}

impl Session {
    pub async fn open(cfg: &Hs2Config) -> Result<Session> {
        let transport = Transport::connect(cfg).await?;
        let mut conf: Vec<(Value, Value)> = cfg
            .settings
            .iter()
            .map(|(k, v)| (Value::str(&format!("set:hiveconf:{k}")), Value::str(v)))
            .collect();
        conf.sort_by(|a, b| a.0.as_bytes().cmp(&b.0.as_bytes()));
        let mut req = vec![(1, Value::I32(CLIENT_PROTOCOL)), (2, Value::str(&cfg.user))];
        if let (Auth::Plain, Some(p)) = (cfg.auth, &cfg.password) {
            req.push((3, Value::str(p.expose())));
        }
        req.push((4, Value::Map(T_STRING, T_STRING, conf)));
        let mut s = Session {
            transport,
            handle: Value::Struct(vec![]),
            seq: 0,
            server_protocol: 0,
            statement_timeout: cfg.statement_timeout,
        };
        let resp = s.call("OpenSession", Value::Struct(req)).await?;
        s.server_protocol = resp.field(2).and_then(Value::as_i32).unwrap_or(0);
        s.handle = resp
            .field(3)
            .cloned()
            .ok_or_else(|| hs2("OpenSession", "no session handle"))?;
        Ok(s)
    }

    async fn call(&mut self, name: &str, request: Value) -> Result<Value> {
        self.seq += 1;
        let bytes = encode_message(&Message {
            name: name.into(),
            kind: thrift::CALL,
            seq: self.seq,
            body: Value::Struct(vec![(1, request)]),
        });
        let reply = self.transport.exchange(&bytes).await?;
        if reply.kind == thrift::EXCEPTION {
            let msg = reply
                .body
                .field(1)
                .and_then(Value::as_string)
                .unwrap_or_default();
            return Err(hs2(name, format!("server exception: {msg}")));
        }
        if reply.name != name {
            return Err(hs2(name, format!("answer to {} received", reply.name)));
        }
        let resp = reply
            .body
            .field(0)
            .cloned()
            .ok_or_else(|| hs2(name, "empty result"))?;
        check_status(name, &resp)?;
        Ok(resp)
    }

    /// Runs a statement to completion and fetches its rows.
    pub async fn execute(&mut self, sql: &str) -> Result<ResultSet> {
        self.execute_until(sql, std::future::pending()).await
    }

    /// Runs a statement unless `cancel` completes first; then the server is told to cancel the
    /// operation (CancelOperation) and the answer is an error saying so.
    pub async fn execute_until(
        &mut self,
        sql: &str,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<ResultSet> {
        let cancel = std::pin::pin!(cancel);
        let req = Value::Struct(vec![
            (1, self.handle.clone()),
            (2, Value::str(sql)),
            (4, Value::Bool(true)),
        ]);
        let resp = self.call("ExecuteStatement", req).await?;
        let op = resp
            .field(2)
            .cloned()
            .ok_or_else(|| hs2("ExecuteStatement", "no operation handle"))?;
        let result = self.finish(&op, cancel).await;
        // Closing releases the server's resources whatever happened.
        let closed = self
            .call("CloseOperation", Value::Struct(vec![(1, op)]))
            .await;
        let rs = result?;
        closed?;
        Ok(rs)
    }

    async fn finish(
        &mut self,
        op: &Value,
        mut cancel: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> Result<ResultSet> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let st = self
                .call("GetOperationStatus", Value::Struct(vec![(1, op.clone())]))
                .await?;
            match st.field(2).and_then(Value::as_i32) {
                Some(2) => break,
                Some(3) => return Err(Error::HiveServer2("the statement was cancelled".into())),
                Some(4) => return Err(Error::HiveServer2("the operation was closed".into())),
                Some(5) => {
                    let msg = st.field(5).and_then(Value::as_string).unwrap_or_default();
                    let state = st.field(3).and_then(Value::as_string).unwrap_or_default();
                    return Err(Error::HiveServer2(format!(
                        "the statement failed (SQLSTATE {state}): {msg}"
                    )));
                }
                Some(8) => {
                    return Err(Error::HiveServer2(
                        "the statement timed out on the server".into(),
                    ))
                }
                _ => {}
            }
            if start.elapsed() > self.statement_timeout {
                let _ = self
                    .call("CancelOperation", Value::Struct(vec![(1, op.clone())]))
                    .await;
                return Err(Error::HiveServer2(format!(
                    "statement timed out after {:?}; cancelled",
                    self.statement_timeout
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.as_mut() => {
                    let cancelled = self
                        .call("CancelOperation", Value::Struct(vec![(1, op.clone())]))
                        .await;
                    return Err(Error::HiveServer2(match cancelled {
                        Ok(_) => "cancelled: the server was told to stop the statement".into(),
                        Err(e) => format!("cancelled; telling the server failed: {e}"),
                    }));
                }
            }
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        let has_results = op.field(3).and_then(Value::as_bool).unwrap_or(false);
        if !has_results {
            return Ok(ResultSet::default());
        }
        let meta = self
            .call("GetResultSetMetadata", Value::Struct(vec![(1, op.clone())]))
            .await?;
        let columns: Vec<String> = meta
            .field(2)
            .and_then(|s| s.field(1))
            .and_then(Value::as_list)
            .map(|cols| {
                cols.iter()
                    .map(|c| c.field(1).and_then(Value::as_string).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        let mut rows = Vec::new();
        loop {
            let req = Value::Struct(vec![
                (1, op.clone()),
                (2, Value::I32(0)),
                (3, Value::I64(10_000)),
            ]);
            let resp = self.call("FetchResults", req).await?;
            let batch = resp
                .field(3)
                .map(|rs| rowset(rs, columns.len()))
                .unwrap_or_default();
            let more = resp.field(2).and_then(Value::as_bool).unwrap_or(false);
            let empty = batch.is_empty();
            rows.extend(batch);
            // Spark may say "no more" with rows; Hive may say "more" with none: stop on either.
            if !more || empty {
                break;
            }
        }
        Ok(ResultSet { columns, rows })
    }

    /// GetInfo CLI_DBMS_NAME: "Apache Hive", "Spark SQL", "Impala", … (which SQL dialect to speak).
    pub async fn server_name(&mut self) -> Result<String> {
        const CLI_DBMS_NAME: i32 = 17;
        let req = Value::Struct(vec![
            (1, self.handle.clone()),
            (2, Value::I32(CLI_DBMS_NAME)),
        ]);
        let resp = self.call("GetInfo", req).await?;
        resp.field(2)
            .and_then(|v| v.field(1))
            .and_then(Value::as_string)
            .ok_or_else(|| hs2("GetInfo", "no server name in the answer"))
    }

    pub async fn close(mut self) -> Result<()> {
        let h = self.handle.clone();
        self.call("CloseSession", Value::Struct(vec![(1, h)]))
            .await
            .map(|_| ())
    }
}

fn is_null(nulls: &[u8], row: usize) -> bool {
    nulls
        .get(row / 8)
        .is_some_and(|b| b & (1 << (row % 8)) != 0)
}

/// Rows of a TRowSet: columnar (V6+) or row-based.
fn rowset(rs: &Value, width: usize) -> Vec<Vec<Cell>> {
    if let Some(cols) = rs
        .field(3)
        .and_then(Value::as_list)
        .filter(|c| !c.is_empty())
    {
        let decoded: Vec<Vec<Cell>> = cols.iter().map(column).collect();
        let n = decoded.iter().map(Vec::len).max().unwrap_or(0);
        return (0..n)
            .map(|i| {
                decoded
                    .iter()
                    .map(|c| c.get(i).cloned().unwrap_or(Cell::Null))
                    .collect()
            })
            .collect();
    }
    rs.field(2)
        .and_then(Value::as_list)
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let vals = r.field(1).and_then(Value::as_list).unwrap_or(&[]);
                    let mut cells: Vec<Cell> = vals.iter().map(row_value).collect();
                    cells.resize(width.max(cells.len()), Cell::Null);
                    cells
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One TColumn union: its values with the null bitmap applied.
fn column(c: &Value) -> Vec<Cell> {
    let Value::Struct(fields) = c else {
        return Vec::new();
    };
    let Some((kind, inner)) = fields.first() else {
        return Vec::new();
    };
    let values = inner.field(1).and_then(Value::as_list).unwrap_or(&[]);
    let nulls = inner.field(2).and_then(Value::as_bytes).unwrap_or(&[]);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if is_null(nulls, i) {
                return Cell::Null;
            }
            match (kind, v) {
                (1, Value::Bool(b)) => Cell::Bool(*b),
                (2, Value::Byte(b)) => Cell::Int(i64::from(*b)),
                (3, Value::I16(n)) => Cell::Int(i64::from(*n)),
                (4, Value::I32(n)) => Cell::Int(i64::from(*n)),
                (5, Value::I64(n)) => Cell::Int(*n),
                (6, Value::Double(d)) => Cell::Double(*d),
                (7, Value::Binary(b)) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
                (8, Value::Binary(b)) => Cell::Bytes(b.clone()),
                _ => Cell::Null,
            }
        })
        .collect()
}

/// A TColumnValue union of the row-based format.
fn row_value(v: &Value) -> Cell {
    let Value::Struct(fields) = v else {
        return Cell::Null;
    };
    let Some((kind, inner)) = fields.first() else {
        return Cell::Null;
    };
    match (kind, inner.field(1)) {
        (_, None) => Cell::Null,
        (1, Some(Value::Bool(b))) => Cell::Bool(*b),
        (2, Some(Value::Byte(b))) => Cell::Int(i64::from(*b)),
        (3, Some(Value::I16(n))) => Cell::Int(i64::from(*n)),
        (4, Some(Value::I32(n))) => Cell::Int(i64::from(*n)),
        (5, Some(Value::I64(n))) => Cell::Int(*n),
        (6, Some(Value::Double(d))) => Cell::Double(*d),
        (7, Some(Value::Binary(b))) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
        _ => Cell::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columnar_rows_with_nulls() {
        let ints = Value::Struct(vec![(
            4,
            Value::Struct(vec![
                (
                    1,
                    Value::List(8, vec![Value::I32(1), Value::I32(0), Value::I32(3)]),
                ),
                (2, Value::Binary(vec![0b010])),
            ]),
        )]);
        let strs = Value::Struct(vec![(
            7,
            Value::Struct(vec![
                (
                    1,
                    Value::List(11, vec![Value::str("a"), Value::str("b"), Value::str("")]),
                ),
                (2, Value::Binary(vec![0b100])),
            ]),
        )]);
        let rs = Value::Struct(vec![
            (1, Value::I64(0)),
            (2, Value::List(12, vec![])),
            (3, Value::List(12, vec![ints, strs])),
        ]);
        assert_eq!(
            rowset(&rs, 2),
            vec![
                vec![Cell::Int(1), Cell::Text("a".into())],
                vec![Cell::Null, Cell::Text("b".into())],
                vec![Cell::Int(3), Cell::Null]
            ]
        );
    }
}
