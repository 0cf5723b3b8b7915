//! Real merges end to end: the merger binary runs the safe swap on a real HiveServer2 (Spark's
//! Thrift Server from PyPI) whose metastore lives in the real MariaDB and PostgreSQL, and
//! reads that metastore itself. Partitioned text and Parquet tables with 50 small files per
//! partition are merged through the API and through a webhook; rollback is proven by a writer
//! that changes a partition during its merge; kill -9 between "written" and "switched" and
//! after "switched" proves recovery both ways. Slow (a JVM per metastore): its own target.

mod spark_lab;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use smallfiles_cluster::hiveserver2::Cell;
use smallfiles_testkit::spark::{self, MetastoreDb};

use spark_lab::*;
async fn create_tables(lab: &mut Lab) {
    lab.exec("CREATE DATABASE IF NOT EXISTS sales").await;
    lab.exec("CREATE TABLE sales.events_text (id BIGINT, note STRING, amount DOUBLE) PARTITIONED BY (dt STRING, hr INT) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' STORED AS TEXTFILE").await;
    lab.exec("CREATE TABLE sales.events_parquet (id BIGINT, note STRING, amount DOUBLE) PARTITIONED BY (dt STRING) STORED AS PARQUET").await;
    // 50 files per partition, NULLs and a delimiter-free text column.
    let rows = "SELECT /*+ REPARTITION(50) */ id, IF(id % 7 = 0, NULL, concat('note ', id)), id * 1.25 FROM range(1000)";
    for hr in [1, 2] {
        lab.exec(&format!(
            "INSERT INTO sales.events_text PARTITION (dt='2026-11-24', hr={hr}) {rows}"
        ))
        .await;
    }
    for dt in ["2026-11-24", "2026-11-25"] {
        lab.exec(&format!(
            "INSERT INTO sales.events_parquet PARTITION (dt='{dt}') {rows}"
        ))
        .await;
    }
}

