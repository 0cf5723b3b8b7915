//! The merger's `/metrics`. Counters live in memory (Prometheus handles restarts); task states
//! and the queue age are read from the store at scrape time. Every series an alert or a panel
//! reads exists from the start: each configured cluster × strategy × outcome, each failure
//! reason, and each table with a task, at 0 (`increase()` cannot see the increment that
//! creates a series).

use smallfiles_cluster::exposition::Page;
use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::engine::FailureReason;
use crate::model::{Strategy, TaskState, ALL_STATES};

/// The strategies a task runs with (`auto` is resolved before a task is created).
const STRATEGIES: [Strategy; 3] = [
    Strategy::Concatenate,
    Strategy::InsertOverwrite,
    Strategy::Compact,
];
/// How a task can end.
const OUTCOMES: [TaskState; 4] = [
    TaskState::Succeeded,
    TaskState::Failed,
    TaskState::Cancelled,
    TaskState::RolledBack,
];

const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];
pub const ALERT_OUTCOMES: [&str; 6] = [
    "queued",
    "duplicate",
    "cooldown",
    "resolved_ignored",
    "rejected",
    "deferred",
];

#[derive(Default)]
struct Counters {
    tasks: BTreeMap<(String, String, String), u64>,
    table_tasks: BTreeMap<(String, String, String, String), u64>,
    failures: BTreeMap<(String, String), u64>,
    files_removed: BTreeMap<String, u64>,
    bytes_rewritten: BTreeMap<String, u64>,
    /// (cluster, strategy) → buckets, sum, count.
    durations: BTreeMap<(String, String), (Vec<u64>, f64, u64)>,
    alerts: BTreeMap<String, u64>,
    /// (cluster, component) → whether it answered the last probe.
    up: BTreeMap<(String, &'static str), bool>,
}

#[derive(Default)]
pub struct Metrics {
    c: Mutex<Counters>,
}

/// What a scrape reads from the store, per configured cluster.
#[derive(Debug, Default)]
pub struct Scrape {
    pub clusters: Vec<String>,
    pub states: BTreeMap<(String, TaskState), u64>,
    pub oldest_queued_seconds: BTreeMap<String, f64>,
    /// Directories in their rollback window.
    pub retired: BTreeMap<String, u64>,
}

pub struct Finished<'a> {
    pub cluster: &'a str,
    pub database: &'a str,
    pub table: &'a str,
    pub strategy: &'a str,
    pub outcome: &'a str,
    pub failure_reason: Option<&'a str>,
    pub files_removed: u64,
    pub bytes_rewritten: u64,
    pub duration_seconds: f64,
}

impl Metrics {
    pub fn alert(&self, outcome: &str) {
        *self
            .c
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .alerts
            .entry(outcome.to_string())
            .or_default() += 1;
    }

