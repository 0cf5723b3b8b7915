//! The same warehouse on the same real NameNode (MiniDFSCluster), scanned over WebHDFS and
//! over Hadoop's native RPC: scan time, requests/s, and the NameNode's CPU seconds per 1,000
//! directory listings — read from its process (`/proc/<pid>/stat`), the load a cluster owner
//! cares about. A bench binary, not a timed test. Run from the repository root:
//!
//!   cargo bench -p smallfiles-exporter --bench rpc [-- --tables 100 --partitions 1000 --files 2 --rounds 3]
//!
//! Tables of daily partitions (`db0.db/t<t>/dt=<p>/part-<i>`, empty files: a listing costs the
//! NameNode the same whatever the files hold), no metastore: the warehouse layout is listed.
//! One warm-up scan per protocol (the JVM compiles its hot paths), then `rounds` scans of each,
//! alternating. Both clients run with the same concurrency (16) and no rate limit.

use std::time::Instant;

use smallfiles_cluster::config::{ClusterConfig, Defaults};
use smallfiles_exporter::cache::UnitMap;
use smallfiles_exporter::scan::ClusterScanner;
use smallfiles_testkit::minidfs::MiniDfs;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The fields after the command name (which may hold spaces) start at `) `.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are the 14th and 15th fields, the 12th and 13th after the name.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // Linux reports them in USER_HZ, 100 on every architecture it runs on.
    ticks / 100.0
}

struct Round {
    seconds: f64,
    requests: u64,
    listings: u64,
    namenode_cpu: f64,
    directories: u64,
}

fn scan(hdfs: &MiniDfs, hdfs_yaml: &str, runtime: &tokio::runtime::Runtime) -> Round {
    let yaml = format!(
        "name: bench\nwarehouse: hdfs:///warehouse\nmax_concurrent_requests: 16\nmax_requests_per_second: 0\nhdfs:\n  {hdfs_yaml}\n"
    );
    let config: ClusterConfig = serde_saphyr::from_str(&yaml).unwrap();
    let scanner = ClusterScanner::new(&config, &Defaults::default(), 5, None).unwrap();
    let cpu = cpu_seconds(hdfs.pid());
    let started = Instant::now();
    let report = runtime
        .block_on(scanner.scan(&UnitMap::new(), None, None))
        .unwrap_or_else(|f| panic!("{}: {}", f.stage, f.message));
    let seconds = started.elapsed().as_secs_f64();
    let namenode_cpu = cpu_seconds(hdfs.pid()) - cpu;
    assert_eq!(report.unit_errors, 0, "every directory listed");
    let counts = scanner.requests.snapshot();
    let of = |ops: &[&str]| -> u64 {
        counts
            .iter()
            .filter(|((op, _), _)| ops.contains(op))
            .map(|(_, n)| n)
            .sum()
    };
    Round {
        seconds,
        requests: scanner.requests.total(),
        listings: of(&["getListing", "LISTSTATUS_BATCH", "LISTSTATUS"]),
        namenode_cpu,
        directories: report
            .snapshot
            .tables
            .iter()
            .map(|t| t.partitions + 1)
            .sum(),
    }
}

fn main() {
    let (tables, partitions, files) = (
        arg("--tables", 100),
        arg("--partitions", 1000),
        arg("--files", 2),
    );
    let rounds = arg("--rounds", 3);
    let hdfs = MiniDfs::start();
    let started = Instant::now();
    hdfs.bulk_empty_files("/warehouse/db0.db", tables, partitions, files);
    println!(
        "warehouse: {tables} tables x {partitions} partitions x {files} files = {} directories, {} files, made in {:.0} s",
        tables * (partitions + 1) + 1,
        tables * partitions * files,
        started.elapsed().as_secs_f64()
    );
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let modes = [
        (
            "webhdfs",
            hdfs.webhdfs_yaml(&user).replace("\n      ", "\n  "),
        ),
        ("rpc", hdfs.rpc_yaml(&user).replace("\n      ", "\n  ")),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (name, yaml) in &modes {
        let r = scan(&hdfs, yaml, &runtime);
        println!(
            "warm-up {name}: {:.1} s, {} requests",
            r.seconds, r.requests
        );
    }
    for round in 1..=rounds {
        for (name, yaml) in &modes {
            let r = scan(&hdfs, yaml, &runtime);
            println!(
                "round {round} {name:<8} {:>6.1} s  {:>7.0} requests/s  {} listings of {} directories  NameNode CPU {:.1} s = {:.3} s per 1,000 listings",
                r.seconds,
                r.requests as f64 / r.seconds,
                r.listings,
                r.directories,
                r.namenode_cpu,
                r.namenode_cpu / r.listings as f64 * 1000.0
            );
        }
    }
}
