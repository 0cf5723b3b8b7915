//! Notifications: merge outcomes and a daily digest by email and DingTalk, and Alertmanager
//! groups forwarded to DingTalk (the bridge). Messages wait in a persistent outbox (redb) and a
//! dispatcher sends them within each robot's rate limit, aggregating instead of dropping, and
//! retrying failures with backoff.

pub mod config;
pub mod dingtalk;
pub mod email;
pub mod render;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::outbox::{self, Message, Outbox};
pub use config::NotifyConfig;

/// Counts for `smallfiles_notifications_total{channel,outcome}`.
#[derive(Default)]
pub struct NotifyCounters {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl NotifyCounters {
    /// `channel` is `email` or `dingtalk:<robot>`; the label is the kind.
    pub fn add(&self, channel: &str, outcome: &'static str, n: u64) {
        let channel = channel.split(':').next().unwrap_or(channel);
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((channel.to_string(), outcome))
            .or_default() += n;
    }
    pub fn snapshot(&self) -> Vec<((String, &'static str), u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// What one send attempt produced.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    Sent,
    /// The robot is throttled (DingTalk 130101): hold its messages for a while.
    Throttled,
    /// Worth trying again later.
    Failed(String),
}

pub struct Notifier {
    pub config: NotifyConfig,
    pub outbox: Outbox,
    pub counters: NotifyCounters,
    email: Option<email::EmailSender>,
    robots: HashMap<String, dingtalk::Robot>,
    /// Send times per robot within the rate window, and a hold after a throttle answer.
    windows: Mutex<HashMap<String, RateWindow>>,
    wake: tokio::sync::Notify,
}

/// Send times within a robot's rate window, and a hold after a throttle answer.
type RateWindow = (VecDeque<Instant>, Option<Instant>);

impl Notifier {
    pub fn new(config: NotifyConfig, outbox: Outbox) -> crate::Result<Arc<Notifier>> {
        let email = match &config.email {
            Some(e) => Some(email::EmailSender::new(e)?),
            None => None,
        };
        let mut robots = HashMap::new();
        for r in &config.dingtalk {
            robots.insert(r.name.clone(), dingtalk::Robot::new(r)?);
        }
        Ok(Arc::new(Notifier {
            config,
            outbox,
            counters: NotifyCounters::default(),
            email,
            robots,
            windows: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }))
    }

    pub fn has_robot(&self, name: &str) -> bool {
        self.robots.contains_key(name)
    }

    pub fn wants(&self, event: &str) -> bool {
        self.config.events.iter().any(|e| e == event)
    }

    /// Queues a message for every configured channel.
    pub fn broadcast(&self, subject: &str, markdown: &str) -> crate::Result<()> {
        if self.email.is_some() {
            self.outbox.push(Message::new("email", subject, markdown))?;
        }
        for name in self.robots.keys() {
            self.outbox
                .push(Message::new(&format!("dingtalk:{name}"), subject, markdown))?;
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Queues a message for one robot (the Alertmanager bridge).
    pub fn to_robot(&self, robot: &str, subject: &str, markdown: &str) -> crate::Result<()> {
        self.outbox.push(Message::new(
            &format!("dingtalk:{robot}"),
            subject,
            markdown,
        ))?;
        self.wake.notify_one();
        Ok(())
    }

    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.dispatch_once().await {
                tracing::error!(error = %e, "notification dispatch failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// How many more messages a robot may send now.
    fn capacity(&self, robot: &str, cfg: &config::DingTalkConfig) -> usize {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (sent, hold) = w.entry(robot.to_string()).or_default();
        let now = Instant::now();
        if hold.is_some_and(|h| now < h) {
            return 0;
        }
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= cfg.rate_window.0)
        {
            sent.pop_front();
        }
        cfg.rate_limit.saturating_sub(sent.len())
    }

    fn record_send(&self, robot: &str, throttled_for: Option<Duration>) {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (sent, hold) = w.entry(robot.to_string()).or_default();
        sent.push_back(Instant::now());
        if let Some(d) = throttled_for {
            *hold = Some(Instant::now() + d);
        }
    }

    pub async fn dispatch_once(&self) -> crate::Result<()> {
        let now_ms = outbox::now_ms();
        let due = self.outbox.due(now_ms)?;
        let mut by_channel: BTreeMap<String, Vec<Message>> = BTreeMap::new();
        for m in due {
            by_channel.entry(m.channel.clone()).or_default().push(m);
        }
        for (channel, messages) in by_channel {
            if channel == "email" {
                let Some(sender) = &self.email else { continue };
                for m in messages {
                    let result = sender.send(&m.subject, &m.markdown).await;
                    self.settle(&channel, &[m], result)?;
                }
                continue;
            }
            let Some(name) = channel.strip_prefix("dingtalk:") else {
                continue;
            };
            let Some(robot) = self.robots.get(name) else {
                // A robot removed from the configuration: its messages cannot be sent.
                self.counters
                    .add(&channel, "dropped", messages.len() as u64);
                for m in messages {
                    self.outbox.remove(m.id)?;
                }
                continue;
            };
            let capacity = self.capacity(name, &robot.config);
            if capacity == 0 {
                continue;
            }
            // More waiting than the window allows: aggregate rather than drop or delay.
            let batches = if messages.len() > capacity {
                render::aggregate(messages, capacity)
            } else {
                messages.into_iter().map(|m| vec![m]).collect()
            };
            for batch in batches {
                if self.capacity(name, &robot.config) == 0 {
                    break;
                }
                let (subject, body) = if batch.len() == 1 {
                    (batch[0].subject.clone(), batch[0].markdown.clone())
                } else {
                    render::combine(&batch)
                };
                let result = robot.send(&subject, &body).await;
                self.record_send(
                    name,
                    (result == SendResult::Throttled).then_some(robot.config.throttle.0),
                );
                if batch.len() > 1 && result == SendResult::Sent {
                    self.counters
                        .add(&channel, "aggregated", batch.len() as u64);
                }
                self.settle(&channel, &batch, result)?;
            }
        }
        Ok(())
    }

    fn settle(&self, channel: &str, batch: &[Message], result: SendResult) -> crate::Result<()> {
        match result {
            SendResult::Sent => {
                self.counters.add(channel, "sent", 1);
                for m in batch {
                    self.outbox.remove(m.id)?;
                }
            }
            SendResult::Throttled => {
                self.counters.add(channel, "throttled", 1);
            }
            SendResult::Failed(why) => {
                self.counters.add(channel, "failed", 1);
                for m in batch {
                    if m.attempts + 1 >= self.config.max_attempts {
                        tracing::error!(channel, attempts = m.attempts + 1, error = %why, "notification given up");
                        self.counters.add(channel, "given_up", 1);
                        self.outbox.remove(m.id)?;
                    } else {
                        tracing::warn!(channel, attempt = m.attempts + 1, error = %why, "notification failed; will retry");
                        self.outbox.retry_later(m.id, m.attempts + 1)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn render_metrics(&self, out: &mut String) {
        let mut p = smallfiles_cluster::exposition::Page::new();
        p.family(
            "smallfiles_notifications_total",
            "counter",
            "Notification sends by channel and outcome (sent, aggregated, throttled, failed, given_up, dropped).",
        );
        for ((channel, outcome), n) in self.counters.snapshot() {
            p.sample(
                "smallfiles_notifications_total",
                &[("channel", &channel), ("outcome", outcome)],
                n,
            );
        }
        p.family(
            "smallfiles_notifications_pending",
            "gauge",
            "Notifications waiting in the outbox.",
        );
        p.sample(
            "smallfiles_notifications_pending",
            &[],
            self.outbox.len().unwrap_or(0),
        );
        out.push_str(&p.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallfiles_testkit::dingtalk::{DingTalkServer, RobotOptions};

    fn notifier(dir: &std::path::Path, yaml: &str) -> Arc<Notifier> {
        let config: NotifyConfig = serde_saphyr::from_str(yaml).unwrap();
        config.validate().unwrap();
        let store = crate::db::Store::open(&dir.join("merger.redb")).unwrap();
        Notifier::new(config, Outbox::new(store.database()).unwrap()).unwrap()
    }

    fn count(n: &Notifier, channel: &str, outcome: &str) -> u64 {
        n.counters
            .snapshot()
            .into_iter()
            .find(|((c, o), _)| c == channel && *o == outcome)
            .map_or(0, |(_, v)| v)
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        let schedule: Vec<i64> = (1..=11).map(outbox::backoff_ms).collect();
        assert_eq!(
            schedule,
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600].map(|s| s * 1000)
        );
    }

    /// A robot that keeps failing: retried after the backoff, given up after
    /// `notify.max_attempts` sends, counted, and gone from the outbox.
    #[tokio::test]
    async fn a_failing_message_is_given_up_after_the_configured_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let server = DingTalkServer::start(vec![("tok", RobotOptions::signed("SEC1"))]).await;
        std::fs::write(dir.path().join("secret"), "SEC1").unwrap();
        let n = notifier(
            dir.path(),
            &format!(
                "max_attempts: 2\ndingtalk:\n  - {{ name: ops, webhook: \"{}\", secret_file: {} }}\n",
                server.webhook("tok"),
                dir.path().join("secret").display()
            ),
        );
        server.fail_next(10);
        n.to_robot("ops", "s", "m").unwrap();
        n.dispatch_once().await.unwrap();
        assert_eq!(count(&n, "dingtalk", "failed"), 1);
        assert_eq!(n.outbox.len().unwrap(), 1, "kept for a retry");
        // Not due before its backoff.
        n.dispatch_once().await.unwrap();
        assert_eq!(count(&n, "dingtalk", "failed"), 1);
        let due_in = n
            .outbox
            .due(outbox::now_ms() + outbox::backoff_ms(1))
            .unwrap();
        assert_eq!(due_in.len(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(
            outbox::backoff_ms(1) as u64 + 100,
        ))
        .await;
        n.dispatch_once().await.unwrap();
        assert_eq!(count(&n, "dingtalk", "failed"), 2);
        assert_eq!(count(&n, "dingtalk", "given_up"), 1);
        assert_eq!(n.outbox.len().unwrap(), 0);
        assert!(server.accepted("tok").is_empty());
    }

    /// DingTalk's throttling answer (130101) holds the robot for `throttle`: nothing is sent
    /// meanwhile (the message waits, it is not lost), then sending resumes.
    #[tokio::test]
    async fn a_throttled_robot_is_held_then_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let opts = RobotOptions {
            per_window: 1,
            window: std::time::Duration::from_millis(500),
            throttle: std::time::Duration::from_millis(300),
            ..RobotOptions::signed("SEC2")
        };
        let server = DingTalkServer::start(vec![("tok", opts)]).await;
        std::fs::write(dir.path().join("secret"), "SEC2").unwrap();
        let n = notifier(
            dir.path(),
            &format!(
                "dingtalk:\n  - {{ name: ops, webhook: \"{}\", secret_file: {}, throttle: 1s }}\n",
                server.webhook("tok"),
                dir.path().join("secret").display()
            ),
        );
        n.to_robot("ops", "first", "1").unwrap();
        n.dispatch_once().await.unwrap();
        assert_eq!(server.accepted("tok").len(), 1);
        n.to_robot("ops", "second", "2").unwrap();
        n.dispatch_once().await.unwrap();
        assert_eq!(count(&n, "dingtalk", "throttled"), 1);
        assert_eq!(server.rejections().len(), 1);
        // Held: the next dispatch sends nothing at all.
        n.dispatch_once().await.unwrap();
        assert_eq!(server.rejections().len(), 1, "nothing sent during the hold");
        assert_eq!(n.outbox.len().unwrap(), 1, "the message waits");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        n.dispatch_once().await.unwrap();
        assert_eq!(server.accepted("tok").len(), 2, "sent after the hold");
        assert_eq!(n.outbox.len().unwrap(), 0);
    }

    /// Messages for a robot no longer configured cannot be sent: dropped and counted.
    #[tokio::test]
    async fn messages_of_a_removed_robot_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let n = notifier(dir.path(), "events: [task_failed]\n");
        n.outbox
            .push(Message::new("dingtalk:gone", "s", "m"))
            .unwrap();
        n.dispatch_once().await.unwrap();
        assert_eq!(count(&n, "dingtalk", "dropped"), 1);
        assert_eq!(n.outbox.len().unwrap(), 0);
        let mut page = String::new();
        n.render_metrics(&mut page);
        assert!(
            page.contains(
                "smallfiles_notifications_total{channel=\"dingtalk\",outcome=\"dropped\"} 1"
            ),
            "{page}"
        );
    }
}
