//! A DingTalk custom-robot test endpoint, after DingTalk's public documentation: `POST
//! /robot/send?access_token=…[&timestamp=…&sign=…]`, the HMAC-SHA256 signature checked exactly
//! (`base64(HmacSHA256(secret, timestamp + "\n" + secret))`, timestamp within an hour), at most
//! 20 messages a minute per robot (beyond: errcode 130101 and a throttle), bodies over 20,000
//! bytes refused with errcode 460101, `text` and `markdown` messages checked for their fields,
//! and answers always HTTP 200 with `{"errcode", "errmsg"}` as DingTalk does.
//!
//! Not covered: the other message types' fields, keyword and IP-range security settings,
//! mentions resolving to real users, and DingTalk's own clock (this machine's is used). The
//! rate window and throttle are settable so tests need not wait minutes.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

#[derive(Clone)]
pub struct RobotOptions {
    pub secret: Option<String>,
    pub per_window: usize,
    pub window: Duration,
    pub throttle: Duration,
}

impl RobotOptions {
    pub fn signed(secret: &str) -> RobotOptions {
        RobotOptions {
            secret: Some(secret.into()),
            per_window: 20,
            window: Duration::from_secs(60),
            throttle: Duration::from_secs(600),
        }
    }
}

#[derive(Default)]
struct Robot {
    sent: VecDeque<Instant>,
    throttled_until: Option<Instant>,
    accepted: Vec<Value>,
}

#[derive(Default)]
struct Inner {
    robots: HashMap<String, (RobotOptions, Robot)>,
    fail_next: usize,
    rejections: Vec<(i64, String)>,
}

#[derive(Clone)]
pub struct DingTalkServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl DingTalkServer {
    pub async fn start(robots: Vec<(&str, RobotOptions)>) -> DingTalkServer {
        let inner = Arc::new(Mutex::new(Inner {
            robots: robots
                .into_iter()
                .map(|(t, o)| (t.to_string(), (o, Robot::default())))
                .collect(),
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/robot/send", post(send))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        DingTalkServer { addr, inner }
    }

    pub fn webhook(&self, token: &str) -> String {
        format!("http://{}/robot/send?access_token={token}", self.addr)
    }

    /// Messages accepted for a robot, in order.
    pub fn accepted(&self, token: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .robots
            .get(token)
            .map(|r| r.1.accepted.clone())
            .unwrap_or_default()
    }

    /// (errcode, errmsg) of every refused request.
    pub fn rejections(&self) -> Vec<(i64, String)> {
        self.inner.lock().unwrap().rejections.clone()
    }

    /// The next `n` requests fail as a busy DingTalk does (errcode -1).
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().fail_next = n;
    }
}

fn answer(inner: &mut Inner, code: i64, msg: &str) -> Json<Value> {
    if code != 0 {
        inner.rejections.push((code, msg.to_string()));
    }
    Json(json!({ "errcode": code, "errmsg": msg }))
}

async fn send(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Json<Value> {
    let mut g = inner.lock().unwrap();
    let inner = &mut *g;
    if inner.fail_next > 0 {
        inner.fail_next -= 1;
        return answer(inner, -1, "system busy");
    }
    let Some(token) = q.get("access_token") else {
        return answer(inner, 300001, "token is not exist");
    };
    let Some((opts, _)) = inner.robots.get(token) else {
        return answer(inner, 300001, "token is not exist");
    };
    let opts = opts.clone();
    if let Some(secret) = &opts.secret {
        let ts: Option<i64> = q.get("timestamp").and_then(|t| t.parse().ok());
        let now = chrono_now_ms();
        match ts {
            Some(ts) if (now - ts).abs() <= 3_600_000 => {
                if q.get("sign").map(String::as_str) != Some(sign(secret, ts).as_str()) {
                    return answer(inner, 310000, "sign not match");
                }
            }
            _ => return answer(inner, 310000, "invalid timestamp"),
        }
    }
    if body.len() > 20_000 {
        return answer(inner, 460101, "message too long, exceed 20000 bytes");
    }
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return answer(inner, 40035, "invalid json"),
    };
    let valid = match msg["msgtype"].as_str() {
        Some("markdown") => {
            msg["markdown"]["title"].is_string() && msg["markdown"]["text"].is_string()
        }
        Some("text") => msg["text"]["content"].is_string(),
        _ => false,
    };
    if !valid {
        return answer(inner, 40035, "invalid message");
    }
    let now = Instant::now();
    let robot = &mut inner.robots.get_mut(token).unwrap().1;
    if robot.throttled_until.is_some_and(|t| now < t) {
        inner
            .rejections
            .push((130101, "send too fast, exceed 20 times per minute".into()));
        return Json(
            json!({ "errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute" }),
        );
    }
    while robot
        .sent
        .front()
        .is_some_and(|t| now.duration_since(*t) > opts.window)
    {
        robot.sent.pop_front();
    }
    if robot.sent.len() >= opts.per_window {
        robot.throttled_until = Some(now + opts.throttle);
        inner
            .rejections
            .push((130101, "send too fast, exceed 20 times per minute".into()));
        return Json(
            json!({ "errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute" }),
        );
    }
    robot.sent.push_back(now);
    robot.accepted.push(msg);
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
