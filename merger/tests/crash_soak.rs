//! Crash safety of merges at scale, on the real Spark Thrift Server (metastore in MariaDB):
//!
//! - **faults at random points**: twelve partitions of four tables (text and Parquet) get
//!   small files and are merged, one to three partitions or a whole table per round, and after
//!   a random delay the merger is killed with SIGKILL (six rounds in ten), Spark's Thrift
//!   Server is killed with SIGKILL mid-statement (two in ten), or the merger's connection to the
//!   metastore is cut for 1–8 s (two in ten). Seeded: the seed is printed and
//!   `SMALLFILES_CRASH_SEED` replays the choices (the timing is the machine's).
//!   Right after each merger kill, with the merger down, the store is opened: no directory it
//!   means to remove is one the metastore points at. After recovery: every task in a terminal
//!   state, every unit finished, rolled back or never started, every partition's rows and
//!   checksum unchanged, its location the merged copy exactly when its unit finished, no
//!   staging table; at the end, once the rollback windows passed, no data file left outside
//!   the locations the metastore points at (nothing merged twice, nothing leaked).
//!   `SMALLFILES_CRASH_FAULTS` sets the number of faults (default and CI: 5; the figures in BENCHMARKS.md
//!   come from longer runs).
//! - **HiveServer2 dies at chosen points**: while the copy is written and while a switched
//!   swap is verified; once it is back the task is settled and the data reads the same.
//! - **The metastore goes away** after the copy is written: nothing is declared done that is
//!   not; once it is back, the task ends clean.

mod spark_lab;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smallfiles_cluster::hiveserver2::Cell;
use smallfiles_merger::db::retired::Retired;
use smallfiles_merger::db::Store;
use smallfiles_testkit::spark::{self, MetastoreDb};

use spark_lab::*;

const TABLES: [(&str, &str); 4] = [
    ("crash_text_a", "TEXTFILE"),
    ("crash_parquet_a", "PARQUET"),
    ("crash_text_b", "TEXTFILE"),
    ("crash_parquet_b", "PARQUET"),
];
const DAYS: [&str; 3] = ["2026-11-01", "2026-11-02", "2026-11-03"];
const TERMINAL: [&str; 4] = ["succeeded", "failed", "cancelled", "rolled_back"];

/// SplitMix64: a seeded generator small enough to read, so a printed seed replays a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Part {
    table: &'static str,
    dt: &'static str,
}

impl Part {
    fn name(&self) -> String {
        format!("dt={}", self.dt)
    }

    fn all() -> Vec<Part> {
        TABLES
            .iter()
            .flat_map(|(table, _)| DAYS.iter().map(|dt| Part { table, dt }))
            .collect()
    }

    fn of(table: &str, partition: &str) -> Part {
        *Part::all()
            .iter()
            .find(|p| p.table == table && p.name() == partition)
            .unwrap_or_else(|| panic!("unknown partition {table}/{partition}"))
    }
}

/// What the test knows each partition must read and where it must live.
#[derive(Default)]
struct Expected {
    fingerprint: BTreeMap<Part, (Cell, Cell)>,
    location: BTreeMap<Part, String>,
    next_id: i64,
}

/// What the faults hit and how recovery ended, for the summary.
#[derive(Default)]
struct Tally {
    faults: BTreeMap<&'static str, u32>,
    at_fault: BTreeMap<String, u32>,
    outcome: BTreeMap<String, u32>,
    units_merged: u32,
    units_rolled_back: u32,
}

fn path_of(location: &str) -> String {
    location
        .trim_start_matches("file:")
        .trim_start_matches("//")
        .trim_end_matches('/')
        .to_string()
}

