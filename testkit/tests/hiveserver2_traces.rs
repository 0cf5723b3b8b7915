//! The HiveServer2 client against byte traces of a real server (Spark's Thrift Server),
//! replayed by a server that answers each call with the recorded answer to the same call:
//! NOSASL, SASL PLAIN and HTTP. Skips when `../shared/` is absent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use smallfiles_cluster::config::Secret;
use smallfiles_cluster::hiveserver2::thrift::{
    self, decode_message, encode_message, Message, Value,
};
use smallfiles_cluster::hiveserver2::{Auth, Cell, Hs2Config, Session};
use smallfiles_testkit::require_shared;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn messages(mut bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (m, used) = decode_message(bytes).unwrap();
        out.push(m);
        bytes = &bytes[used..];
    }
    out
}

fn framed_messages(mut bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let n = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push(decode_message(&bytes[4..4 + n]).unwrap().0);
        bytes = &bytes[4 + n..];
    }
    out
}

/// Bodies of HTTP/1.1 messages with chunked or sized bodies, in order.
fn http_bodies(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        bytes = &bytes[end + 4..];
        let mut body = Vec::new();
        if head.contains("transfer-encoding: chunked") {
            loop {
                let line_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&bytes[..line_end]).trim(), 16)
                        .unwrap();
                bytes = &bytes[line_end + 2..];
                if size == 0 {
                    bytes = &bytes[2..];
                    break;
                }
                body.extend_from_slice(&bytes[..size]);
                bytes = &bytes[size + 2..];
            }
        } else {
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            body.extend_from_slice(&bytes[..len]);
            bytes = &bytes[len..];
        }
        out.push(body);
    }
    out
}

/// Recorded answers by call name; calls the trace lacks (our client polls GetOperationStatus
/// and closes operations where the recorded client did not) get a FINISHED or plain status.
struct Replay {
    answers: HashMap<String, VecDeque<Message>>,
    calls: Vec<Message>,
}

impl Replay {
    fn new(server: Vec<Message>) -> Replay {
        let mut answers: HashMap<String, VecDeque<Message>> = HashMap::new();
        for m in server {
            answers.entry(m.name.clone()).or_default().push_back(m);
        }
        Replay {
            answers,
            calls: Vec::new(),
        }
    }

    fn answer(&mut self, call: Message) -> Vec<u8> {
        let reply = match self
            .answers
            .get_mut(&call.name)
            .and_then(VecDeque::pop_front)
        {
            Some(mut m) => {
                m.seq = call.seq;
                m
            }
            None if call.name == "GetOperationStatus" => Message {
                name: call.name.clone(),
                kind: thrift::REPLY,
                seq: call.seq,
                body: Value::Struct(vec![(
                    0,
                    Value::Struct(vec![
                        (1, Value::Struct(vec![(1, Value::I32(0))])),
                        (2, Value::I32(2)),
                    ]),
                )]),
            },
            // Calls answered by a status alone, which a trace may not hold.
            None if matches!(
                call.name.as_str(),
                "CloseOperation" | "CancelOperation" | "CloseSession"
            ) =>
            {
                Message {
                    name: call.name.clone(),
                    kind: thrift::REPLY,
                    seq: call.seq,
                    body: Value::Struct(vec![(
                        0,
                        Value::Struct(vec![(1, Value::Struct(vec![(1, Value::I32(0))]))]),
                    )]),
                }
            }
            None => panic!("the trace has no answer to {}", call.name),
        };
        self.calls.push(call);
        encode_message(&reply)
    }
}

/// Serves one connection of unframed Thrift (NOSASL) from a replay; yields the calls it saw.
async fn serve_unframed(
    mut replay: Replay,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<Message>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Ok((m, used)) = decode_message(&buf) {
                buf.drain(..used);
                let out = replay.answer(m);
                sock.write_all(&out).await.unwrap();
            }
        }
        replay.calls
    });
    (addr, server)
}

fn trace(shared: &Path, name: &str) -> Vec<u8> {
    std::fs::read(shared.join("fixtures/hiveserver2-traces").join(name)).unwrap()
}

fn config(url: String, auth: Auth) -> Hs2Config {
    Hs2Config {
        url,
        auth,
        user: "hive".into(),
        password: Some(Secret::new("pw")),
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
        settings: BTreeMap::from([("hive.merge.tezfiles".to_string(), "true".to_string())]),
        tls: false,
        ca_file: None,
        kerberos: None,
    }
}

fn check_select(rs: &smallfiles_cluster::hiveserver2::ResultSet) {
    assert_eq!(rs.columns, vec!["one", "s"]);
    assert_eq!(rs.rows, vec![vec![Cell::Int(1), Cell::Text("hi".into())]]);
}

fn check_calls(calls: &[Message]) {
    let names: Vec<&str> = calls.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"OpenSession"));
    assert!(
        names.contains(&"ExecuteStatement")
            && names.contains(&"FetchResults")
            && names.contains(&"CloseOperation")
    );
    assert_eq!(names.last(), Some(&"CloseSession"));
    let open = calls[0].body.field(1).unwrap();
    assert_eq!(
        open.field(2).and_then(Value::as_string).as_deref(),
        Some("hive")
    );
    let conf = match open.field(4) {
        Some(Value::Map(_, _, e)) => e.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        conf[0].0.as_string().as_deref(),
        Some("set:hiveconf:hive.merge.tezfiles")
    );
    let exec = calls
        .iter()
        .find(|m| m.name == "ExecuteStatement")
        .unwrap()
        .body
        .field(1)
        .unwrap();
    assert_eq!(
        exec.field(2).and_then(Value::as_string).as_deref(),
        Some("SELECT 1 AS one, 'hi' AS s")
    );
    assert_eq!(
        exec.field(4).and_then(Value::as_bool),
        Some(true),
        "asynchronous execution"
    );
}

