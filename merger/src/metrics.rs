//! The merger's `/metrics`. Counters live in memory (Prometheus handles restarts); task states
//! and the queue age are read from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::model::TaskState;

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
    durations: BTreeMap<String, (Vec<u64>, f64, u64)>,
    alerts: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Metrics {
    c: Mutex<Counters>,
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

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
            .entry(f.strategy.into())
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
    }

    /// The page; `retired` counts the directories in their rollback window per cluster.
    pub fn render(
        &self,
        states: &[(TaskState, u64)],
        oldest_queued_seconds: f64,
        retired: &BTreeMap<String, u64>,
    ) -> String {
        let c = self.c.lock().unwrap_or_else(|e| e.into_inner());
        let mut o = String::new();
        let fam = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        fam(
            &mut o,
            "smallfiles_merge_tasks",
            "gauge",
            "Merge tasks by state.",
        );
        for (s, n) in states {
            let _ = writeln!(o, "smallfiles_merge_tasks{{state=\"{}\"}} {n}", s.as_str());
        }
        fam(
            &mut o,
            "smallfiles_merge_tasks_total",
            "counter",
            "Merge tasks that ended, by cluster, strategy and outcome.",
        );
        for ((cl, st, out), n) in &c.tasks {
            let _ = writeln!(o, "smallfiles_merge_tasks_total{{cluster=\"{}\",strategy=\"{st}\",outcome=\"{out}\"}} {n}", esc(cl));
        }
        fam(
            &mut o,
            "smallfiles_merge_table_tasks_total",
            "counter",
            "Merge tasks that ended, per table and outcome.",
        );
        for ((cl, db, t, out), n) in &c.table_tasks {
            let _ = writeln!(o, "smallfiles_merge_table_tasks_total{{cluster=\"{}\",database=\"{}\",table=\"{}\",outcome=\"{out}\"}} {n}", esc(cl), esc(db), esc(t));
        }
        fam(
            &mut o,
            "smallfiles_merge_failures_total",
            "counter",
            "Merge tasks that failed or were rolled back, by reason.",
        );
        for ((cl, r), n) in &c.failures {
            let _ = writeln!(
                o,
                "smallfiles_merge_failures_total{{cluster=\"{}\",reason=\"{r}\"}} {n}",
                esc(cl)
            );
        }
        fam(
            &mut o,
            "smallfiles_merge_files_removed_total",
            "counter",
            "Files removed by merges (files before minus after).",
        );
        for (cl, n) in &c.files_removed {
            let _ = writeln!(
                o,
                "smallfiles_merge_files_removed_total{{cluster=\"{}\"}} {n}",
                esc(cl)
            );
        }
        fam(
            &mut o,
            "smallfiles_merge_bytes_rewritten_total",
            "counter",
            "Bytes written by merges.",
        );
        for (cl, n) in &c.bytes_rewritten {
            let _ = writeln!(
                o,
                "smallfiles_merge_bytes_rewritten_total{{cluster=\"{}\"}} {n}",
                esc(cl)
            );
        }
        fam(
            &mut o,
            "smallfiles_merge_duration_seconds",
            "histogram",
            "Duration of merge tasks from start to end, by strategy.",
        );
        for (st, (buckets, sum, count)) in &c.durations {
            for (b, n) in DURATION_BUCKETS.iter().zip(buckets) {
                let _ = writeln!(
                    o,
                    "smallfiles_merge_duration_seconds_bucket{{strategy=\"{st}\",le=\"{b}\"}} {n}"
                );
            }
            let _ = writeln!(
                o,
                "smallfiles_merge_duration_seconds_bucket{{strategy=\"{st}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                o,
                "smallfiles_merge_duration_seconds_sum{{strategy=\"{st}\"}} {sum}"
            );
            let _ = writeln!(
                o,
                "smallfiles_merge_duration_seconds_count{{strategy=\"{st}\"}} {count}"
            );
        }
        fam(
            &mut o,
            "smallfiles_merge_alerts_received_total",
            "counter",
            "Alerts received from Alertmanager, by what became of them.",
        );
        for out in ALERT_OUTCOMES {
            let _ = writeln!(
                o,
                "smallfiles_merge_alerts_received_total{{outcome=\"{out}\"}} {}",
                c.alerts.get(out).copied().unwrap_or(0)
            );
        }
        fam(
            &mut o,
            "smallfiles_merge_queue_oldest_seconds",
            "gauge",
            "Age of the oldest task waiting to start (0 when none waits).",
        );
        let _ = writeln!(
            o,
            "smallfiles_merge_queue_oldest_seconds {oldest_queued_seconds}"
        );
        fam(
            &mut o,
            "smallfiles_merge_retired_directories",
            "gauge",
            "Directories replaced by merges, kept for the rollback window and not yet removed.",
        );
        for (cluster, n) in retired {
            let _ = writeln!(
                o,
                "smallfiles_merge_retired_directories{{cluster=\"{}\"}} {n}",
                esc(cluster)
            );
        }
        fam(
            &mut o,
            "smallfiles_build_info",
            "gauge",
            "Build of the merger; always 1.",
        );
        let _ = writeln!(
            o,
            "smallfiles_build_info{{version=\"{}\",revision=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            option_env!("SMALLFILES_REVISION").unwrap_or("unknown")
        );
        o
    }
}
