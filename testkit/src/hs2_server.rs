//! A scripted HiveServer2 test server: the TCLIService calls over the binary transport without
//! SASL (NOSASL), answering each statement from a function the test gives and recording every
//! statement. It stands in where no real server can run here: Impala (`REFRESH`) and Hive with
//! ACID compaction (`COMPACT`, `SHOW COMPACTIONS`) and `CONCATENATE`.
//!
//! Covered: OpenSession (protocol V10), GetInfo (CLI_DBMS_NAME), ExecuteStatement (async; a
//! failed statement reports ERROR with its message and SQLSTATE through GetOperationStatus, as
//! Hive does), GetResultSetMetadata, FetchResults (columnar, string columns, null bitmaps),
//! CancelOperation (a statement may stay RUNNING until cancelled), CloseOperation,
//! CloseSession. Not covered: SASL, HTTP, TLS, row-based
//! results, typed columns, multiple result pages, server-side timeouts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use smallfiles_cluster::hiveserver2::thrift::{
    decode_message, encode_message, DecodeError, Message, Value, REPLY, T_STRING, T_STRUCT,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A statement's answer: string columns and rows (`None` is NULL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// The statement stays RUNNING until the client cancels it (a long merge job).
    pub runs_until_cancelled: bool,
}

impl Table {
    pub fn new(columns: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| Some(c.to_string())).collect())
                .collect(),
            runs_until_cancelled: false,
        }
    }

    pub fn running() -> Table {
        Table {
            runs_until_cancelled: true,
            ..Table::default()
        }
    }
}

pub type Script = dyn Fn(&str) -> Result<Table, String> + Send + Sync;

pub struct ScriptedHs2 {
    pub addr: SocketAddr,
    statements: Arc<Mutex<Vec<String>>>,
    cancelled: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedHs2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedHs2 {
    /// Every statement received so far, in order.
    pub fn statements(&self) -> Vec<String> {
        self.statements.lock().unwrap().clone()
    }

    /// Statements the client cancelled (CancelOperation), in order.
    pub fn cancelled(&self) -> Vec<String> {
        self.cancelled.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("hive2://{}", self.addr)
    }
}

/// Starts a server answering to the product name `server_name` ("Apache Hive", "Impala").
pub async fn start(
    server_name: &str,
    script: impl Fn(&str) -> Result<Table, String> + Send + Sync + 'static,
) -> ScriptedHs2 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let statements = Arc::new(Mutex::new(Vec::new()));
    let script: Arc<Script> = Arc::new(script);
    let name = server_name.to_string();
    let cancelled = Arc::new(Mutex::new(Vec::new()));
    let recorded = (statements.clone(), cancelled.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (script, name, recorded) = (script.clone(), name.clone(), recorded.clone());
            tokio::spawn(async move {
                let _ = serve(sock, &name, script.as_ref(), &recorded.0, &recorded.1).await;
            });
        }
    });
    ScriptedHs2 {
        addr,
        statements,
        cancelled,
        task,
    }
}

fn ok() -> Value {
    Value::Struct(vec![(1, Value::I32(0))])
}

fn handle(id: u64) -> Value {
    Value::Struct(vec![
        (1, Value::Binary(id.to_be_bytes().repeat(2))),
        (2, Value::Binary(vec![7; 16])),
    ])
}

fn handle_id(v: Option<&Value>) -> u64 {
    v.and_then(|h| h.field(1))
        .and_then(Value::as_bytes)
        .and_then(|b| b.get(..8))
        .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
        .unwrap_or(0)
}

struct Operation {
    sql: String,
    answer: Result<Table, String>,
    fetched: bool,
    cancelled: bool,
}