#[tokio::test]
async fn nosasl_trace() {
    let shared = require_shared!();
    let recorded_client = messages(&trace(&shared, "nosasl.c2s.bin"));
    assert_eq!(
        recorded_client[0].name, "OpenSession",
        "the decoder reads the recorded client"
    );
    let replay = Replay::new(messages(&trace(&shared, "nosasl.s2c.bin")));
    let (addr, server) = serve_unframed(replay).await;
    let mut s = Session::open(&config(format!("hive2://{addr}"), Auth::NoSasl))
        .await
        .unwrap();
    let rs = s.execute("SELECT 1 AS one, 'hi' AS s").await.unwrap();
    check_select(&rs);
    s.close().await.unwrap();
    let calls = server.await.unwrap();
    check_calls(&calls);
}

#[tokio::test]
async fn sasl_plain_trace() {
    let shared = require_shared!();
    let s2c = trace(&shared, "sasl-plain.s2c.bin");
    let c2s = trace(&shared, "sasl-plain.c2s.bin");
    // The negotiation: client START "PLAIN", OK "\0user\0password"; server COMPLETE.
    assert_eq!(&c2s[..10], b"\x01\x00\x00\x00\x05PLAIN");
    let sasl_len = 5 + u32::from_be_bytes(s2c[1..5].try_into().unwrap()) as usize;
    assert_eq!(s2c[0], 0x05);
    let mut replay = Replay::new(framed_messages(&s2c[sasl_len..]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let complete = s2c[..sasl_len].to_vec();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut frames = Vec::new();
        for _ in 0..2 {
            let mut head = [0u8; 5];
            sock.read_exact(&mut head).await.unwrap();
            let mut p = vec![0u8; u32::from_be_bytes(head[1..].try_into().unwrap()) as usize];
            sock.read_exact(&mut p).await.unwrap();
            frames.push((head[0], p));
        }
        assert_eq!(frames[0], (1, b"PLAIN".to_vec()));
        assert_eq!(frames[1], (2, b"\0hive\0pw".to_vec()));
        sock.write_all(&complete).await.unwrap();
        loop {
            let mut len = [0u8; 4];
            if sock.read_exact(&mut len).await.is_err() {
                break;
            }
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            sock.read_exact(&mut body).await.unwrap();
            let out = replay.answer(decode_message(&body).unwrap().0);
            let mut framed = (out.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&out);
            sock.write_all(&framed).await.unwrap();
        }
        replay.calls
    });
    let mut s = Session::open(&config(format!("hive2://{addr}"), Auth::Plain))
        .await
        .unwrap();
    check_select(&s.execute("SELECT 1 AS one, 'hi' AS s").await.unwrap());
    s.close().await.unwrap();
    let calls = server.await.unwrap();
    check_calls(&calls);
    assert_eq!(
        calls[0]
            .body
            .field(1)
            .unwrap()
            .field(3)
            .and_then(Value::as_string)
            .as_deref(),
        Some("pw")
    );
}

#[tokio::test]
async fn http_trace() {
    let shared = require_shared!();
    let bodies = http_bodies(&trace(&shared, "http-basic.s2c.bin"));
    let server_messages: Vec<Message> = bodies
        .iter()
        .map(|b| decode_message(b).unwrap().0)
        .collect();
    let replay = std::sync::Arc::new(std::sync::Mutex::new(Replay::new(server_messages)));
    let r = replay.clone();
    let app = axum::Router::new().route(
        "/cliservice",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    assert_eq!(
                        headers["authorization"], "Basic aGl2ZTpwdw==",
                        "Basic hive:pw"
                    );
                    let out = r.lock().unwrap().answer(decode_message(&body).unwrap().0);
                    ([("content-type", "application/x-thrift")], out)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut s = Session::open(&config(format!("http://{addr}/cliservice"), Auth::Plain))
        .await
        .unwrap();
    check_select(&s.execute("SELECT 1 AS one, 'hi' AS s").await.unwrap());
    s.close().await.unwrap();
    check_calls(&replay.lock().unwrap().calls);
}

#[tokio::test]
async fn ddl_trace_has_no_result_set() {
    let shared = require_shared!();
    let client = messages(&trace(&shared, "nosasl-ddl.c2s.bin"));
    let server = messages(&trace(&shared, "nosasl-ddl.s2c.bin"));
    let exec = client
        .iter()
        .find(|m| m.name == "ExecuteStatement")
        .unwrap();
    let sql = exec
        .body
        .field(1)
        .unwrap()
        .field(2)
        .and_then(Value::as_string)
        .unwrap();
    let replay = Replay::new(server);
    let (addr, srv) = serve_unframed(replay).await;
    let mut s = Session::open(&config(format!("hive2://{addr}"), Auth::NoSasl))
        .await
        .unwrap();
    let rs = s.execute(&sql).await.unwrap();
    assert!(rs.rows.is_empty(), "{sql}: {rs:?}");
    s.close().await.unwrap();
    srv.await.unwrap();
}