    pub fn finished(&self, f: Finished) {
        let mut c = self.c.lock().unwrap_or_else(|e| e.into_inner());
        *c.tasks
            .entry((f.cluster.into(), f.strategy.into(), f.outcome.into()))
            .or_default() += 1;
        *c.table_tasks
            .entry((
                f.cluster.into(),
                f.database.into(),
                f.table.into(),
                f.outcome.into(),
            ))
            .or_default() += 1;
        if let Some(r) = f.failure_reason {
            *c.failures.entry((f.cluster.into(), r.into())).or_default() += 1;
        }
        *c.files_removed.entry(f.cluster.into()).or_default() += f.files_removed;
        *c.bytes_rewritten.entry(f.cluster.into()).or_default() += f.bytes_rewritten;
        let h = c
            .durations
            .entry((f.cluster.into(), f.strategy.into()))
            .or_insert_with(|| (vec![0; DURATION_BUCKETS.len()], 0.0, 0));
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if f.duration_seconds <= *b {
                h.0[i] += 1;
            }
        }
        h.1 += f.duration_seconds;
        h.2 += 1;
    }

    /// Declares a cluster so that its counters exist (at 0) before the first merge.
    pub fn declare_cluster(&self, cluster: &str) {
        let mut c = self.c.lock().unwrap_or_else(|e| e.into_inner());
        c.files_removed.entry(cluster.into()).or_default();
        c.bytes_rewritten.entry(cluster.into()).or_default();
        for st in STRATEGIES {
            for out in OUTCOMES {
                c.tasks
                    .entry((cluster.into(), st.as_str().into(), out.as_str().into()))
                    .or_default();
            }
            c.durations
                .entry((cluster.into(), st.as_str().into()))
                .or_insert_with(|| (vec![0; DURATION_BUCKETS.len()], 0.0, 0));
        }
        for r in FailureReason::ALL {
            c.failures
                .entry((cluster.into(), r.as_str().into()))
                .or_default();
        }
    }

    /// Declares a table's per-table counters (at 0) once it has a task, before it ends.
    pub fn declare_table(&self, cluster: &str, database: &str, table: &str) {
        let mut c = self.c.lock().unwrap_or_else(|e| e.into_inner());
        for out in OUTCOMES {
            c.table_tasks
                .entry((
                    cluster.into(),
                    database.into(),
                    table.into(),
                    out.as_str().into(),
                ))
                .or_default();
        }
    }

    /// The page; `retired` counts the directories in their rollback window per cluster.
    /// The last probe of a cluster's component (`engine/probe.rs`).
    pub fn set_up(&self, cluster: &str, component: &'static str, up: bool) {
        self.c
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .up
            .insert((cluster.to_string(), component), up);
    }

    pub fn render(&self, scrape: &Scrape) -> String {
        let c = self.c.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = Page::new();
        p.family(
            "smallfiles_up",
            "gauge",
            "Whether the merger reached the cluster's component at its last probe (hiveserver2, impala, hdfs).",
        );
        for ((cl, component), up) in &c.up {
            p.sample(
                "smallfiles_up",
                &[("cluster", cl), ("component", component)],
                u64::from(*up),
            );
        }
        p.family(
            "smallfiles_merge_tasks",
            "gauge",
            "Merge tasks by cluster and state.",
        );
        for cl in &scrape.clusters {
            for st in ALL_STATES {
                let n = scrape.states.get(&(cl.clone(), st)).copied().unwrap_or(0);
                p.sample(
                    "smallfiles_merge_tasks",
                    &[("cluster", cl), ("state", st.as_str())],
                    n,
                );
            }
        }
        p.family(
            "smallfiles_merge_tasks_total",
            "counter",
            "Merge tasks that ended, by cluster, strategy and outcome.",
        );
        for ((cl, st, out), n) in &c.tasks {
            p.sample(
                "smallfiles_merge_tasks_total",
                &[("cluster", cl), ("strategy", st), ("outcome", out)],
                n,
            );
        }
        p.family(
            "smallfiles_merge_table_tasks_total",
            "counter",
            "Merge tasks that ended, per table and outcome.",
        );
        for ((cl, db, t, out), n) in &c.table_tasks {
            p.sample(
                "smallfiles_merge_table_tasks_total",
                &[
                    ("cluster", cl),
                    ("database", db),
                    ("table", t),
                    ("outcome", out),
                ],
                n,
            );
        }
        p.family(
            "smallfiles_merge_failures_total",
            "counter",
            "Merge tasks that failed or were rolled back, by reason.",
        );
        for ((cl, r), n) in &c.failures {
            p.sample(
                "smallfiles_merge_failures_total",
                &[("cluster", cl), ("reason", r)],
                n,
            );
        }
        p.family(
            "smallfiles_merge_files_removed_total",
            "counter",
            "Files removed by merges (files before minus after).",
        );
        for (cl, n) in &c.files_removed {
            p.sample(
                "smallfiles_merge_files_removed_total",
                &[("cluster", cl)],
                n,
            );
        }
        p.family(
            "smallfiles_merge_bytes_rewritten_total",
            "counter",
            "Bytes written by merges.",
        );
        for (cl, n) in &c.bytes_rewritten {
            p.sample(
                "smallfiles_merge_bytes_rewritten_total",
                &[("cluster", cl)],
                n,
            );
        }
        p.family(
            "smallfiles_merge_duration_seconds",
            "histogram",
            "Duration of merge tasks from start to end, by cluster and strategy.",
        );
        for ((cl, st), (buckets, sum, count)) in &c.durations {
            for (b, n) in DURATION_BUCKETS.iter().zip(buckets) {
                p.sample(
                    "smallfiles_merge_duration_seconds_bucket",
                    &[("cluster", cl), ("strategy", st), ("le", &b.to_string())],
                    n,
                );
            }
            p.sample(
                "smallfiles_merge_duration_seconds_bucket",
                &[("cluster", cl), ("strategy", st), ("le", "+Inf")],
                count,
            );
            let labels = [("cluster", cl.as_str()), ("strategy", st.as_str())];
            p.sample("smallfiles_merge_duration_seconds_sum", &labels, sum);
            p.sample("smallfiles_merge_duration_seconds_count", &labels, count);
        }
        p.family(
            "smallfiles_merge_alerts_received_total",
            "counter",
            "Alerts received from Alertmanager, by what became of them.",
        );
        for out in ALERT_OUTCOMES {
            p.sample(
                "smallfiles_merge_alerts_received_total",
                &[("outcome", out)],
                c.alerts.get(out).copied().unwrap_or(0),
            );
        }
        p.family(
            "smallfiles_merge_queue_oldest_seconds",
            "gauge",
            "Age of the oldest task waiting to start, per cluster (0 when none waits).",
        );
        for cl in &scrape.clusters {
            p.sample(
                "smallfiles_merge_queue_oldest_seconds",
                &[("cluster", cl)],
                scrape.oldest_queued_seconds.get(cl).copied().unwrap_or(0.0),
            );
        }
        p.family(
            "smallfiles_merge_retired_directories",
            "gauge",
            "Directories replaced by merges, kept for the rollback window and not yet removed.",
        );
        for (cluster, n) in &scrape.retired {
            p.sample(
                "smallfiles_merge_retired_directories",
                &[("cluster", cluster)],
                n,
            );
        }
        p.family(
            "smallfiles_build_info",
            "gauge",
            "Build of the merger; always 1.",
        );
        p.sample(
            "smallfiles_build_info",
            &[
                ("version", smallfiles_cluster::VERSION),
                ("revision", smallfiles_cluster::REVISION),
            ],
            1,
        );
        p.out
    }
}
