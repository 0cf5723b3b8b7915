//! Webhook → task committed: latency (p50/p99) and sustained alerts/s with deduplication,
//! against the real merger binary, a real metastore (MariaDB) and redb on disk.
//!
//!   cargo bench -p smallfiles-merger --bench webhook [-- --tables 2000 --copies 5 --concurrency 16]
//!
//! Each table gets `copies` identical alerts (an HA pair of Alertmanagers and repeats): the first
//! queues a task, the rest are answered duplicate. Needs `../shared/` and the local MariaDB.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::metastore::{shared_dir, TableSpec, TestDb};
use smallfiles_testkit::process::{free_port, Running};

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true, global = true)]
    bench: bool,
    #[arg(long, default_value_t = 2000)]
    tables: usize,
    #[arg(long, default_value_t = 5)]
    copies: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

fn payload(table: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": "4", "status": "firing", "receiver": "merger", "groupKey": format!("t{table}"),
        "alerts": [{ "status": "firing", "startsAt": "2026-11-26T00:00:00Z", "fingerprint": format!("{table:016x}"),
            "labels": { "alertname": "HiveTableTooManySmallFiles", "cluster": "bench", "database": "db", "table": format!("t{table:05}") } }]
    }))
    .unwrap()
}

fn main() {
    let args = Args::parse();
    let Some(shared) = shared_dir() else {
        eprintln!("this benchmark needs ../shared/");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
        let mut b = db.builder();
        let d = b.database("db", "hdfs://ns/w/db.db");
        for t in 0..args.tables {
            b.table(d, &TableSpec::orc(&format!("t{t:05}"), &format!("hdfs://ns/w/db.db/t{t:05}")));
        }
        db.execute_bulk(&b.take_statements(2000));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("am.token"), "bench-token\n").unwrap();
        let port = free_port();
        let cfg = dir.path().join("smallfiles.yml");
        // Windows closed: tasks are committed and wait, so the figures are the API's own.
        let now = chrono_hour();
        std::fs::write(
            &cfg,
            format!(
                "merger:\n  listen_address: \"127.0.0.1:{port}\"\n  data_dir: {}\n  dry_run: true\n  windows: [\"{now}\"]\n  auth:\n    tokens:\n      - {{ name: am, token_file: {}, role: trigger }}\nclusters:\n  - name: bench\n    metastore:\n      url: {}\n",
                dir.path().join("data").display(),
                dir.path().join("am.token").display(),
                db.url()
            ),
        )
        .unwrap();
        let mut merger = Running::start(env!("CARGO_BIN_EXE_smallfiles-merger"), &["--config.file", &cfg.to_string_lossy()], port, &dir.path().join("merger.log"));
        merger.wait_ok("/-/ready", Duration::from_secs(20)).await;
        let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build().unwrap();
        let url = format!("http://127.0.0.1:{port}/api/v1/alertmanager");
        let order: Vec<usize> = (0..args.copies).flat_map(|_| 0..args.tables).collect();
        let start = Instant::now();
        let results: Vec<(Duration, String)> = futures::stream::iter(order)
            .map(|t| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let sent = Instant::now();
                    let r: serde_json::Value = http.post(&url).bearer_auth("bench-token").header("content-type", "application/json").body(payload(t)).send().await.unwrap().json().await.unwrap();
                    (sent.elapsed(), r["alerts"][0]["outcome"].as_str().unwrap_or("?").to_string())
                }
            })
            .buffer_unordered(args.concurrency)
            .collect()
            .await;
        let wall = start.elapsed().as_secs_f64();
        let mut lat: Vec<f64> = results.iter().map(|(d, _)| d.as_secs_f64() * 1000.0).collect();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        let queued = results.iter().filter(|r| r.1 == "queued").count();
        let dup = results.iter().filter(|r| r.1 == "duplicate").count();
        println!(
            "webhook: {} alerts ({} tables x {} copies, concurrency {}) in {wall:.2}s = {:.0} alerts/s; queued {queued}, duplicate {dup}; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(), args.tables, args.copies, args.concurrency, lat.len() as f64 / wall, pct(0.5), pct(0.99), lat[lat.len() - 1]
        );
        for outcome in ["queued", "duplicate"] {
            let mut l: Vec<f64> = results.iter().filter(|r| r.1 == outcome).map(|(d, _)| d.as_secs_f64() * 1000.0).collect();
            l.sort_by(|a, b| a.partial_cmp(b).unwrap());
            if !l.is_empty() {
                let p = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)];
                println!("webhook: {outcome}: p50 {:.1} ms, p99 {:.1} ms", p(0.5), p(0.99));
            }
        }
        assert_eq!(queued, args.tables, "exactly one task per table");
    });
}

/// A one-minute window two hours from now (UTC), i.e. closed.
fn chrono_hour() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let h = ((secs / 3600) + 2) % 24;
    format!("{h:02}:00-{h:02}:01")
}
