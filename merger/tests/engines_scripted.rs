//! The engines no real server here can run: ACID compaction followed through `SHOW COMPACTIONS`,
//! `CONCATENATE`, and Impala `REFRESH`, through the merger binary against scripted HiveServer2
//! servers (`testkit::hs2_server`) that answer as Hive and Impala do, with the metastore in the
//! real MariaDB (official schema from `../shared/`) and the data on local disk. Skips when
//! `../shared/` is absent.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::hs2_server::{self, Table};
use smallfiles_testkit::merger_api::MergerApi;
use smallfiles_testkit::metastore::{TableSpec, TestDb};
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::require_shared;

const OPS_TOKEN: &str = "ops-secret-token-0002";

fn write_files(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("delta_{i:07}_{i:07}_0000")),
            vec![b'x'; 100],
        )
        .unwrap();
    }
}

/// What the compactor of the scripted Hive does when a compaction is asked for.
#[derive(Default)]
struct Compactor {
    /// partition → (id, polls so far)
    requested: Vec<(String, u32, u32)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_concatenate_and_impala_refresh() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let w = format!("file:{}", dir.path().join("warehouse").display());
    let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
    let mut b = db.builder();
    let sales = b.database("sales", &format!("{w}/sales.db"));
    let acid = TableSpec::orc("acid_orders", &format!("{w}/sales.db/acid_orders"))
        .partitioned_by(&[("dt", "string")])
        .param("transactional", "true");
    let acid_id = b.table(sales, &acid);
    for d in ["2026-11-24", "2026-11-25"] {
        let loc = format!("{w}/sales.db/acid_orders/dt={d}");
        b.partition(acid_id, &acid, &format!("dt={d}"), &loc, &[]);
        write_files(
            &dir.path()
                .join(format!("warehouse/sales.db/acid_orders/dt={d}")),
            10,
        );
    }
    let orc = TableSpec::orc("orc_orders", &format!("{w}/sales.db/orc_orders"))
        .partitioned_by(&[("dt", "string")]);
    let orc_id = b.table(sales, &orc);
    for d in ["2026-11-24", "2026-11-25"] {
        b.partition(
            orc_id,
            &orc,
            &format!("dt={d}"),
            &format!("{w}/sales.db/orc_orders/dt={d}"),
            &[],
        );
    }
    write_files(
        &dir.path()
            .join("warehouse/sales.db/orc_orders/dt=2026-11-25"),
        5,
    );
    let orc_dir = dir
        .path()
        .join("warehouse/sales.db/orc_orders/dt=2026-11-24");
    write_files(&orc_dir, 20);
    db.execute(&b.take_statements(500));