/// Rows and checksum of every partition of a table, in one statement.
async fn fingerprints(lab: &mut Lab, table: &str) -> BTreeMap<String, (Cell, Cell)> {
    lab.exec(&format!(
        "SELECT dt, COUNT(*), SUM(CAST(hash(id, note, amount) AS BIGINT)) FROM sales.{table} GROUP BY dt"
    ))
    .await
    .into_iter()
    .map(|r| {
        let Cell::Text(dt) = &r[0] else {
            panic!("{r:?}")
        };
        (dt.clone(), (r[1].clone(), r[2].clone()))
    })
    .collect()
}

/// Adds four small files to a partition and records what it now reads.
async fn add_small_files(lab: &mut Lab, expected: &mut Expected, p: Part) {
    let base = expected.next_id;
    expected.next_id += 1000;
    lab.exec(&format!(
        "INSERT INTO sales.{} PARTITION (dt='{}') SELECT /*+ REPARTITION(4) */ id + {base}, concat('note ', id), id * 0.5 FROM range(40)",
        p.table, p.dt
    ))
    .await;
    let now = fingerprints(lab, p.table).await;
    expected.fingerprint.insert(p, now[p.dt].clone());
}

async fn create_tables(lab: &mut Lab, expected: &mut Expected) {
    lab.exec("CREATE DATABASE IF NOT EXISTS sales").await;
    for (table, format) in TABLES {
        lab.exec(&format!(
            "CREATE TABLE sales.{table} (id BIGINT, note STRING, amount DOUBLE) PARTITIONED BY (dt STRING) STORED AS {format}"
        ))
        .await;
    }
    for p in Part::all() {
        add_small_files(lab, expected, p).await;
    }
    for (table, _) in TABLES {
        for (name, loc) in locations(lab, table) {
            expected.location.insert(Part::of(table, &name), loc);
        }
    }
    assert_eq!(expected.location.len(), 12);
}

/// With the merger down: no directory the store means to remove is one the metastore points at.
fn check_store_offline(lab: &Lab) {
    let store = Store::open(&lab.dir.path().join("data/merger.redb")).expect("the store opens");
    let retired = Retired::new(store.database()).unwrap().all().unwrap();
    let referenced: Vec<String> = TABLES
        .iter()
        .flat_map(|(t, _)| locations(lab, t).into_values())
        .map(|l| path_of(&l))
        .collect();
    for (_, dir) in retired {
        assert!(
            !referenced.contains(&path_of(&dir.location)),
            "task {} means to remove {}, which the metastore points at",
            dir.task,
            dir.location
        );
    }
}

/// A table-level or partition-level merge request; the task ids created.
async fn submit(lab: &Lab, table: &str, partitions: Option<Vec<String>>) -> Vec<u64> {
    let mut body = json!({"cluster": "lab", "database": "sales", "table": table});
    if let Some(p) = partitions {
        body["partitions"] = json!(p);
    }
    let (status, r) = lab.api.post("/api/v1/tasks", body).await;
    assert_eq!(status, 201, "{r}");
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["task_id"].as_u64())
        .collect()
}

/// Checks an ended task and learns from its units where each partition now lives.
fn settle_units(t: &Value, expected: &mut Expected, tally: &mut Tally) {
    let state = t["state"].as_str().unwrap();
    assert!(TERMINAL.contains(&state), "{t:#}");
    let Some(swap) = t["swap"].as_object() else {
        return;
    };
    let units = swap["units"].as_array().unwrap();
    let plan = swap["plan"]["units"].as_array().unwrap();
    for (u, planned) in units.iter().zip(plan) {
        let stage = u["stage"].as_str().unwrap();
        let part = Part::of(
            t["target"]["table"].as_str().unwrap(),
            planned["partition"].as_str().unwrap(),
        );
        match stage {
            "finished" => {
                let new = planned["new_location"].as_str().unwrap();
                assert!(
                    new.contains(&format!("/_smallfiles/task-{}/", t["id"])),
                    "{new}"
                );
                expected.location.insert(part, new.to_string());
                tally.units_merged += 1;
            }
            "rolled_back" => tally.units_rolled_back += 1,
            "planned" => {}
            other => panic!("task {} left {part:?} at {other}: {t:#}", t["id"]),
        }
    }
}

