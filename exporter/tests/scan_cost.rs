//! What a scan costs the NameNode, request by request, on the WebHDFS test server with a real
//! metastore (MariaDB, schema 3.1): a first scan lists each directory once and asks no status
//! a listing already gives; an unchanged rescan lists the table directories and nothing below
//! them; a rescan after files were added lists just the two partitions that changed. Counts
//! stay exact throughout, with a partition outside its table, a registered partition missing on
//! disk, two-level partitions, and ACID and union subdirectories. Skips without `../shared/`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use smallfiles_cluster::config::{Config, MetastoreKind};
use smallfiles_exporter::cache::ScanCache;
use smallfiles_exporter::scan::ClusterScanner;
use smallfiles_exporter::scheduler::scan_once;
use smallfiles_exporter::snapshot::ClusterState;
use smallfiles_testkit::metastore::{TableSpec, TestDb};
use smallfiles_testkit::require_shared;
use smallfiles_testkit::webhdfs::{spawn, ServerOptions, TestServer};

const NS: &str = "hdfs://nameservice1";

/// Requests by operation since `since`, as the scanner counted them (every outcome).
fn by_op(
    scanner: &ClusterScanner,
    since: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    let mut now: BTreeMap<&'static str, u64> = BTreeMap::new();
    for ((op, _), n) in scanner.requests.snapshot() {
        *now.entry(op).or_default() += n;
    }
    now.iter()
        .map(|(op, n)| (*op, n - since.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

struct Bed {
    scanner: ClusterScanner,
    state: ClusterState,
    cache: ScanCache,
    server: TestServer,
    seen: BTreeMap<&'static str, u64>,
    server_seen: u64,
}

impl Bed {
    /// One scan through the exporter's scheduler; the requests it made, by operation, checked
    /// against the test server's own count.
    async fn scan(&mut self) -> BTreeMap<&'static str, u64> {
        scan_once(&self.scanner, &self.state, &self.cache, None)
            .await
            .unwrap_or_else(|f| panic!("scan failed: {}", f.message));
        let made = by_op(&self.scanner, &self.seen);
        self.seen = by_op(&self.scanner, &BTreeMap::new());
        let served = self.server.requests() - self.server_seen;
        self.server_seen = self.server.requests();
        assert_eq!(
            made.values().sum::<u64>(),
            served,
            "the scanner's counters and the NameNode's agree"
        );
        made
    }

    fn files(&self, table: &str) -> u64 {
        let snap = self.state.snapshot().expect("a snapshot");
        snap.tables
            .iter()
            .find(|t| t.table == table)
            .unwrap_or_else(|| panic!("{table} not in the snapshot"))
            .stats
            .files
    }
}

fn ops(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().collect()
}

#[tokio::test]
async fn requests_per_scan_first_unchanged_and_after_two_changes() {
    let shared = require_shared!();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hdfs");
    let mut w = Warehouse::new(&root);
    let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
    let mut b = db.builder();
    let wh = "/w";
    let sales = b.database("sales", &format!("{NS}{wh}/sales.db"));

    // Two unpartitioned tables in one database directory: one listing of it gives both times.
    for (t, sizes) in [("orders", &[10u64, 20][..]), ("users", &[30])] {
        b.table(
            sales,
            &TableSpec::text(t, &format!("{NS}{wh}/sales.db/{t}")),
        );
        w.data("sales", t, None, &format!("w/sales.db/{t}"), sizes);
    }

    // A partitioned table: five partitions in it, one of them holding ACID and union
    // subdirectories, one registered but absent on disk, one stored outside the table.
    let clicks = TableSpec::text("clicks", &format!("{NS}{wh}/sales.db/clicks"))
        .partitioned_by(&[("dt", "string")]);
    let clicks_id = b.table(sales, &clicks);
    for d in 1..=5 {
        let name = format!("dt=2024-01-0{d}");
        let dir = format!("w/sales.db/clicks/{name}");
        b.partition(
            clicks_id,
            &clicks,
            &name,
            &format!("{NS}/{dir}"),
            &[("transient_lastDdlTime", "1700000000")],
        );
        w.data("sales", "clicks", Some(&name), &dir, &[1, 2]);
    }
    let acid = "w/sales.db/clicks/dt=2024-01-01";
    w.data(
        "sales",
        "clicks",
        Some("dt=2024-01-01"),
        &format!("{acid}/delta_0000001_0000001_0000"),
        &[3],
    );
    w.data(
        "sales",
        "clicks",
        Some("dt=2024-01-01"),
        &format!("{acid}/HIVE_UNION_SUBDIR_1"),
        &[4],
    );
    b.partition(
        clicks_id,
        &clicks,
        "dt=2024-01-09",
        &format!("{NS}{wh}/sales.db/clicks/dt=2024-01-09"),
        &[],
    );
    b.partition(
        clicks_id,
        &clicks,
        "dt=2023-12-31",
        &format!("{NS}/archive/clicks/dt=2023-12-31"),
        &[],
    );
    w.data(
        "sales",
        "clicks",
        Some("dt=2023-12-31"),
        "archive/clicks/dt=2023-12-31",
        &[5, 6, 7],
    );

    // Two-level partitions: the directory above them is their parent.
    let events = TableSpec::text("events", &format!("{NS}{wh}/sales.db/events"))
        .partitioned_by(&[("y", "string"), ("m", "string")]);
    let events_id = b.table(sales, &events);
    for m in ["01", "02"] {
        let name = format!("y=2024/m={m}");
        let dir = format!("w/sales.db/events/{name}");
        b.partition(events_id, &events, &name, &format!("{NS}/{dir}"), &[]);
        w.data("sales", "events", Some(&name), &dir, &[8]);
    }
    db.execute(&b.take_statements(500));

    let server = spawn(
        ServerOptions::new(&root),
        "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
    )
    .await
    .unwrap();
    let namenode = server.url();
    let scanner_with = |full_rescan_interval: &str| {
        let config: Config = serde_saphyr::from_str(&format!(
            "defaults:\n  small_file_threshold: {THRESHOLD}\n  max_requests_per_second: 0\n  full_rescan_interval: {full_rescan_interval}\nclusters:\n  - name: c\n    metastore:\n      url: {}\n    hdfs:\n      namenodes: [\"{}\"]\n      user: hdfs\n",
            db.url(),
            namenode
        ))
        .unwrap();
        ClusterScanner::new(&config.clusters[0], &config.defaults, 5, None).unwrap()
    };
    let scanner = scanner_with("24h");
    let state = ClusterState::new(
        "c",
        THRESHOLD,
        3600.0,
        true,
        true,
        Arc::clone(&scanner.requests),
    );
    let mut bed = Bed {
        scanner,
        state,
        cache: ScanCache::in_memory(),
        server,
        seen: BTreeMap::new(),
        server_seen: 0,
    };
    let exact = |bed: &Bed, w: &Warehouse| {
        for t in ["orders", "users", "clicks", "events"] {
            assert_eq!(
                bed.files(t),
                w.tables[&("sales".to_string(), t.to_string())].files,
                "{t}"
            );
        }
    };

    // First scan. Listings: the database directory (both unpartitioned tables' times), the
    // clicks directory (its partitions' times), `events/y=2024` (the two months'), then every
    // directory counted: orders, users, five clicks partitions and the two subdirectories of
    // one of them, the archived partition, two months of events. One status call: the
    // archived partition, alone under its parent. The missing partition costs nothing.
    let first_scan_cost = ops(&[
        ("LISTSTATUS_BATCH", 3 + 2 + 5 + 2 + 1 + 2),
        ("GETFILESTATUS", 1),
    ]);
    assert_eq!(bed.scan().await, first_scan_cost, "first scan");
    exact(&bed, &w);

    // Nothing changed: the three parent listings and the one status call, nothing below.
    let unchanged = bed.scan().await;
    assert_eq!(
        unchanged,
        ops(&[("LISTSTATUS_BATCH", 3), ("GETFILESTATUS", 1)]),
        "unchanged rescan"
    );
    let table_directories = 4;
    let outside_their_table = 1;
    assert!(unchanged.values().sum::<u64>() <= table_directories + outside_their_table);
    exact(&bed, &w);

    // Files added to two partitions (one of two levels): those two are listed again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    w.data(
        "sales",
        "clicks",
        Some("dt=2024-01-03"),
        "w/sales.db/clicks/dt=2024-01-03",
        &[9],
    );
    w.data(
        "sales",
        "events",
        Some("y=2024/m=02"),
        "w/sales.db/events/y=2024/m=02",
        &[10, 11],
    );
    let changed = bed.scan().await;
    assert_eq!(
        changed,
        ops(&[("LISTSTATUS_BATCH", 3 + 2), ("GETFILESTATUS", 1)]),
        "rescan after two partitions changed"
    );
    exact(&bed, &w);

    // A file added inside an existing subdirectory of a partition moves only that
    // subdirectory's time: a rescan cannot see it (ARCHITECTURE.md says so) ...
    let before = bed.files("clicks");
    w.data(
        "sales",
        "clicks",
        Some("dt=2024-01-01"),
        &format!("{acid}/delta_0000001_0000001_0000"),
        &[12],
    );
    let unseen = bed.scan().await;
    assert_eq!(
        unseen,
        ops(&[("LISTSTATUS_BATCH", 3), ("GETFILESTATUS", 1)])
    );
    assert_eq!(
        bed.files("clicks"),
        before,
        "not seen by an incremental rescan"
    );

    // ... and the periodic full rescan, once due, lists everything again and sees it.
    bed.scanner = scanner_with("1s");
    bed.seen = BTreeMap::new();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        bed.scan().await,
        first_scan_cost,
        "a full rescan costs what a first scan does"
    );
    exact(&bed, &w);
}
