//! NameNode HA as both clients (WebHDFS and RPC) do it: one logical request asks every
//! NameNode in turn from the one that answered last as active; a standby, a refused connection
//! or a timeout moves on to the next; an answer worth retrying (a 5xx, a `RetriableException`)
//! waits and starts a new round; any other answer ends the request. Until a NameNode has
//! answered, requests go one at a time, so that a burst of parallel requests does not all
//! knock on a standby NameNode first.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::HdfsErrorKind;

/// What one attempt against one NameNode produced.
pub(super) enum Attempt<T> {
    Done(T),
    /// Try the next NameNode (standby, connection refused, timeout).
    Failover(HdfsErrorKind),
    /// Worth retrying after a pause (5xx, `RetriableException`).
    Retry(HdfsErrorKind),
    Fail(HdfsErrorKind),
}

/// Which of a client's NameNodes is asked first, and the rounds of a request.
pub(super) struct Failover {
    /// The NameNodes' names (URLs or RPC addresses), for the log and `active_namenode`.
    namenodes: Vec<String>,
    /// Index of the NameNode that last answered as active.
    active: AtomicUsize,
    /// Whether `active` has answered.
    active_known: AtomicBool,
    resolving: tokio::sync::Mutex<()>,
    /// Rounds after the first.
    retries: u32,
    /// How the log names the client ("webhdfs", "rpc").
    client: &'static str,
}

impl Failover {
    pub(super) fn new(client: &'static str, namenodes: Vec<String>, retries: u32) -> Failover {
        Failover {
            namenodes,
            active: AtomicUsize::new(0),
            active_known: AtomicBool::new(false),
            resolving: tokio::sync::Mutex::new(()),
            retries,
            client,
        }
    }

    /// The NameNodes' names, in configuration order.
    pub(super) fn namenodes(&self) -> &[String] {
        &self.namenodes
    }

    /// The NameNode that answered last as active.
    pub(super) fn active_namenode(&self) -> &str {
        let n = self.namenodes.len().max(1);
        self.namenodes
            .get(self.active.load(Ordering::Relaxed) % n)
            .map_or("none", String::as_str)
    }

    /// One logical request; `attempt(i)` asks NameNode `i` once. The error is the last
    /// NameNode's (every one in standby reads as unreachable).
    pub(super) async fn request<T, F, Fut>(&self, attempt: F) -> Result<T, HdfsErrorKind>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let _resolving = if self.active_known.load(Ordering::Acquire) {
            None
        } else {
            Some(self.resolving.lock().await)
        };
        let result = self.rounds(attempt).await;
        // Any answer from a NameNode (even "not found") tells which one is active.
        let answered = !matches!(
            &result,
            Err(HdfsErrorKind::Unreachable(_) | HdfsErrorKind::Timeout)
        );
        self.active_known.store(answered, Ordering::Release);
        result
    }

    async fn rounds<T, F, Fut>(&self, attempt: F) -> Result<T, HdfsErrorKind>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let n = self.namenodes.len();
        let mut last = HdfsErrorKind::Unreachable("no namenode configured".into());
        for round in 0..=self.retries {
            if round > 0 {
                tokio::time::sleep(super::retry_pause(round)).await;
            }
            let start = self.active.load(Ordering::Relaxed);
            for i in 0..n {
                let idx = (start + i) % n;
                match attempt(idx).await {
                    Attempt::Done(v) => {
                        if idx != start {
                            self.active.store(idx, Ordering::Relaxed);
                            tracing::info!(
                                namenode = %self.namenodes[idx],
                                client = self.client,
                                "failed over to namenode"
                            );
                        }
                        return Ok(v);
                    }
                    Attempt::Fail(kind) => return Err(kind),
                    Attempt::Failover(kind) => last = kind,
                    Attempt::Retry(kind) => {
                        last = kind;
                        break;
                    }
                }
            }
        }
        if matches!(last, HdfsErrorKind::Standby(_)) {
            last = HdfsErrorKind::Unreachable("every namenode is in standby".into());
        }
        Err(last)
    }
}
