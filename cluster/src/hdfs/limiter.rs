//! Protecting the NameNode: a cap on requests in flight and on requests per second, per
//! cluster, and counters of every request by operation and outcome.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

pub struct RequestLimiter {
    in_flight: Semaphore,
    interval: Option<Duration>,
    next_slot: Mutex<Instant>,
}

impl RequestLimiter {
    /// `per_second == 0` means no rate limit.
    pub fn new(max_in_flight: usize, per_second: u32) -> RequestLimiter {
        RequestLimiter {
            in_flight: Semaphore::new(max_in_flight.max(1)),
            interval: (per_second > 0).then(|| Duration::from_secs(1) / per_second),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for a free slot under both limits. The permit is the in-flight slot.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("limiter semaphore is never closed");
        if let Some(interval) = self.interval {
            let slot = {
                let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
                let slot = (*next).max(Instant::now());
                *next = slot + interval;
                slot
            };
            tokio::time::sleep_until(slot).await;
        }
        permit
    }
}

/// Request counts by (operation, outcome), for `smallfiles_hdfs_requests_total`.
#[derive(Default)]
pub struct RequestCounters {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Bytes of replies read, for the per-scan bound.
    reply_bytes: std::sync::atomic::AtomicU64,
    /// Kerberos (SPNEGO) negotiations made; the `hadoop.auth` cookie saves the rest.
    negotiations: std::sync::atomic::AtomicU64,
}

impl RequestCounters {
    pub fn add_reply_bytes(&self, n: u64) {
        self.reply_bytes
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn reply_bytes(&self) -> u64 {
        self.reply_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn add_negotiation(&self) {
        self.negotiations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn negotiations(&self) -> u64 {
        self.negotiations.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn add(&self, op: &'static str, outcome: &'static str) {
        let mut m = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((op, outcome)).or_default() += 1;
    }

    pub fn snapshot(&self) -> Vec<((&'static str, &'static str), u64)> {
        let m = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub fn total(&self) -> u64 {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_is_capped() {
        let limiter = RequestLimiter::new(100, 50);
        let start = Instant::now();
        for _ in 0..100 {
            drop(limiter.acquire().await);
        }
        // 100 requests at 50/s are paced 20 ms apart, with no burst.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1980), "{took:?}");
        assert!(took <= Duration::from_millis(2100), "{took:?}");
    }

    #[tokio::test]
    async fn in_flight_is_capped() {
        let limiter = RequestLimiter::new(2, 0);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire())
                .await
                .is_err()
        );
        drop(a);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire())
                .await
                .is_ok()
        );
    }
}
