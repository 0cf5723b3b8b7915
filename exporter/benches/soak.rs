//! The exporter over many scan cycles of a changing warehouse: after every scan, files are
//! added to and removed from partitions, a partition appears and another goes; the next scan's totals
//! must equal what is on disk, and the exporter's resident memory and open file descriptors
//! are sampled — flat after warm-up is the expectation (BENCHMARKS.md, "Reliability").
//!
//!   cargo bench -p smallfiles-exporter --bench soak [-- --cycles 200 --changes 200]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use smallfiles_testkit::process::{free_port, rss_and_fds, Running};

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true, global = true)]
    bench: bool,
    #[arg(long, default_value_t = 200)]
    cycles: usize,
    /// Files added and as many removed after each scan (and one partition made, one removed).
    #[arg(long, default_value_t = 200)]
    changes: usize,
}

/// Deterministic choices, so that runs compare.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Every data file under `root` (hidden names and the demo's stack excluded), as the exporter
/// counts them.
fn files_on_disk(root: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

/// Partition directories (those holding files directly) of the warehouse.
fn partitions(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut has_files = false;
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                has_files = true;
            }
        }
        if has_files && dir.to_string_lossy().contains('=') {
            out.push(dir);
        }
    }
    out.sort();
    out
}

fn sum(page: &str, family: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with('{'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() {
    let args = Args::parse();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("warehouse");
    smallfiles_exporter::demo::build(&root).unwrap();
    let port = free_port();
    let config = tmp.path().join("smallfiles.yml");
    std::fs::write(
        &config,
        format!(
            "exporter:\n  listen_address: \"127.0.0.1:{port}\"\n  state_dir: {}\ndefaults:\n  scan_interval: 1s\nclusters:\n  - name: soak\n    warehouse: \"file://{}\"\n",
            tmp.path().join("state").display(),
            root.display()
        ),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let mut exporter = Running::start(
            env!("CARGO_BIN_EXE_smallfiles-exporter"),
            &["--config.file", &config.to_string_lossy()],
            port,
            &tmp.path().join("exporter.log"),
        );
        exporter.wait_ok("/-/ready", Duration::from_secs(60)).await;
        let pid = exporter.child.id();
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let mut last_scan = 0.0;
        let mut samples = Vec::new();
        let mut mismatches = 0;
        let started = Instant::now();
        for cycle in 0..args.cycles {
            // Wait for a scan that started after the last change.
            let page = loop {
                let page = exporter.get("/metrics").await;
                let t = sum(&page, "smallfiles_scan_last_success_timestamp_seconds");
                if t > last_scan + 1.0 || (cycle == 0 && t > 0.0) {
                    last_scan = t;
                    break page;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            // The scan before this one saw the last change; this one saw it for sure.
            let counted = sum(&page, "smallfiles_table_files") as u64;
            let truth = files_on_disk(&root);
            if cycle > 0 && counted != truth {
                mismatches += 1;
                eprintln!("cycle {cycle}: exported {counted} files, {truth} on disk");
            }
            samples.push((cycle, rss_and_fds(pid)));
            // Change the warehouse: files in, files out, one partition in, one out.
            let parts = partitions(&root);
            for i in 0..args.changes {
                let p = &parts[rng.below(parts.len())];
                std::fs::File::create(p.join(format!("soak_{cycle}_{i}")))
                    .unwrap()
                    .set_len(1024 * (1 + rng.below(4096) as u64))
                    .unwrap();
            }
            for _ in 0..args.changes {
                let p = &parts[rng.below(parts.len())];
                let victim = std::fs::read_dir(p)
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .find(|f| f.is_file() && !f.file_name().unwrap().to_string_lossy().starts_with('_'));
                if let Some(f) = victim {
                    std::fs::remove_file(f).unwrap();
                }
            }
            // One partition in, last cycle's out: the warehouse keeps its size, so memory
            // that grows is the exporter's, not the data's.
            let fresh = |c: usize| root.join(format!("logs.db/events/dt=2027-01-01/hr={c:05}"));
            std::fs::create_dir_all(fresh(cycle)).unwrap();
            std::fs::File::create(fresh(cycle).join("000000_0"))
                .unwrap()
                .set_len(2048)
                .unwrap();
            if cycle > 0 {
                std::fs::remove_dir_all(fresh(cycle - 1)).unwrap();
            }
            // A scan must start after the change: directory times have millisecond grain.
            last_scan = last_scan.max(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64(),
            );
        }
        let wall = started.elapsed().as_secs_f64();
        println!(
            "soak: {} scan cycles in {wall:.0} s, {} files changed per cycle; exported totals equal to the disk after every change: {}",
            args.cycles,
            2 * args.changes + 1,
            if mismatches == 0 { "yes".to_string() } else { format!("no ({mismatches} cycles differ)") }
        );
        println!("soak: cycle  rss MiB  fds");
        for (cycle, (rss, fds)) in samples.iter().filter(|(c, _)| c % 20 == 0 || *c == args.cycles - 1) {
            println!("soak: {cycle:>5} {:>8.1} {fds:>4}", *rss as f64 / 1024.0);
        }
        let warm: Vec<u64> = samples.iter().skip(20).map(|(_, (r, _))| *r).collect();
        if let (Some(lo), Some(hi)) = (warm.iter().min(), warm.iter().max()) {
            println!(
                "soak: after warm-up (cycle 20 on): rss {:.1}–{:.1} MiB ({:+.1} %), fds {}–{}",
                *lo as f64 / 1024.0,
                *hi as f64 / 1024.0,
                (*hi as f64 / *lo as f64 - 1.0) * 100.0,
                samples.iter().skip(20).map(|(_, (_, f))| *f).min().unwrap_or(0),
                samples.iter().skip(20).map(|(_, (_, f))| *f).max().unwrap_or(0)
            );
        }
        assert_eq!(mismatches, 0, "the exported totals drifted from the disk");
    });
}
