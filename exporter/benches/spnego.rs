//! A first scan over WebHDFS on Hadoop's own NameNode, with SPNEGO (a Kerberized
//! MiniDFSCluster and Hadoop's MiniKdc) and without (a plain one), the same warehouse on both:
//! requests, requests/s and Kerberos negotiations. Needs Java and Maven (testkit/minidfs).
//!
//!   cargo bench -p smallfiles-exporter --features kerberos --bench spnego [-- --tables 20 --partitions 25 --runs 3]

use std::time::{Duration, Instant};

use clap::Parser;
use smallfiles_testkit::minidfs::MiniDfs;
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::prom::{parse, value, Sample};

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true, global = true)]
    bench: bool,
    #[arg(long, default_value_t = 20)]
    tables: usize,
    #[arg(long, default_value_t = 25)]
    partitions: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn write_warehouse(hdfs: &MiniDfs, a: &Args) {
    for t in 0..a.tables {
        for p in 0..a.partitions {
            hdfs.write(&format!("/warehouse/db.db/t{t:03}/dt={p:04}/part-0"), 100);
        }
    }
}

fn sum(s: &[Sample], name: &str) -> f64 {
    s.iter().filter(|x| x.name == name).map(|x| x.value).sum()
}

async fn first_scan(hdfs: &MiniDfs, kerberos: bool) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let auth = match (&hdfs.kdc, kerberos) {
        (Some(k), true) => format!(
            "    kerberos: {{ principal: \"{}\", keytab: {}, krb5_conf: {} }}\n",
            k.client_principal,
            k.client_keytab.display(),
            k.krb5_conf.display()
        ),
        _ => String::new(),
    };
    let user = if kerberos { "" } else { "\n      user: root" };
    let cfg = dir.path().join("smallfiles.yml");
    std::fs::write(
        &cfg,
        format!(
            "exporter:\n  listen_address: \"127.0.0.1:{port}\"\n  state_dir: {}\ndefaults:\n  scan_interval: 1h\nclusters:\n  - name: bench\n    warehouse: hdfs://minidfs/warehouse\n{auth}    max_concurrent_requests: 16\n    max_requests_per_second: 100000\n    hdfs:\n      namenodes: [\"{}\"]{user}\n",
            dir.path().join("state").display(),
            hdfs.http[0]
        ),
    )
    .unwrap();
    let mut exporter = Running::start(
        env!("CARGO_BIN_EXE_smallfiles-exporter"),
        &["--config.file", &cfg.to_string_lossy()],
        port,
        &dir.path().join("exporter.log"),
    );
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let start = Instant::now();
    let s = loop {
        let s = parse(&exporter.get("/metrics").await);
        if value(
            &s,
            "smallfiles_scan_last_success_timestamp_seconds",
            &[("cluster", "bench")],
        )
        .is_some_and(|v| v > 0.0)
        {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{}",
            exporter.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let secs = value(
        &s,
        "smallfiles_scan_duration_seconds",
        &[("cluster", "bench")],
    )
    .unwrap();
    let requests = sum(&s, "smallfiles_hdfs_requests_total");
    let negotiations = sum(&s, "smallfiles_hdfs_spnego_negotiations_total");
    (secs, requests, negotiations)
}

fn main() {
    let a = Args::parse();
    if !smallfiles_testkit::minidfs::available() {
        std::process::exit(2);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plain = MiniDfs::start();
    let secure = MiniDfs::start_secure(Duration::from_secs(3600));
    let t = Instant::now();
    write_warehouse(&plain, &a);
    write_warehouse(&secure, &a);
    eprintln!("warehouses written in {:.1}s", t.elapsed().as_secs_f64());
    for (name, hdfs, kerberos) in [("simple auth", &plain, false), ("SPNEGO", &secure, true)] {
        for run in 1..=a.runs {
            let (secs, requests, negotiations) = rt.block_on(first_scan(hdfs, kerberos));
            println!(
                "spnego: {name} run {run}: {} tables x {} partitions, first scan {secs:.2}s, {requests:.0} requests = {:.0} requests/s, {negotiations:.0} negotiations",
                a.tables,
                a.partitions,
                requests / secs
            );
        }
    }
}
