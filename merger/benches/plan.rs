//! The time the merger needs to plan a table-level merge of a table with many partitions:
//! the table and its partitions read from a real metastore (MariaDB), every partition listed,
//! the partitions chosen (`plan/select.rs`) and the safe swap planned for the chosen ones —
//! what a table-level task does before its first statement. Listed twice: from local disk
//! (`file://`), and through WebHDFS (the test server over the same directories, with a
//! latency per request as across a network, 16 requests in flight).
//!
//!   cargo bench -p smallfiles-merger --bench plan [-- --partitions 10000 --files 3 --runs 3 --latency-ms 2]
//!
//! Needs `../shared/` and the local MariaDB.

use std::time::Instant;

use clap::Parser;
use smallfiles_cluster::config::{ClusterConfig, MetastoreKind};
use smallfiles_cluster::hdfs::{ClusterFs, LocalFs};
use smallfiles_merger::engine::select::choose_partitions;
use smallfiles_merger::model::{Strategy, Target};
use smallfiles_merger::plan::select::SelectionRules;
use smallfiles_merger::plan::{swap_plan, PlanSettings};
use smallfiles_merger::validate::{Catalog, ClusterCatalog};
use smallfiles_testkit::metastore::{shared_dir, TableSpec, TestDb};

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true, global = true)]
    bench: bool,
    #[arg(long, default_value_t = 10_000)]
    partitions: usize,
    #[arg(long, default_value_t = 3)]
    files: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value_t = 2)]
    latency_ms: u64,
}

fn main() {
    let args = Args::parse();
    let Some(shared) = shared_dir() else {
        eprintln!("this benchmark needs ../shared/");
        std::process::exit(2);
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("w/sales.db/events");
    let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
    let mut b = db.builder();
    let d = b.database(
        "sales",
        &format!("file://{}", dir.path().join("w/sales.db").display()),
    );
    let spec = TableSpec::text("events", &format!("file://{}", root.display()))
        .partitioned_by(&[("dt", "string"), ("hr", "int")]);
    let id = b.table(d, &spec);
    let hdfs_spec = TableSpec::text("events_hdfs", "hdfs://ns/w/sales.db/events")
        .partitioned_by(&[("dt", "string"), ("hr", "int")]);
    let hdfs_id = b.table(d, &hdfs_spec);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for p in 0..args.partitions {
        let name = format!("dt=d{p:05}/hr={}", p % 24);
        let pdir = root.join(&name);
        std::fs::create_dir_all(&pdir).unwrap();
        // Every tenth partition has small files to merge; the others one file.
        let files = if p % 10 == 0 { args.files.max(2) } else { 1 };
        for f in 0..files {
            let path = pdir.join(format!("part-{f:05}"));
            std::fs::write(&path, b"1,a,1.0\n").unwrap();
            std::fs::File::open(&path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        std::fs::File::open(&pdir)
            .unwrap()
            .set_modified(old)
            .unwrap();
        b.partition(id, &spec, &name, &format!("file://{}", pdir.display()), &[]);
        b.partition(
            hdfs_id,
            &hdfs_spec,
            &name,
            &format!("hdfs://ns/w/sales.db/events/{name}"),
            &[],
        );
    }
    db.execute_bulk(&b.take_statements(2000));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let server = smallfiles_testkit::webhdfs::spawn(
            smallfiles_testkit::webhdfs::ServerOptions {
                latency: std::time::Duration::from_millis(args.latency_ms),
                ..smallfiles_testkit::webhdfs::ServerOptions::new(dir.path())
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let config: ClusterConfig = serde_saphyr::from_str(&format!(
            "name: bench\nmetastore:\n  url: {}\nhdfs:\n  namenodes: [\"{}\"]\nmax_concurrent_requests: 16\nmax_requests_per_second: 100000\n",
            db.url(),
            server.url()
        ))
        .unwrap();
        let catalog = ClusterCatalog::new(std::slice::from_ref(&config), &Default::default(), false).unwrap();
        let limits = config.effective(&Default::default());
        let webhdfs = ClusterFs::for_cluster(&config, &limits, Default::default()).unwrap();
        let local = ClusterFs {
            webhdfs: None,
            rpc: None,
            local: LocalFs,
        };
        for (how, table, fs) in [("file://", "events", &local), ("WebHDFS", "events_hdfs", &webhdfs)] {
        let target = Target {
            cluster: "bench".into(),
            database: "sales".into(),
            table: table.into(),
            partition: None,
        };
        for run in 1..=args.runs {
            let start = Instant::now();
            let resolved = catalog.resolve(&target).await.unwrap();
            let read = start.elapsed();
            let now = chrono::Utc::now().timestamp_millis();
            let (chosen, selection) = choose_partitions(
                fs,
                &SelectionRules::default(),
                Strategy::InsertOverwrite,
                resolved,
                now,
            )
            .await
            .unwrap();
            let listed = start.elapsed();
            let units: Vec<_> = chosen.partitions.iter().map(|p| (Some(p), 0u64)).collect();
            let plan = swap_plan(7, &chosen.table, &units, &PlanSettings::default()).unwrap();
            let total = start.elapsed();
            let selection = selection.unwrap();
            println!(
                "plan ({how}): run {run}: {} partitions: metastore read {:.2} s, listing + choice {:.2} s, plan {:.1} ms, total {:.2} s; chose {} ({} left for later), {} statements",
                args.partitions,
                read.as_secs_f64(),
                (listed - read).as_secs_f64(),
                (total - listed).as_secs_f64() * 1000.0,
                total.as_secs_f64(),
                selection.chosen.len(),
                selection.work_left(),
                plan.all_statements().len()
            );
        }
        }
    });
}
