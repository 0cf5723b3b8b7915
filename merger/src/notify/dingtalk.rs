//! Sending to a DingTalk custom robot: markdown messages, HMAC-SHA256 signing, `at` mentions,
//! and the answer's `errcode` checked (HTTP 200 with a non-zero errcode is a failure).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::Sha256;
use smallfiles_cluster::config::Secret;

use super::config::DingTalkConfig;
use super::SendResult;

/// DingTalk refuses larger bodies (errcode 460101).
pub const MAX_BODY: usize = 20_000;

pub struct Robot {
    pub config: DingTalkConfig,
    webhook: Secret,
    secret: Option<Secret>,
    http: reqwest::Client,
}

/// `base64(HmacSHA256(key = secret, message = timestamp + "\n" + secret))`, URL-encoded.
pub fn signature(secret: &str, timestamp_ms: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    utf8_percent_encode(&b64, NON_ALPHANUMERIC).to_string()
}

/// Cuts a markdown text so that the message body stays within DingTalk's limit, with a note.
pub fn fit(text: &str, room: usize) -> String {
    if text.len() <= room {
        return text.to_string();
    }
    let note = format!("\n\n… (truncated: {} more bytes)", text.len());
    let mut cut = room.saturating_sub(note.len() + 16);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n\n… (truncated: {} more bytes)",
        &text[..cut],
        text.len() - cut
    )
}

impl Robot {
    pub fn new(config: &DingTalkConfig) -> crate::Result<Robot> {
        let webhook = config.resolve_webhook()?;
        let secret = Secret::resolve(config.secret_file.as_deref(), config.secret_env.as_deref())?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout.0)
            .build()
            .map_err(|e| crate::Error::Config(format!("http client: {e}")))?;
        Ok(Robot {
            config: config.clone(),
            webhook,
            secret,
            http,
        })
    }

    pub fn body(&self, title: &str, text: &str) -> Value {
        let mentions: String = self
            .config
            .at_mobiles
            .iter()
            .map(|m| format!(" @{m}"))
            .collect();
        let skeleton = json!({ "msgtype": "markdown", "markdown": { "title": title, "text": "" }, "at": { "atMobiles": self.config.at_mobiles, "isAtAll": self.config.at_all } });
        let room = MAX_BODY.saturating_sub(
            serde_json::to_vec(&skeleton).map(|v| v.len()).unwrap_or(0) + mentions.len() + 64,
        );
        // JSON escaping can grow a text; leave it room.
        let mut text = fit(text, room);
        while serde_json::to_vec(&json!({ "t": format!("{text}{mentions}") }))
            .map(|v| v.len())
            .unwrap_or(0)
            > room
        {
            let shorter = text.len() * 9 / 10;
            text = fit(&text, shorter);
        }
        json!({ "msgtype": "markdown", "markdown": { "title": title, "text": format!("{text}{mentions}") }, "at": { "atMobiles": self.config.at_mobiles, "isAtAll": self.config.at_all } })
    }

    pub async fn send(&self, title: &str, text: &str) -> SendResult {
        let mut url = self.webhook.expose().to_string();
        if let Some(secret) = &self.secret {
            let ts = chrono::Utc::now().timestamp_millis();
            url.push_str(&format!(
                "&timestamp={ts}&sign={}",
                signature(secret.expose(), ts)
            ));
        }
        let reply = self
            .http
            .post(&url)
            .json(&self.body(title, text))
            .send()
            .await;
        let resp = match reply {
            Ok(r) => r,
            // The URL carries the access token: never let it into a message.
            Err(e) => {
                return SendResult::Failed(format!(
                    "robot {}: {}",
                    self.config.name,
                    e.without_url()
                ))
            }
        };
        let status = resp.status();
        let answer: Value = match resp.json().await {
            Ok(v) => v,
            Err(_) => {
                return SendResult::Failed(format!(
                    "robot {}: HTTP {status} without a JSON answer",
                    self.config.name
                ))
            }
        };
        match answer["errcode"].as_i64() {
            Some(0) => SendResult::Sent,
            Some(130101) => SendResult::Throttled,
            Some(code) => SendResult::Failed(format!(
                "robot {}: errcode {code}: {}",
                self.config.name,
                answer["errmsg"].as_str().unwrap_or("")
            )),
            None => SendResult::Failed(format!(
                "robot {}: HTTP {status}, no errcode",
                self.config.name
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed vectors, not a second run of the code under test: the HMAC of RFC 4231 (test
    /// case 2), and DingTalk's string to sign (`timestamp + "\n" + secret`, HMAC-SHA256 keyed
    /// with the secret, base64, URL-encoded) as Python's `hmac` module computes it.
    #[test]
    fn signature_matches_fixed_vectors() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            signature("SECxyz", 1_600_000_000_000),
            "8cLJgw10Z06m7buEWqPTOtaQzWRDbAInH3uCRl7fOTc%3D"
        );
    }

    #[test]
    fn long_texts_are_cut_with_a_note() {
        let text = "é".repeat(30_000);
        let cut = fit(&text, 1000);
        assert!(cut.len() <= 1000);
        assert!(cut.contains("truncated"));
        assert_eq!(fit("short", 1000), "short");
    }
}