fn string_column(values: Vec<Option<String>>) -> Value {
    let mut nulls = vec![0u8; values.len().div_ceil(8)];
    let mut list = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        match v {
            Some(s) => list.push(Value::str(&s)),
            None => {
                nulls[i / 8] |= 1 << (i % 8);
                list.push(Value::str(""));
            }
        }
    }
    Value::Struct(vec![(
        7,
        Value::Struct(vec![
            (1, Value::List(T_STRING, list)),
            (2, Value::Binary(nulls)),
        ]),
    )])
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    server_name: &str,
    script: &Script,
    recorded: &Mutex<Vec<String>>,
    cancellations: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut ops: HashMap<u64, Operation> = HashMap::new();
    let mut next_op = 100u64;
    loop {
        let (msg, used) = match decode_message(&buf) {
            Ok(m) => m,
            Err(DecodeError::Incomplete) => {
                let mut chunk = [0u8; 8192];
                let n = sock.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
                continue;
            }
            Err(_) => return Ok(()),
        };
        buf.drain(..used);
        let req = msg.body.field(1).cloned().unwrap_or(Value::Struct(vec![]));
        // TOperationHandle.operationId (a THandleIdentifier) of the calls about an operation.
        let op_id = handle_id(req.field(1).and_then(|h| h.field(1)));
        let resp = match msg.name.as_str() {
            "OpenSession" => Value::Struct(vec![
                (1, ok()),
                (2, Value::I32(9)),
                (3, Value::Struct(vec![(1, handle(1))])),
            ]),
            "GetInfo" => Value::Struct(vec![
                (1, ok()),
                (2, Value::Struct(vec![(1, Value::str(server_name))])),
            ]),
            "ExecuteStatement" => {
                let sql = req.field(2).and_then(Value::as_string).unwrap_or_default();
                recorded.lock().unwrap().push(sql.clone());
                let answer = script(&sql);
                let has_rows = matches!(&answer, Ok(t) if !t.columns.is_empty());
                next_op += 1;
                ops.insert(
                    next_op,
                    Operation {
                        sql,
                        answer,
                        fetched: false,
                        cancelled: false,
                    },
                );
                Value::Struct(vec![
                    (1, ok()),
                    (
                        2,
                        Value::Struct(vec![
                            (1, handle(next_op)),
                            (2, Value::I32(0)),
                            (3, Value::Bool(has_rows)),
                        ]),
                    ),
                ])
            }
            "GetOperationStatus" => match ops.get(&op_id).map(|o| (&o.answer, o.cancelled)) {
                Some((_, true)) => Value::Struct(vec![(1, ok()), (2, Value::I32(3))]),
                Some((Ok(t), false)) if t.runs_until_cancelled => {
                    Value::Struct(vec![(1, ok()), (2, Value::I32(1))])
                }
                Some((Err(e), false)) => Value::Struct(vec![
                    (1, ok()),
                    (2, Value::I32(5)),
                    (3, Value::str("42000")),
                    (4, Value::I32(10001)),
                    (5, Value::str(e)),
                ]),
                _ => Value::Struct(vec![(1, ok()), (2, Value::I32(2))]),
            },
            "GetResultSetMetadata" => {
                let columns = match ops.get(&op_id).map(|o| &o.answer) {
                    Some(Ok(t)) => t.columns.clone(),
                    _ => Vec::new(),
                };
                let descs = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let primitive = Value::Struct(vec![(1, Value::I32(7))]);
                        let entry = Value::Struct(vec![(1, primitive)]);
                        Value::Struct(vec![
                            (1, Value::str(c)),
                            (
                                2,
                                Value::Struct(vec![(1, Value::List(T_STRUCT, vec![entry]))]),
                            ),
                            (3, Value::I32(i as i32 + 1)),
                        ])
                    })
                    .collect();
                Value::Struct(vec![
                    (1, ok()),
                    (2, Value::Struct(vec![(1, Value::List(T_STRUCT, descs))])),
                ])
            }
            "FetchResults" => {
                let (columns, rows) = match ops.get_mut(&op_id) {
                    Some(Operation {
                        answer: Ok(t),
                        fetched,
                        ..
                    }) if !*fetched => {
                        *fetched = true;
                        (t.columns.len(), t.rows.clone())
                    }
                    Some(Operation { answer: Ok(t), .. }) => (t.columns.len(), Vec::new()),
                    _ => (0, Vec::new()),
                };
                let cols = (0..columns)
                    .map(|c| {
                        string_column(rows.iter().map(|r| r.get(c).cloned().flatten()).collect())
                    })
                    .collect();
                Value::Struct(vec![
                    (1, ok()),
                    (2, Value::Bool(false)),
                    (
                        3,
                        Value::Struct(vec![
                            (1, Value::I64(0)),
                            (2, Value::List(T_STRUCT, vec![])),
                            (3, Value::List(T_STRUCT, cols)),
                        ]),
                    ),
                ])
            }
            "CancelOperation" => {
                if let Some(o) = ops.get_mut(&op_id) {
                    o.cancelled = true;
                    cancellations.lock().unwrap().push(o.sql.clone());
                }
                Value::Struct(vec![(1, ok())])
            }
            "CloseOperation" => {
                ops.remove(&op_id);
                Value::Struct(vec![(1, ok())])
            }
            _ => Value::Struct(vec![(1, ok())]),
        };
        let reply = encode_message(&Message {
            name: msg.name,
            kind: REPLY,
            seq: msg.seq,
            body: Value::Struct(vec![(0, resp)]),
        });
        sock.write_all(&reply).await?;
    }
}