/// Everything the operator relies on, for every partition.
async fn check_all(lab: &mut Lab, expected: &Expected, context: &str) {
    for (table, _) in TABLES {
        let now = fingerprints(lab, table).await;
        let locs = locations(lab, table);
        for dt in DAYS {
            let p = Part { table, dt };
            assert_eq!(
                now.get(dt),
                expected.fingerprint.get(&p),
                "{context}: rows and checksum of {p:?}"
            );
            let loc = &locs[&p.name()];
            assert_eq!(
                path_of(loc),
                path_of(&expected.location[&p]),
                "{context}: location of {p:?}"
            );
            assert!(data_files(loc) >= 1, "{context}: {loc} holds the data");
        }
    }
    let staging: Vec<String> = lab
        .tables()
        .await
        .into_iter()
        .filter(|t| t.starts_with("smallfiles"))
        .collect();
    assert!(
        staging.is_empty(),
        "{context}: staging tables left: {staging:?}"
    );
}

/// What a round does to the merge in flight.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL of the merger, restarted at once.
    KillMerger,
    /// SIGKILL of Spark's Thrift Server (HiveServer2), restarted at once.
    KillHiveServer2,
    /// The merger's connection to the metastore cut for a while.
    CutMetastore(Duration),
}

impl Fault {
    /// Mostly merger kills; one round in five each loses HiveServer2 or the metastore.
    fn pick(rng: &mut Rng) -> Fault {
        match rng.below(10) {
            0 | 1 => Fault::KillHiveServer2,
            2 | 3 => Fault::CutMetastore(Duration::from_millis(1000 + rng.below(7000))),
            _ => Fault::KillMerger,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Fault::KillMerger => "merger killed",
            Fault::KillHiveServer2 => "HiveServer2 killed",
            Fault::CutMetastore(_) => "metastore cut",
        }
    }
}