/// Merges one partition and checks everything the operator relies on.
async fn assert_merged(
    lab: &mut Lab,
    id: u64,
    table: &str,
    partition: &str,
    filter: &str,
    old: &str,
    before: &[Vec<Cell>],
) -> String {
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    assert_eq!(t["resolved_strategy"], "insert_overwrite");
    assert_eq!(t["files_before"], 50, "{t:#}");
    let after_files = t["files_after"].as_u64().unwrap();
    assert!((1..=2).contains(&after_files), "{t:#}");
    let new = lab.location(table, partition);
    assert!(
        new.contains(&format!("/_smallfiles/task-{id}/{partition}")),
        "the metastore location switched: {new}"
    );
    assert_eq!(data_files(&new) as u64, after_files);
    assert_eq!(
        &lab.fingerprint(table, filter).await,
        before,
        "data unchanged"
    );
    assert_eq!(
        data_files(old),
        50,
        "the old directory is kept for the rollback window"
    );
    assert!(
        !lab.tables()
            .await
            .iter()
            .any(|t| t.starts_with("smallfiles")),
        "staging table dropped"
    );
    let log = log_text(&t);
    assert!(
        log.contains("connected to Spark SQL (Spark dialect)"),
        "{log}"
    );
    assert!(
        log.contains("SET spark.sql.hive.convertInsertingPartitionedTable=false"),
        "{log}"
    );
    assert!(log.contains("COALESCE(1)"), "{log}");
    assert!(
        log.contains("SET spark.sql.thriftserver.scheduler.pool=maintenance"),
        "{log}"
    );
    assert!(log.contains("kept the replaced directory"), "{log}");
    let spec = partition
        .split('/')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            if k == "hr" {
                format!("`{k}`={v}")
            } else {
                format!("`{k}`='{v}'")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let refresh = format!("REFRESH `sales`.`{table}` PARTITION ({spec})");
    assert!(
        lab.impala.statements().contains(&refresh),
        "{refresh} sent to Impala: {:?}",
        lab.impala.statements()
    );
    new
}

async fn scenario(kind: MetastoreDb, name: &str) {
    let mut lab = Lab::start(kind, name).await;
    create_tables(&mut lab).await;

    // Through the API: a text partition (custom delimiter).
    let text_p1 = "dt=2026-11-24/hr=1";
    let text_f1 = "dt='2026-11-24' AND hr=1";
    let old_text = lab.location("events_text", text_p1);
    assert_eq!(data_files(&old_text), 50);
    let before_text = lab.fingerprint("events_text", text_f1).await;
    let id = lab.api.submit("lab", "sales", "events_text", text_p1).await;
    let merged_text = assert_merged(
        &mut lab,
        id,
        "events_text",
        text_p1,
        text_f1,
        &old_text,
        &before_text,
    )
    .await;

    let metrics = lab.merger.as_ref().unwrap().get("/metrics").await;
    assert!(
        metrics.contains("smallfiles_merge_retired_directories{cluster=\"lab\"} 1"),
        "{metrics}"
    );

    // Through an Alertmanager webhook: a Parquet partition.
    let pq_p1 = "dt=2026-11-24";
    let pq_f1 = "dt='2026-11-24'";
    let old_pq = lab.location("events_parquet", pq_p1);
    let before_pq = lab.fingerprint("events_parquet", pq_f1).await;
    let (status, r) = lab.webhook.post("/api/v1/alertmanager",
            json!({
                "version": "4", "status": "firing", "receiver": "merger", "groupKey": "{}", "truncatedAlerts": 0,
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
                "alerts": [{ "status": "firing", "labels": {"alertname": "HiveTableTooManySmallFiles", "cluster": "lab", "database": "sales", "table": "events_parquet", "partition": pq_p1},
                             "annotations": {}, "startsAt": "2026-11-26T12:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "00000000000000aa" }]
            }),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let pq_id = lab
        .api
        .wait_task(id + 1, "was created by the webhook", WAIT, |t| {
            t["id"].as_u64().is_some()
        })
        .await["id"]
        .as_u64()
        .unwrap();
    assert_merged(
        &mut lab,
        pq_id,
        "events_parquet",
        pq_p1,
        pq_f1,
        &old_pq,
        &before_pq,
    )
    .await;

    {
        // Rolled back by hand within the window: the partition reads its old directory again;
        // the merged copy is what the window then removes.
        let (status, t) = lab
            .api
            .post(&format!("/api/v1/tasks/{id}/rollback"), json!({}))
            .await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["state"], "rolled_back", "{t:#}");
        assert!(t["reason"].as_str().unwrap().contains("rolled back by ops"));
        assert_eq!(lab.location("events_text", text_p1), old_text);
        assert_eq!(data_files(&old_text), 50);
        assert_eq!(lab.fingerprint("events_text", text_f1).await, before_text);
        assert!(
            lab.impala
                .statements()
                .iter()
                .filter(|s| s.contains("`hr`=1"))
                .count()
                >= 2
        );
        // Once is all: the task is no longer a succeeded merge.
        let (status, _) = lab
            .api
            .post(&format!("/api/v1/tasks/{id}/rollback"), json!({}))
            .await;
        assert_eq!(status, 409);
    }

    // After the rollback window the merger removes the replaced directories.
    lab.signal("retire");
    let t = lab
        .api
        .wait_task(id, "removed its old directory", WAIT, |t| {
            log_text(t).contains("removed the replaced directory")
        })
        .await;
    // Rolled back by hand: the merged copy is what the window removed; the data stays.
    assert!(!exists(&merged_text), "{t:#}");
    assert_eq!(data_files(&old_text), 50, "the data stays");
    lab.api
        .wait_task(pq_id, "removed its old directory", WAIT, |t| {
            log_text(t).contains("removed the replaced directory")
        })
        .await;
    assert!(!exists(&old_pq));
    assert_eq!(lab.fingerprint("events_text", text_f1).await, before_text);
    let metrics = lab.merger.as_ref().unwrap().get("/metrics").await;
    let removed: f64 = metrics
        .lines()
        .find(|l| l.starts_with("smallfiles_merge_files_removed_total{cluster=\"lab\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        removed >= 96.0,
        "two merges of 50 files into 1-2: {removed}"
    );
    assert!(
        metrics.contains("smallfiles_merge_retired_directories{cluster=\"lab\"} 0"),
        "{metrics}"
    );
    eprintln!(
        "{name}: merged through the API and a webhook; old directories removed after the window"
    );

    // Rollback: a writer adds a row while the merged copy waits to be verified.
    lab.kill9();
    lab.restart(Some(("written", "writer-done"))).await;
    let text_p2 = "dt=2026-11-24/hr=2";
    let text_f2 = "dt='2026-11-24' AND hr=2";
    let old = lab.location("events_text", text_p2);
    let id = lab.api.submit("lab", "sales", "events_text", text_p2).await;
    lab.wait_stage(id, "written").await;
    lab.exec("INSERT INTO sales.events_text PARTITION (dt='2026-11-24', hr=2) VALUES (5000, 'late writer', 1.0)").await;
    lab.signal("writer-done");
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "rolled_back", "{t:#}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("verification failed: the data changed while it was merged"),
        "{reason}"
    );
    assert!(reason.contains("kept its location"), "{reason}");
    assert_eq!(
        lab.location("events_text", text_p2),
        old,
        "location unchanged"
    );
    assert!(
        !exists(&format!(
            "{}/_smallfiles/task-{id}",
            old.rsplit_once("/dt=").unwrap().0
        )),
        "the new directory is removed"
    );
    assert_eq!(
        lab.fingerprint("events_text", text_f2).await[0][0],
        Cell::Int(1001),
        "no row lost"
    );
    assert!(!lab
        .tables()
        .await
        .iter()
        .any(|t| t.starts_with("smallfiles")));
    eprintln!("{name}: a writer during the merge caused a rollback");

    // A job that drops a file straight into the old directory after the copy was verified
    // (the table already reads the new one): found after the switch, rolled back.
    lab.kill9();
    lab.restart(Some(("switched", "late-file-written"))).await;
    let id = lab.api.submit("lab", "sales", "events_text", text_p2).await;
    lab.wait_stage(id, "switched").await;
    std::fs::write(
        Path::new(old.trim_start_matches("file:")).join("late_file_000"),
        "9999,a late file,2.0\n",
    )
    .unwrap();
    lab.signal("late-file-written");
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "rolled_back", "{t:#}");
    let reason = t["reason"].as_str().unwrap();
    assert!(reason.contains("changed during the merge"), "{reason}");
    assert_eq!(lab.location("events_text", text_p2), old, "switched back");
    assert_eq!(
        lab.fingerprint("events_text", text_f2).await[0][0],
        Cell::Int(1002),
        "the late file is read again"
    );
    eprintln!("{name}: a file written into the old directory after the switch caused a rollback");

    // kill -9 between "written" and "switched": recovery rolls back.
    lab.kill9();
    // Held after the write until cancelled or killed: the signal never comes.
    lab.restart(Some(("written", "never"))).await;
    let pq_p2 = "dt=2026-11-25";
    let pq_f2 = "dt='2026-11-25'";
    let old = lab.location("events_parquet", pq_p2);
    let before = lab.fingerprint("events_parquet", pq_f2).await;
    // Cancelled after the copy was written: rolled back, the task says cancelled.
    let cancelled = lab
        .api
        .submit("lab", "sales", "events_parquet", pq_p2)
        .await;
    lab.wait_stage(cancelled, "written").await;
    let (status, r) = lab
        .api
        .post(&format!("/api/v1/tasks/{cancelled}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "{r}");
    let t = lab.api.wait_ended(cancelled, WAIT).await;
    assert_eq!(t["state"], "cancelled", "{t:#}");
    assert!(log_text(&t).contains("cancelled: rolled back"), "{t:#}");
    assert_eq!(lab.location("events_parquet", pq_p2), old);
    assert!(!exists(&format!(
        "{}/_smallfiles/task-{cancelled}",
        old.rsplit_once("/dt=").unwrap().0
    )));
    assert!(!lab
        .tables()
        .await
        .iter()
        .any(|t| t.starts_with("smallfiles")));
    eprintln!("{name}: a cancel after the write was rolled back");
    let id = lab
        .api
        .submit("lab", "sales", "events_parquet", pq_p2)
        .await;
    lab.wait_stage(id, "written").await;
    let staging_dir = format!(
        "{}/_smallfiles/task-{id}",
        old.rsplit_once("/dt=").unwrap().0
    );
    assert_eq!(data_files(&staging_dir), 1, "the copy was written");
    lab.kill9();
    lab.restart(None).await;
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "rolled_back", "{t:#}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("interrupted at dt=2026-11-25: written"),
        "{reason}"
    );
    assert_eq!(lab.location("events_parquet", pq_p2), old);
    assert!(!exists(&staging_dir));
    assert_eq!(data_files(&old), 50);
    assert_eq!(lab.fingerprint("events_parquet", pq_f2).await, before);
    assert!(!lab
        .tables()
        .await
        .iter()
        .any(|t| t.starts_with("smallfiles")));

    eprintln!("{name}: kill -9 after the write was rolled back by recovery");

    // kill -9 after "switched": recovery finishes the merge.
    lab.kill9();
    lab.restart(Some(("switched", "never"))).await;
    let (status, r) = lab
        .api
        .post(&format!("/api/v1/tasks/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, 201, "{r}");
    let retry = r["task_id"].as_u64().unwrap();
    lab.wait_stage(retry, "switched").await;
    lab.kill9();
    lab.restart(None).await;
    let t = lab.api.wait_ended(retry, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains("finished by recovery"),
        "{t:#}"
    );
    assert_eq!(t["files_before"], 50);
    let new = lab.location("events_parquet", pq_p2);
    assert!(
        new.contains(&format!("/_smallfiles/task-{retry}/")),
        "{new}"
    );
    assert_eq!(lab.fingerprint("events_parquet", pq_f2).await, before);
    assert!(!lab
        .tables()
        .await
        .iter()
        .any(|t| t.starts_with("smallfiles")));
    assert!(log_text(&t).contains("kept the replaced directory"));
    eprintln!("{name}: kill -9 after the switch was finished by recovery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_on_spark_with_mariadb_and_postgresql_metastores() {
    if !spark::available() {
        return;
    }
    let start = Instant::now();
    scenario(MetastoreDb::Mariadb, "merge_my").await;
    eprintln!(
        "MariaDB metastore: every scenario passed after {:?}",
        start.elapsed()
    );
    scenario(MetastoreDb::Postgres, "merge_pg").await;
    eprintln!(
        "PostgreSQL metastore: every scenario passed after {:?}",
        start.elapsed()
    );
}

/// Partition values that break SQL written by text manipulation: each is merged by one
/// table-level task with its rows and checksum unchanged; the NULL partition is left alone
/// with a note, not a refusal of the table.
async fn hostile_partition_values(lab: &mut Lab) {
    let values = [
        "Paris, TX",
        "it's",
        "say \"hi\"",
        "a=b",
        "a/b",
        "100%",
        // The metastore database is latin1, as Hive's MySQL schema wants it: non-ASCII within
        // Latin-1 (Hive itself cannot store other characters there).
        "Zürich café",
        "trailing ",
    ];
    lab.exec("CREATE DATABASE IF NOT EXISTS sales").await;
    lab.exec("CREATE TABLE sales.odd (id BIGINT, note STRING, amount DOUBLE) PARTITIONED BY (city STRING) STORED AS PARQUET").await;
    let rows = "SELECT /*+ REPARTITION(5) */ id, IF(id % 7 = 0, NULL, concat('note ', id)), id * 1.25 FROM range(200)";
    for v in values {
        lab.exec(&format!(
            "INSERT INTO sales.odd PARTITION (city={}) {rows}",
            literal(v)
        ))
        .await;
    }
    lab.exec("SET hive.exec.dynamic.partition.mode=nonstrict")
        .await;
    lab.exec("INSERT INTO sales.odd PARTITION (city) SELECT /*+ REPARTITION(5) */ id, 'null key', 1.0, CAST(NULL AS STRING) FROM range(50)")
    .await;
    let before_locations = locations(lab, "odd");
    assert_eq!(
        before_locations.len(),
        values.len() + 1,
        "{before_locations:?}"
    );
    let null_name = "city=__HIVE_DEFAULT_PARTITION__";
    let null_dir = local_path(&before_locations[null_name]);
    let table_dir = null_dir.parent().unwrap().to_path_buf();
    age(&table_dir, Duration::from_secs(2 * 3600));
    let null_before = tree_state(&null_dir);
    let mut before = Vec::new();
    for v in values {
        before.push(
            lab.fingerprint("odd", &format!("city = {}", literal(v)))
                .await,
        );
    }
    let (status, r) = lab
        .api
        .post(
            "/api/v1/tasks",
            json!({"cluster": "lab", "database": "sales", "table": "odd"}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let id = r["results"][0]["task_id"].as_u64().unwrap();
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    let chosen: Vec<&str> = t["selection"]["chosen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(chosen.len(), values.len(), "{t:#}");
    let skipped = &t["selection"]["skipped"];
    assert_eq!(skipped[0]["partition"], null_name, "{t:#}");
    assert_eq!(skipped[0]["why"], "cannot_merge", "{t:#}");
    let after_locations = locations(lab, "odd");
    for (v, before) in values.iter().zip(&before) {
        let filter = format!("city = {}", literal(v));
        assert_eq!(
            &lab.fingerprint("odd", &filter).await,
            before,
            "rows and checksum of {v:?} unchanged"
        );
        assert!(matches!(&before[0][0], Cell::Int(200)), "{v:?}: {before:?}");
    }
    for (name, loc) in &after_locations {
        if name == null_name {
            assert_eq!(loc, &before_locations[name]);
            continue;
        }
        assert!(
            loc.contains(&format!("/_smallfiles/task-{id}/")),
            "{name} switched: {loc}"
        );
        assert_eq!(data_files(loc), 1, "{name} merged into one file");
        assert_eq!(data_files(&before_locations[name]), 5, "{name}: old kept");
    }
    assert_eq!(
        tree_state(&null_dir),
        null_before,
        "the NULL partition untouched"
    );
    eprintln!("hostile partition values merged: {chosen:?}");
}

/// A table-level task merges only the partitions worth it: of 40 partitions, 5 have small
/// files and one of those is being written → 4 merged; the others keep their files,
/// modification times and locations. The dry run shows the same choice first.
async fn partition_selection(lab: &mut Lab) {
    lab.exec("CREATE TABLE sales.daily (id BIGINT, note STRING, amount DOUBLE) PARTITIONED BY (dt STRING) STORED AS TEXTFILE").await;
    lab.exec("SET hive.exec.dynamic.partition.mode=nonstrict")
        .await;
    // One file per partition.
    lab.exec("INSERT INTO sales.daily PARTITION (dt) SELECT id, concat('note ', id), id * 0.5, concat('2026-10-', lpad(CAST(id % 40 AS STRING), 2, '0')) FROM range(4000) DISTRIBUTE BY 4").await;
    let small = [
        "2026-10-03",
        "2026-10-07",
        "2026-10-11",
        "2026-10-20",
        "2026-10-30",
    ];
    for (i, dt) in small.iter().enumerate() {
        lab.exec(&format!(
            "INSERT INTO sales.daily PARTITION (dt='{dt}') SELECT /*+ REPARTITION({}) */ id, 'more', 1.0 FROM range(100)",
            3 + i
        ))
        .await;
    }
    let before_locations = locations(lab, "daily");
    assert_eq!(before_locations.len(), 40);
    let table_dir = local_path(&before_locations["dt=2026-10-01"])
        .parent()
        .unwrap()
        .to_path_buf();
    age(&table_dir, Duration::from_secs(2 * 3600));
    // Written just now: hot.
    let hot = local_path(&before_locations["dt=2026-10-30"]);
    std::fs::write(hot.join("part-hot-000"), "1,a job is writing,1.0\n").unwrap();
    let state_before = tree_state(&table_dir);
    let mut fingerprints = Vec::new();
    for dt in small {
        fingerprints.push(lab.fingerprint("daily", &format!("dt = '{dt}'")).await);
    }
    let expected = [
        "dt=2026-10-20",
        "dt=2026-10-11",
        "dt=2026-10-07",
        "dt=2026-10-03",
    ];

    let (status, r) = lab
        .api
        .post(
            "/api/v1/tasks",
            json!({"cluster": "lab", "database": "sales", "table": "daily", "dry_run": true}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let dry = lab
        .api
        .wait_ended(r["results"][0]["task_id"].as_u64().unwrap(), WAIT)
        .await;
    assert_eq!(dry["state"], "succeeded", "{dry:#}");
    assert_eq!(dry["selection"]["chosen"], json!(expected), "{dry:#}");
    assert_eq!(
        tree_state(&table_dir),
        state_before,
        "a dry run changes nothing"
    );
    // The dry run's success starts the table's cooldown (1 s here): asked again until the
    // merger takes the task.
    let started = Instant::now();
    let id = loop {
        let (status, r) = lab
            .api
            .post(
                "/api/v1/tasks",
                json!({"cluster": "lab", "database": "sales", "table": "daily"}),
            )
            .await;
        if status == 201 {
            break r["results"][0]["task_id"].as_u64().unwrap();
        }
        assert_eq!(r["results"][0]["outcome"], "cooldown", "{r}");
        assert!(started.elapsed() < Duration::from_secs(30), "{r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let t = lab.api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    assert_eq!(t["selection"]["chosen"], json!(expected), "{t:#}");
    let skipped = t["selection"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 36);
    let hot_entry = skipped
        .iter()
        .find(|s| s["partition"] == "dt=2026-10-30")
        .unwrap();
    assert_eq!(hot_entry["why"], "hot", "{t:#}");
    assert_eq!(
        skipped
            .iter()
            .filter(|s| s["why"] == "few_small_files")
            .count(),
        35
    );
    let after_locations = locations(lab, "daily");
    for (name, loc) in &after_locations {
        if expected.contains(&name.as_str()) {
            assert!(
                loc.contains(&format!("/_smallfiles/task-{id}/")),
                "{name}: {loc}"
            );
            assert_eq!(data_files(loc), 1, "{name}");
        } else {
            assert_eq!(loc, &before_locations[name], "{name} untouched");
        }
    }
    // Files, sizes and modification times of every partition as they were (the merged ones'
    // old directories are kept for the rollback window).
    let state_after: std::collections::BTreeMap<_, _> = tree_state(&table_dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(table_dir.join("_smallfiles")))
        .collect();
    let state_before: std::collections::BTreeMap<_, _> = state_before
        .into_iter()
        .filter(|(p, _)| !p.starts_with(table_dir.join("_smallfiles")))
        .collect();
    assert_eq!(state_after, state_before);
    for (dt, before) in small.iter().zip(&fingerprints) {
        assert_eq!(
            &lab.fingerprint("daily", &format!("dt = '{dt}'")).await,
            before,
            "{dt}"
        );
    }
    eprintln!("partition selection: merged {expected:?}, left the hot one and 35 compact ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_values_and_selection_on_spark() {
    if !spark::available() {
        return;
    }
    let mut lab = Lab::start(MetastoreDb::Mariadb, "merge_sel").await;
    hostile_partition_values(&mut lab).await;
    partition_selection(&mut lab).await;
}
