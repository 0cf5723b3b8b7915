//! The redb file over a long life: its size after `--tasks` ended tasks (each with the log and
//! statements of a real one-partition swap) and as many audit entries, without retention and
//! with it (ended tasks and audit entries beyond the newest `--keep` removed every `--every`
//! tasks, as the hourly pruning does), and what pruning costs.
//!
//!   cargo bench -p smallfiles-merger --bench store [-- --tasks 100000 --keep 10000 --every 10000]

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use smallfiles_merger::db::{new_task, Created, Store};
use smallfiles_merger::model::{now_rfc3339, AuditEntry, LogLine, Strategy, Target, TaskState};

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true, global = true)]
    bench: bool,
    #[arg(long, default_value_t = 100_000)]
    tasks: u64,
    /// Retention keeps the newest this many tasks and audit entries.
    #[arg(long, default_value_t = 10_000)]
    keep: u64,
    /// Pruning runs after every this many tasks.
    #[arg(long, default_value_t = 10_000)]
    every: u64,
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / (1 << 20) as f64
}

/// One ended task as a real swap of one partition leaves it: statements, log, counts.
fn write_task(store: &Store, n: u64) -> String {
    let target = Target {
        cluster: format!("c{}", n % 3),
        database: "sales".into(),
        table: format!("events_{:05}", n % 20_000),
        partition: Some(format!("dt=2026-11-{:02}/hr={:02}", n % 28 + 1, n % 24)),
    };
    let task = new_task(
        target,
        Strategy::Auto,
        Strategy::InsertOverwrite,
        false,
        "alertmanager",
    );
    let Created::New(task) = store.create(task, 0, 0).expect("create") else {
        panic!("not created")
    };
    let loc = format!("hdfs://ns1/warehouse/sales.db/events_{:05}", n % 20_000);
    let ended = store
        .update(task.id, |t| {
            t.statements = vec![
                "SET hive.exec.dynamic.partition=true".into(),
                "SET mapreduce.job.queuename=maintenance".into(),
                format!("CREATE EXTERNAL TABLE `sales`.`smallfiles_task_{n}_staging` LIKE `sales`.`events` LOCATION '{loc}/_smallfiles/task-{n}'"),
                format!("SELECT COUNT(*), SUM(CAST(hash(`id`, `note`, `amount`) AS BIGINT)) FROM `sales`.`events` WHERE `dt`='2026-11-01' AND `hr`=3"),
                format!("INSERT OVERWRITE TABLE `sales`.`smallfiles_task_{n}_staging` PARTITION (`dt`='2026-11-01', `hr`=3) SELECT `id`, `note`, `amount` FROM `sales`.`events` WHERE `dt`='2026-11-01' AND `hr`=3"),
                format!("ALTER TABLE `sales`.`events` PARTITION (`dt`='2026-11-01', `hr`=3) SET LOCATION '{loc}/_smallfiles/task-{n}/dt=2026-11-01/hr=3'"),
                format!("ANALYZE TABLE `sales`.`events` PARTITION (`dt`='2026-11-01', `hr`=3) COMPUTE STATISTICS"),
                format!("DROP TABLE `sales`.`smallfiles_task_{n}_staging`"),
            ];
            t.log = (0..14)
                .map(|i| LogLine {
                    at: now_rfc3339(),
                    message: format!("step {i}: ran in 0.4 s (1 rows): a statement of about this length, as the journal records it"),
                })
                .collect();
            t.files_before = Some(412);
            t.files_after = Some(3);
            t.bytes_rewritten = Some(380 << 20);
            t.step = Some("dt=2026-11-01/hr=3: finished".into());
            t.reason = Some("merged 412 files into 3".into());
            t.state = TaskState::Succeeded;
            Ok(())
        })
        .expect("update");
    store
        .audit(AuditEntry {
            id: 0,
            at: now_rfc3339(),
            who: "alertmanager".into(),
            peer: "10.0.0.7:51234".into(),
            action: "webhook".into(),
            outcome: "queued".into(),
            detail: serde_json::json!({"task": task.id, "alerts": 1}),
        })
        .expect("audit");
    ended.updated_at
}

fn run(args: &Args, retention: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merger.redb");
    let store = Store::open(&path).unwrap();
    let start = Instant::now();
    let mut stamps = std::collections::VecDeque::new();
    let mut prune_ms = Vec::new();
    let label = if retention {
        format!("retention keeping {}", args.keep)
    } else {
        "no retention".to_string()
    };
    for n in 1..=args.tasks {
        stamps.push_back(write_task(&store, n));
        while stamps.len() as u64 > args.keep + 1 {
            stamps.pop_front();
        }
        if n % args.every == 0 {
            if retention && stamps.len() as u64 > args.keep {
                // Everything older than the newest `keep` ages out.
                let cutoff = &stamps[0];
                let t = Instant::now();
                let tasks = store.prune_tasks(cutoff, 1000).unwrap();
                let audit = store.prune_audit(cutoff).unwrap();
                prune_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                println!(
                    "store: {label}: {n:>7} tasks written, {:>6} kept; pruned {tasks} tasks and {audit} audit entries in {:.0} ms; file {:.1} MiB",
                    store.count().unwrap(),
                    prune_ms.last().unwrap(),
                    mib(&path)
                );
            } else {
                println!(
                    "store: {label}: {n:>7} tasks written, {:>6} kept; file {:.1} MiB",
                    store.count().unwrap(),
                    mib(&path)
                );
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "store: {label}: {} tasks and audit entries in {secs:.1} s ({:.0} tasks/s, three commits each); final file {:.1} MiB",
        args.tasks,
        args.tasks as f64 / secs,
        mib(&path)
    );
}

fn main() {
    let args = Args::parse();
    run(&args, false);
    run(&args, true);
}