    // Hive: compactions progress initiated → working → succeeded (dt=2026-11-24) or failed
    // (dt=2026-11-25), the compactor replacing the deltas by a base; CONCATENATE merges the
    // ORC partition's files into one.
    let compactor = Arc::new(Mutex::new(Compactor::default()));
    let acid_root = dir.path().join("warehouse/sales.db/acid_orders");
    let (c2, root2, orc_dir2) = (compactor.clone(), acid_root.clone(), orc_dir.clone());
    let hive = hs2_server::start("Apache Hive", move |sql| {
        let mut c = c2.lock().unwrap();
        if let Some(rest) = sql.strip_prefix("ALTER TABLE `sales`.`acid_orders` PARTITION (`dt`='")
        {
            let dt = rest.split('\'').next().unwrap();
            let id = 10 + c.requested.len() as u32;
            c.requested.push((format!("dt={dt}"), id, 0));
            return Ok(Table::default());
        }
        if sql == "SHOW COMPACTIONS" {
            let mut rows: Vec<Vec<String>> = vec![vec![
                "1".into(),
                "sales".into(),
                "acid_orders".into(),
                "dt=2026-11-24".into(),
                "MAJOR".into(),
                "succeeded".into(),
            ]];
            for (part, id, polls) in c.requested.iter_mut() {
                *polls += 1;
                let state = match (*polls, part.as_str()) {
                    (1, _) => "initiated",
                    (2, _) => "working",
                    (_, "dt=2026-11-25") => "failed",
                    _ => {
                        let d = root2.join(part.as_str());
                        let _ = std::fs::remove_dir_all(&d);
                        std::fs::create_dir_all(d.join("base_0000010")).unwrap();
                        std::fs::write(d.join("base_0000010/bucket_00000"), b"merged").unwrap();
                        "ready for cleaning"
                    }
                };
                rows.push(vec![
                    id.to_string(),
                    "sales".into(),
                    "acid_orders".into(),
                    part.clone(),
                    "MAJOR".into(),
                    state.into(),
                ]);
            }
            return Ok(Table {
                columns: [
                    "compactionid",
                    "dbname",
                    "tabname",
                    "partname",
                    "type",
                    "state",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                rows: rows
                    .into_iter()
                    .map(|r| r.into_iter().map(Some).collect())
                    .collect(),
                ..Table::default()
            });
        }
        if sql.contains("'2026-11-25') CONCATENATE") {
            // A long merge job, until it is cancelled.
            return Ok(Table::running());
        }
        if sql.ends_with("CONCATENATE") {
            let _ = std::fs::remove_dir_all(&orc_dir2);
            std::fs::create_dir_all(&orc_dir2).unwrap();
            std::fs::write(orc_dir2.join("000000_0"), b"merged").unwrap();
            return Ok(Table::default());
        }
        if sql.starts_with("SET ") {
            return Ok(Table::default());
        }
        Err(format!("ParseException: unexpected statement {sql}"))
    })
    .await;
    let impala = hs2_server::start("Impala", |sql| {
        if sql.starts_with("REFRESH ") {
            Ok(Table::default())
        } else {
            Err(format!("AnalysisException: {sql}"))
        }
    })
    .await;

    std::fs::write(dir.path().join("ops.token"), OPS_TOKEN).unwrap();
    let port = free_port();
    let config = dir.path().join("smallfiles.yml");
    std::fs::write(
        &config,
        format!(
            r#"
merger:
  listen_address: "127.0.0.1:{port}"
  data_dir: {data}
  auth:
    tokens:
      - {{ name: ops, token_file: {d}/ops.token, role: operator }}
clusters:
  - name: prod
    metastore:
      url: {url}
    hiveserver2: {{ url: "{hive}", auth: nosasl }}
    impala: {{ url: "{impala}", auth: nosasl }}
    merge:
      queue: root.maintenance
      compaction_poll_interval: 200ms
"#,
            data = dir.path().join("data").display(),
            d = dir.path().display(),
            url = db.url(),
            hive = hive.url(),
            impala = impala.url(),
        ),
    )
    .unwrap();
    let log = dir.path().join("merger.log");
    let mut merger = Running::start(
        env!("CARGO_BIN_EXE_smallfiles-merger"),
        &["--config.file", &config.to_string_lossy()],
        port,
        &log,
    );
    merger.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let api = MergerApi::new(port, OPS_TOKEN);
    let submit = |table: &'static str, partition: &'static str| {
        api.submit("prod", "sales", table, partition)
    };
    let ended = |id: u64| api.wait_ended(id, Duration::from_secs(60));

    // ACID: compaction, followed until the compactor is done.
    let id = submit("acid_orders", "dt=2026-11-24").await;
    let t = ended(id).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    assert_eq!(t["resolved_strategy"], "compact");
    assert_eq!(
        (t["files_before"].as_u64(), t["files_after"].as_u64()),
        (Some(10), Some(1))
    );
    let stmts = hive.statements();
    let alter = "ALTER TABLE `sales`.`acid_orders` PARTITION (`dt`='2026-11-24') COMPACT 'major'";
    let at = stmts.iter().position(|s| s == alter).expect("COMPACT sent");
    assert_eq!(
        stmts[at - 1],
        "SHOW COMPACTIONS",
        "entries before the request are noted"
    );
    assert!(stmts[..at].contains(&"SET tez.queue.name=root.maintenance".to_string()));
    assert!(
        stmts[at + 1..]
            .iter()
            .filter(|s| *s == "SHOW COMPACTIONS")
            .count()
            >= 3,
        "followed through initiated, working, ready for cleaning: {stmts:?}"
    );
    let log: String = t["log"].to_string();
    assert!(log.contains("compaction finished"), "{log}");
    assert!(impala
        .statements()
        .contains(&"REFRESH `sales`.`acid_orders` PARTITION (`dt`='2026-11-24')".to_string()));

    // A failed compaction fails the task with the compactor's state.
    let id = submit("acid_orders", "dt=2026-11-25").await;
    let t = ended(id).await;
    assert_eq!(t["state"], "failed", "{t:#}");
    assert!(
        t["reason"].as_str().unwrap().contains("ended \"failed\""),
        "{t:#}"
    );
    assert!(!impala.statements().iter().any(|s| s.contains("2026-11-25")));

    // Managed ORC: CONCATENATE, then REFRESH.
    let id = submit("orc_orders", "dt=2026-11-24").await;
    let t = ended(id).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    assert_eq!(t["resolved_strategy"], "concatenate");
    assert_eq!(
        (t["files_before"].as_u64(), t["files_after"].as_u64()),
        (Some(20), Some(1))
    );
    assert!(hive.statements().contains(
        &"ALTER TABLE `sales`.`orc_orders` PARTITION (`dt`='2026-11-24') CONCATENATE".to_string()
    ));
    assert!(impala
        .statements()
        .contains(&"REFRESH `sales`.`orc_orders` PARTITION (`dt`='2026-11-24')".to_string()));
    // Cancelling a running task stops its statement on the server.
    let id = submit("orc_orders", "dt=2026-11-25").await;
    let start = Instant::now();
    while !hive
        .statements()
        .iter()
        .any(|s| s.contains("'2026-11-25') CONCATENATE"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "CONCATENATE never sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, r) = api
        .post(&format!("/api/v1/tasks/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "{r}");
    let t = ended(id).await;
    assert_eq!(t["state"], "cancelled", "{t:#}");
    assert_eq!(
        hive.cancelled(),
        vec!["ALTER TABLE `sales`.`orc_orders` PARTITION (`dt`='2026-11-25') CONCATENATE"]
    );
    assert!(!impala.statements().iter().any(|s| s.contains("2026-11-25")));
    drop(compactor);
}