/// One round: small files added, merges asked for, `fault` (if any) after its delay; then
/// every task must end and every check hold.
async fn round(
    lab: &mut Lab,
    rng: &mut Rng,
    expected: &mut Expected,
    tally: &mut Tally,
    fault: Option<(Fault, Duration)>,
) -> Duration {
    let parts = Part::all();
    let ids = if rng.below(4) == 0 {
        let (table, _) = TABLES[rng.below(4) as usize];
        for dt in DAYS {
            if rng.below(3) > 0 {
                add_small_files(lab, expected, Part { table, dt }).await;
            }
        }
        // Older than `min_partition_age` (1 s), so none is left alone as hot.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        submit(lab, table, None).await
    } else {
        let mut chosen: Vec<Part> = Vec::new();
        while chosen.len() < 1 + rng.below(3) as usize {
            let p = parts[rng.below(parts.len() as u64) as usize];
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        let mut ids = Vec::new();
        for p in &chosen {
            add_small_files(lab, expected, *p).await;
        }
        for p in chosen {
            ids.extend(submit(lab, p.table, Some(vec![p.name()])).await);
        }
        ids
    };
    let started = Instant::now();
    if let Some((fault, after)) = fault {
        tokio::time::sleep(after).await;
        for id in &ids {
            let t = lab.api.task(*id).await;
            let step = t["step"].as_str().unwrap_or("-");
            let at = match step.rsplit_once(": ") {
                Some((_, stage)) => stage.to_string(),
                None => step.to_string(),
            };
            *tally
                .at_fault
                .entry(format!(
                    "{}: {} / {at}",
                    fault.name(),
                    t["state"].as_str().unwrap()
                ))
                .or_default() += 1;
        }
        *tally.faults.entry(fault.name()).or_default() += 1;
        match fault {
            Fault::KillMerger => {
                lab.kill9();
                check_store_offline(lab);
                lab.restart(None).await;
            }
            Fault::KillHiveServer2 => lab.restart_spark().await,
            Fault::CutMetastore(down) => {
                lab.metastore_proxy.set_down(true);
                tokio::time::sleep(down).await;
                lab.metastore_proxy.set_down(false);
            }
        }
    }
    for id in &ids {
        let t = lab.api.wait_ended(*id, WAIT).await;
        let outcome = match (t["state"].as_str().unwrap(), t["reason"].as_str()) {
            (s, Some(r)) if r.contains("interrupted") => format!("{s} by recovery"),
            (s, _) => s.to_string(),
        };
        *tally.outcome.entry(outcome).or_default() += 1;
        settle_units(&t, expected, tally);
    }
    let took = started.elapsed();
    check_all(lab, expected, &format!("after tasks {ids:?}")).await;
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_survive_kill_9_hiveserver2_death_and_metastore_outage() {
    if !spark::available() {
        return;
    }
    let faults: u32 = std::env::var("SMALLFILES_CRASH_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("SMALLFILES_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash soak: seed {seed} (SMALLFILES_CRASH_SEED={seed} replays its choices), {faults} faults");
    let mut rng = Rng(seed);
    let mut lab = Lab::start_with(
        MetastoreDb::Mariadb,
        "crash",
        "recovery_interval: 2s",
        "min_partition_age: 1s\nmax_partitions_per_task: 3",
    )
    .await;
    // Replaced directories are removed as their 1 s window passes, faults or not.
    lab.signal("retire");
    let mut expected = Expected::default();
    let mut tally = Tally::default();
    create_tables(&mut lab, &mut expected).await;

    // Uninterrupted: how long a round takes here sets the range of the fault delays.
    let mut longest = Duration::ZERO;
    for _ in 0..3 {
        longest = longest.max(round(&mut lab, &mut rng, &mut expected, &mut tally, None).await);
    }
    eprintln!("crash soak: an uninterrupted round took up to {longest:?}");
    let started = Instant::now();
    for k in 0..faults {
        let fault = Fault::pick(&mut rng);
        let after = Duration::from_millis(rng.below(longest.as_millis() as u64 + 1));
        round(
            &mut lab,
            &mut rng,
            &mut expected,
            &mut tally,
            Some((fault, after)),
        )
        .await;
        eprintln!(
            "crash soak: fault {} of {faults} ({fault:?} after {after:?}) recovered ({:?} so far)",
            k + 1,
            started.elapsed()
        );
    }
    // Once the windows passed: nothing on disk but what the metastore points at.
    let deadline = Instant::now() + WAIT;
    loop {
        let m = lab.merger.as_ref().unwrap().get("/metrics").await;
        if m.contains("smallfiles_merge_retired_directories{cluster=\"lab\"} 0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retired directories not removed: {m}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (table, _) in TABLES {
        let locs = locations(&lab, table);
        let referenced: usize = locs.values().map(|l| data_files(l)).sum();
        let table_dir = local_path(&expected.location[&Part { table, dt: DAYS[0] }])
            .ancestors()
            .find(|a| a.ends_with(table))
            .unwrap()
            .to_path_buf();
        // Every data file below the table, `_smallfiles/` included (hidden files are not data).
        let on_disk = tree_state(&table_dir)
            .keys()
            .filter(|p| p.is_file())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                !name.starts_with('.') && !name.starts_with('_')
            })
            .count();
        assert_eq!(
            on_disk,
            referenced,
            "{table}: data files on disk outside the partitions' locations: {:?}",
            tree_state(&table_dir).keys().collect::<Vec<_>>()
        );
    }
    eprintln!(
        "crash soak: {faults} faults survived in {:?}: {:?}; where they hit (state / stage): {:?}; outcomes: {:?}; units merged {}, rolled back {}",
        started.elapsed(),
        tally.faults,
        tally.at_fault,
        tally.outcome,
        tally.units_merged,
        tally.units_rolled_back
    );
    assert!(tally.units_merged > 0);

    hiveserver2_dies_mid_statement(&mut lab, &mut expected).await;
    metastore_goes_away(&mut lab, &mut expected).await;
}

/// Spark's JVM killed while the copy is written, and while a switched swap is verified.
async fn hiveserver2_dies_mid_statement(lab: &mut Lab, expected: &mut Expected) {
    let mut tally = Tally::default();
    // While the copy is being written.
    let p = Part {
        table: "crash_parquet_a",
        dt: DAYS[1],
    };
    add_small_files(lab, expected, p).await;
    let id = submit(lab, p.table, Some(vec![p.name()])).await[0];
    lab.wait_stage(id, "writing").await;
    lab.kill_spark();
    let t = lab
        .api
        .wait_task(id, "found HiveServer2 gone", WAIT, |t| {
            t["state"] != "running"
        })
        .await;
    assert_eq!(
        t["state"], "interrupted",
        "the rollback needs HiveServer2: {t:#}"
    );
    lab.restart_spark().await;
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "rolled_back", "{t:#}");
    settle_units(&t, expected, &mut tally);
    check_all(
        lab,
        expected,
        "HiveServer2 killed while the copy was written",
    )
    .await;
    assert!(
        !local_path(t["swap"]["plan"]["staging_root"].as_str().unwrap()).exists(),
        "the staging directory is removed"
    );
    eprintln!("HiveServer2 killed while the copy was written: rolled back once it was back");

    // After the switch, while the table is read through its new location.
    lab.kill9();
    lab.restart(Some(("switched", "hs2-killed"))).await;
    let p = Part {
        table: "crash_text_b",
        dt: DAYS[2],
    };
    add_small_files(lab, expected, p).await;
    let id = submit(lab, p.table, Some(vec![p.name()])).await[0];
    lab.wait_stage(id, "switched").await;
    lab.kill_spark();
    lab.signal("hs2-killed");
    let t = lab
        .api
        .wait_task(id, "found HiveServer2 gone", WAIT, |t| {
            t["state"] != "running"
        })
        .await;
    assert_eq!(t["state"], "interrupted", "{t:#}");
    lab.restart_spark().await;
    let t = lab.api.wait_ended(id, WAIT).await;
    assert!(
        ["succeeded", "rolled_back"].contains(&t["state"].as_str().unwrap()),
        "{t:#}"
    );
    settle_units(&t, expected, &mut tally);
    check_all(lab, expected, "HiveServer2 killed after the switch").await;
    eprintln!(
        "HiveServer2 killed after the switch: {} once it was back ({})",
        t["state"], t["reason"]
    );
}

/// The merger's connection to the metastore database cut in the middle of a merge.
async fn metastore_goes_away(lab: &mut Lab, expected: &mut Expected) {
    let mut tally = Tally::default();
    lab.kill9();
    lab.restart(Some(("written", "metastore-down"))).await;
    let p = Part {
        table: "crash_text_a",
        dt: DAYS[0],
    };
    add_small_files(lab, expected, p).await;
    let id = submit(lab, p.table, Some(vec![p.name()])).await[0];
    lab.wait_stage(id, "written").await;
    lab.metastore_proxy.set_down(true);
    lab.signal("metastore-down");
    // Whatever the merge can do without the metastore, it must not call a task done that
    // left work behind.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = lab.api.task(id).await;
    assert!(
        ["running", "interrupted"].contains(&during["state"].as_str().unwrap()),
        "not done while its staging table cannot be checked and dropped: {during:#}"
    );
    lab.metastore_proxy.set_down(false);
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    settle_units(&t, expected, &mut tally);
    check_all(lab, expected, "the metastore went away mid-merge").await;
    eprintln!(
        "metastore away mid-merge: {} while it was away, {} once back ({}); log: {}",
        during["state"],
        t["state"],
        t["reason"],
        log_text(&t)
            .lines()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .join(" | ")
    );
}
