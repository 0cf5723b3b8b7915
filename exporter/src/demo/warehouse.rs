//! The demo warehouse: a Hive layout on local disk with a realistic spread of file sizes —
//! daily and hourly partitions full of small files, healthy tables of large files, an
//! unpartitioned table with thousands of small files. Files are sparse: they report their size
//! and take no disk.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Deterministic pseudo-random sizes, so that every demo looks the same.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo).max(1)
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

fn sparse(path: &Path, len: u64) -> std::io::Result<()> {
    File::create(path)?.set_len(len)
}

fn fill(
    dir: &Path,
    files: usize,
    lo: u64,
    hi: u64,
    ext: &str,
    sizes: &mut Sizes,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for i in 0..files {
        sparse(&dir.join(format!("{i:06}_0{ext}")), sizes.next(lo, hi))?;
    }
    // What Hive and Spark leave beside the data: never counted.
    File::create(dir.join("_SUCCESS"))?;
    Ok(())
}

/// Builds the demo warehouse under `root` (replacing an earlier demo there). Returns the number
/// of data files written.
pub fn build(root: &Path) -> std::io::Result<u64> {
    if root.join(".smallfiles-demo").exists() {
        std::fs::remove_dir_all(root)?;
    }
    std::fs::create_dir_all(root)?;
    File::create(root.join(".smallfiles-demo"))?;
    let mut s = Sizes(0x9e37_79b9_7f4a_7c15);
    let mut files = 0u64;
    let mut add =
        |dir: &Path, n: usize, lo: u64, hi: u64, ext: &str, s: &mut Sizes| -> std::io::Result<()> {
            fill(dir, n, lo, hi, ext, s)?;
            files += n as u64;
            Ok(())
        };
    // sales.orders: 60 daily partitions of streaming inserts, 40–120 files of 50 KiB–4 MiB.
    for day in 0..60 {
        let n = 40 + s.next(0, 80) as usize;
        let dir = root.join(format!(
            "sales.db/orders/dt=2026-{:02}-{:02}",
            9 + day / 30,
            1 + day % 30
        ));
        add(&dir, n, 50 * KIB, 4 * MIB, "", &mut s)?;
    }
    // sales.customers: a healthy table of large ORC files.
    add(
        &root.join("sales.db/customers"),
        12,
        200 * MIB,
        260 * MIB,
        ".orc",
        &mut s,
    )?;
    // sales.order_items: Parquet, daily partitions with a mix of sizes.
    for day in 1..=30 {
        add(
            &root.join(format!("sales.db/order_items/dt=2026-10-{day:02}")),
            6,
            20 * MIB,
            300 * MIB,
            ".parquet",
            &mut s,
        )?;
    }
    // logs.events: hourly partitions for a week, 20 tiny files each.
    for day in 1..=7 {
        for hour in 0..24 {
            add(
                &root.join(format!("logs.db/events/dt=2026-11-{day:02}/hr={hour:02}")),
                20,
                2 * KIB,
                900 * KIB,
                "",
                &mut s,
            )?;
        }
    }
    // logs.clicks: unpartitioned, thousands of small files from a misconfigured job.
    add(
        &root.join("logs.db/clicks"),
        3000,
        KIB,
        512 * KIB,
        "",
        &mut s,
    )?;
    // logs.audit (ACID-style layout): base and many deltas.
    add(
        &root.join("logs.db/audit/base_0000010"),
        4,
        100 * MIB,
        140 * MIB,
        "",
        &mut s,
    )?;
    for d in 11..=60 {
        add(
            &root.join(format!("logs.db/audit/delta_{d:07}_{d:07}_0000")),
            1,
            4 * KIB,
            64 * KIB,
            "",
            &mut s,
        )?;
    }
    // finance.ledger: big files, nothing to do.
    add(
        &root.join("finance.db/ledger"),
        8,
        500 * MIB,
        1100 * MIB,
        ".orc",
        &mut s,
    )?;
    // default.tmp_import: a table in the default database, straight under the warehouse.
    add(&root.join("tmp_import"), 150, KIB, 20 * MIB, ".csv", &mut s)?;
    // A staging directory Hive left behind: not table data.
    add(
        &root.join("sales.db/orders/.hive-staging_hive_2026-11-01_00-00-00_000_1/-ext-10000"),
        5,
        KIB,
        2 * KIB,
        "",
        &mut s,
    )?;
    // Written two days ago, as a real warehouse's history is, except the newest partition of
    // sales.orders: a job writes into it now, and the merger leaves it alone.
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    age(root, two_days_ago, &root.join(HOT_PARTITION))?;
    Ok(files - 5)
}

/// The partition the demo's streaming job is writing into (modified now).
pub const HOT_PARTITION: &str = "sales.db/orders/dt=2026-10-30";

/// Sets the modification time of everything under `dir` to `at`, children before their
/// directory (a directory's time must not move afterwards), leaving `except` as it is.
fn age(dir: &Path, at: SystemTime, except: &Path) -> std::io::Result<()> {
    if dir == except {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            age(&path, at, except)?;
        } else {
            File::options().write(true).open(&path)?.set_modified(at)?;
        }
    }
    File::open(dir)?.set_modified(at)
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_is_sparse_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("w");
        let n = super::build(&root).unwrap();
        assert!(n > 6000, "{n}");
        let du = std::process::Command::new("du")
            .arg("-sk")
            .arg(&root)
            .output()
            .unwrap();
        let kib: u64 = String::from_utf8_lossy(&du.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(kib < 100_000, "sparse files take no disk: {kib} KiB");
        // History is two days old, the hot partition is new.
        let age = |rel: &str| {
            std::fs::metadata(root.join(rel))
                .unwrap()
                .modified()
                .unwrap()
                .elapsed()
                .unwrap()
                .as_secs()
        };
        for old in [
            "sales.db/orders",
            "sales.db/orders/dt=2026-09-01",
            "logs.db/clicks/000000_0",
        ] {
            assert!(age(old) > 86_400, "{old}");
        }
        assert!(age(super::HOT_PARTITION) < 3600);
        assert_eq!(
            super::build(&root).unwrap(),
            n,
            "rebuilding gives the same warehouse"
        );
    }
}
