//! Sessions and statements over the TCLIService calls: OpenSession, ExecuteStatement (async)
//! polled with GetOperationStatus, GetResultSetMetadata, FetchResults (columnar and row-based
//! results, null bitmaps), CancelOperation, CloseOperation, CloseSession.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::thrift::{self, encode_message, Message, Value, T_STRING};
use super::transport::Transport;
use crate::config::Secret;
use crate::error::{Error, Result};

/// TProtocolVersion HIVE_CLI_SERVICE_PROTOCOL_V10: columnar results; servers answer with theirs.
pub const CLIENT_PROTOCOL: i32 = 9;

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

pub(super) fn hs2(what: &str, e: impl std::fmt::Display) -> Error {
    Error::HiveServer2(format!("{what}: {e}"))
}

/// The connection broke while sending or receiving a call.
pub(super) fn lost(what: &str, e: impl std::fmt::Display) -> Error {
    Error::HiveServer2Lost(format!("{what}: {e}"))
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
