//! Notifications waiting to be sent, in the merger's redb file: they survive a restart.

use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{store_err, Result};

const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("notify_outbox");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: u64,
    /// `email` or `dingtalk:<robot>`.
    pub channel: String,
    pub subject: String,
    /// Markdown; email turns it into its plain and HTML parts.
    pub markdown: String,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
}

impl Message {
    pub fn new(channel: &str, subject: &str, markdown: &str) -> Message {
        Message {
            id: 0,
            channel: channel.into(),
            subject: subject.into(),
            markdown: markdown.into(),
            attempts: 0,
            next_attempt_ms: 0,
            created_ms: now_ms(),
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How long a message waits after its `attempts`-th failed send: 2 s, 4 s, 8 s … doubling, at
/// most 10 minutes.
pub fn backoff_ms(attempts: u32) -> i64 {
    1000i64.saturating_mul(1 << attempts.min(10)).min(600_000)
}

#[derive(Clone)]
pub struct Outbox {
    db: Arc<Database>,
}

impl Outbox {
    pub fn new(db: Arc<Database>) -> Result<Outbox> {
        let tx = db.begin_write().map_err(store_err)?;
        tx.open_table(OUTBOX).map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        Ok(Outbox { db })
    }

    pub fn push(&self, mut m: Message) -> Result<u64> {
        let tx = self.db.begin_write().map_err(store_err)?;
        let id = {
            let mut meta = tx.open_table(META).map_err(store_err)?;
            let id = super::writes::next_id(&mut meta, "next_message_id")?;
            m.id = id;
            let bytes = serde_json::to_vec(&m).map_err(store_err)?;
            tx.open_table(OUTBOX)
                .map_err(store_err)?
                .insert(id, bytes.as_slice())
                .map_err(store_err)?;
            id
        };
        tx.commit().map_err(store_err)?;
        Ok(id)
    }

    /// Messages whose next attempt is due, oldest first.
    pub fn due(&self, now_ms: i64) -> Result<Vec<Message>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(OUTBOX).map_err(store_err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(store_err)? {
            let (_, v) = row.map_err(store_err)?;
            let m: Message = serde_json::from_slice(v.value()).map_err(store_err)?;
            if m.next_attempt_ms <= now_ms {
                out.push(m);
            }
        }
        Ok(out)
    }

    pub fn remove(&self, id: u64) -> Result<()> {
        let tx = self.db.begin_write().map_err(store_err)?;
        tx.open_table(OUTBOX)
            .map_err(store_err)?
            .remove(id)
            .map_err(store_err)?;
        tx.commit().map_err(store_err)
    }

    /// Records a failed send and holds the message for [`backoff_ms`].
    pub fn retry_later(&self, id: u64, attempts: u32) -> Result<()> {
        let tx = self.db.begin_write().map_err(store_err)?;
        {
            let mut t = tx.open_table(OUTBOX).map_err(store_err)?;
            let bytes = t.get(id).map_err(store_err)?.map(|v| v.value().to_vec());
            if let Some(bytes) = bytes {
                let mut m: Message = serde_json::from_slice(&bytes).map_err(store_err)?;
                m.attempts = attempts;
                m.next_attempt_ms = now_ms() + backoff_ms(attempts);
                t.insert(id, serde_json::to_vec(&m).map_err(store_err)?.as_slice())
                    .map_err(store_err)?;
            }
        }
        tx.commit().map_err(store_err)
    }

    pub fn len(&self) -> Result<u64> {
        let tx = self.db.begin_read().map_err(store_err)?;
        tx.open_table(OUTBOX)
            .map_err(store_err)?
            .len()
            .map_err(store_err)
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}
