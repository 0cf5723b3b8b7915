//! Webhook → task committed: latency (p50/p99) and sustained alerts/s with deduplication,
//! against the real merger binary, a real metastore (MariaDB) and redb on disk.
//!
//!   cargo bench -p smallfiles-merger --bench webhook [-- --tables 2000 --copies 5 --concurrency 16]
//!
//! Each table gets `copies` identical alerts (an HA pair of Alertmanagers and repeats): the first
//! queues a task, the rest are answered duplicate. Needs `../shared/` and the local MariaDB.
//!
//!   cargo bench -p smallfiles-merger --bench webhook -- --rate 1000 --duration 300
//!
//! holds a rate for a while instead, and samples the merger's memory and file descriptors.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::metastore::{shared_dir, TableSpec, TestDb};
use smallfiles_testkit::process::{free_port, rss_and_fds, Running};

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
    /// Sustained mode: send this many alerts a second (paced) for `--duration` seconds,
    /// table after table over and over (repeats, as Alertmanager sends them), and sample the
    /// merger's RSS and open file descriptors and each window's p99.
    #[arg(long)]
    rate: Option<u32>,
    #[arg(long, default_value_t = 300)]
    duration: u64,
}

fn p99(mut l: Vec<f64>) -> f64 {
    if l.is_empty() {
        return 0.0;
    }
    l.sort_by(|a, b| a.partial_cmp(b).unwrap());
    l[((l.len() as f64 * 0.99) as usize).min(l.len() - 1)]
}

/// Alerts at `rate` a second for `duration` seconds; a row per 30 s window.
async fn sustained(
    http: &reqwest::Client,
    url: &str,
    args: &Args,
    pid: u32,
    data_dir: &std::path::Path,
) {
    let rate = args.rate.unwrap_or(1000).max(1);
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, f64, bool)>();
    let start = Instant::now();
    let total = rate as u64 * args.duration;
    let sender = {
        let (http, url, sem) = (http.clone(), url.to_string(), sem.clone());
        let tables = args.tables;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for i in 0..total {
                tick.tick().await;
                let permit = sem.clone().acquire_owned().await.unwrap();
                let (http, url, tx) = (http.clone(), url.clone(), tx.clone());
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let ok = match http
                        .post(&url)
                        .bearer_auth("bench-token")
                        .header("content-type", "application/json")
                        .body(payload(i as usize % tables))
                        .send()
                        .await
                    {
                        Ok(r) => r.status().is_success(),
                        Err(_) => false,
                    };
                    let _ = tx.send((
                        start.elapsed().as_secs() / 30,
                        sent.elapsed().as_secs_f64() * 1000.0,
                        ok,
                    ));
                    drop(permit);
                });
            }
        })
    };
    let mut windows: std::collections::BTreeMap<u64, (Vec<f64>, u64)> = Default::default();
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut received = 0u64;
    while received < total {
        tokio::select! {
            got = rx.recv() => {
                let Some((w, ms, ok)) = got else { break };
                received += 1;
                let e = windows.entry(w).or_default();
                e.0.push(ms);
                e.1 += u64::from(!ok);
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if start.elapsed() >= next_sample {
            samples.push((start.elapsed().as_secs(), rss_and_fds(pid)));
            next_sample += Duration::from_secs(10);
        }
    }
    sender.await.unwrap();
    let wall = start.elapsed().as_secs_f64();
    println!("sustained: {total} alerts at a target of {rate}/s in {wall:.1} s = {:.0} alerts/s (concurrency {})", total as f64 / wall, args.concurrency);
    println!("sustained: window   alerts   failed   p99 ms");
    for (w, (lat, failed)) in &windows {
        println!(
            "sustained: {:>3}-{:<3}s {:>7} {:>8} {:>8.1}",
            w * 30,
            w * 30 + 30,
            lat.len(),
            failed,
            p99(lat.clone())
        );
    }
    println!("sustained: t(s)  rss MiB  fds");
    for (t, (rss, fds)) in &samples {
        println!("sustained: {t:>4} {:>8.1} {fds:>4}", *rss as f64 / 1024.0);
    }
    let redb = std::fs::metadata(data_dir.join("merger.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "sustained: redb file {:.1} MiB",
        redb as f64 / (1 << 20) as f64
    );
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
        if args.rate.is_some() {
            sustained(&http, &url, &args, merger.child.id(), &dir.path().join("data")).await;
            return;
        }
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
