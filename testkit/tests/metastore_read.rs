//! The metastore readers against every official schema, in the real MariaDB and PostgreSQL.

use smallfiles_cluster::config::{MetastoreConfig, MetastoreKind};
use smallfiles_cluster::metastore::{
    Metastore, MetastoreSource, TableLookups, TableName, TableRecord,
};
use smallfiles_testkit::metastore::{TableSpec, TestDb, SCHEMA_VERSIONS};
use smallfiles_testkit::require_shared;

fn config(db: &TestDb) -> MetastoreConfig {
    serde_saphyr::from_str(&format!("url: {}\npartition_page_size: 2\n", db.url())).unwrap()
}

fn find<'a>(tables: &'a [TableRecord], db: &str, name: &str) -> &'a TableRecord {
    tables
        .iter()
        .find(|t| t.qualified_database() == db && t.name == name)
        .unwrap_or_else(|| panic!("{db}.{name} not read"))
}

async fn check_version(kind: MetastoreKind, version: &str, shared: &std::path::Path) {
    let db = TestDb::create(kind, version, shared);
    let mut b = db.builder();
    let w = "hdfs://nameservice1/user/hive/warehouse";
    let sales = b.database("sales", &format!("{w}/sales.db"));
    let orders = TableSpec::text("orders", &format!("{w}/sales.db/orders"))
        .partitioned_by(&[("dt", "string"), ("hr", "int")]);
    let orders_id = b.table(sales, &orders);
    b.partition(
        orders_id,
        &orders,
        "dt=2024-01-01/hr=0",
        &format!("{w}/sales.db/orders/dt=2024-01-01/hr=0"),
        &[
            ("numFiles", "5"),
            ("totalSize", "abc"),
            ("transient_lastDdlTime", "1700000100"),
        ],
    );
    b.partition(
        orders_id,
        &orders,
        "dt=2024-01-01 10%3A00/hr=1",
        &format!("{w}/sales.db/orders/dt=2024-01-01 10%3A00/hr=1"),
        &[],
    );
    b.partition(
        orders_id,
        &orders,
        "dt=2023-12-31/hr=23",
        "hdfs://nameservice1/archive/orders/old",
        &[("numFiles", "-1")],
    );
    let events = TableSpec::parquet("events", "hdfs://nameservice1/data/events")
        .external()
        .param("numFiles", " 12 ")
        .param("totalSize", "-1")
        .param("comment", "junk ' \\ \u{e9}");
    b.table(sales, &events);
    let acid =
        TableSpec::orc("acid_t", &format!("{w}/sales.db/acid_t")).param("transactional", "TRUE");
    b.table(sales, &acid);
    let mm = TableSpec::orc("mm_t", &format!("{w}/sales.db/mm_t"))
        .param("transactional", "true")
        .param("transactional_properties", "insert_only");
    b.table(sales, &mm);
    b.table(sales, &TableSpec::view("v_orders"));
    let mut spark = TableSpec::parquet("spark_t", &format!("{w}/sales.db/spark_t-__PLACEHOLDER__"))
        .param("spark.sql.sources.provider", "parquet");
    spark
        .serde_params
        .push(("path".into(), "hdfs://nameservice1/spark/spark_t".into()));
    b.table(sales, &spark);
    b.table(
        sales,
        &TableSpec::text("empty_parts", &format!("{w}/sales.db/empty_parts"))
            .partitioned_by(&[("d", "date")]),
    );
    let has_catalogs = version >= "3.0";
    if has_catalogs {
        b.catalog("spark", "hdfs://nameservice1/spark-warehouse");
        let spark_sales = b.database_in(
            Some("spark"),
            "sales",
            "hdfs://nameservice1/spark-warehouse/sales.db",
        );
        b.table(
            spark_sales,
            &TableSpec::parquet(
                "orders",
                "hdfs://nameservice1/spark-warehouse/sales.db/orders",
            ),
        );
    }
    db.execute(&b.take_statements(500));

    let ms = Metastore::from_config(&config(&db)).unwrap();
    let info = ms.schema_info().await.unwrap();
    assert_eq!(info.has_catalogs, has_catalogs, "{kind:?} {version}");
    // The official 1.1.0 MySQL script is byte-identical to 1.2.0's and records 1.2.0.
    assert_eq!(
        info.version[..2],
        version[..2],
        "{kind:?} {version}: {}",
        info.version
    );

    let tables = ms.tables().await.unwrap();
    assert_eq!(
        tables.len(),
        if has_catalogs { 8 } else { 7 },
        "{kind:?} {version}"
    );
    let o = find(&tables, "sales", "orders");
    assert_eq!(
        o.partition_keys,
        vec![
            ("dt".to_string(), "string".to_string()),
            ("hr".to_string(), "int".to_string())
        ]
    );
    assert_eq!(o.table_type, "MANAGED_TABLE");
    assert_eq!(o.data_location(), Some(&*format!("{w}/sales.db/orders")));
    assert_eq!(
        o.input_format.as_deref(),
        Some(smallfiles_testkit::metastore::TEXT_INPUT)
    );
    assert_eq!(o.params.last_ddl_time, Some(1700000000));

    let e = find(&tables, "sales", "events");
    assert!(e.params.external);
    assert_eq!(e.table_type, "EXTERNAL_TABLE");
    assert_eq!(e.params.num_files, Some(12));
    assert_eq!(e.params.total_size, None);
    assert!(!e.is_partitioned());

    let a = find(&tables, "sales", "acid_t");
    assert!(a.params.transactional && !a.params.insert_only);
    assert!(find(&tables, "sales", "mm_t").params.insert_only);
    let v = find(&tables, "sales", "v_orders");
    assert!(v.is_view());
    assert_eq!(v.data_location(), None);
    let s = find(&tables, "sales", "spark_t");
    assert_eq!(s.data_location(), Some("hdfs://nameservice1/spark/spark_t"));
    assert_eq!(s.params.spark_provider.as_deref(), Some("parquet"));
    let ep = find(&tables, "sales", "empty_parts");
    assert!(ep.is_partitioned());
    if has_catalogs {
        let so = find(&tables, "@spark#sales", "orders");
        assert_eq!(so.catalog, "spark");
        assert_ne!(so.id, o.id);
    }

    // Point lookups with bound parameters, as the merger validates alerts.
    let found = ms
        .find_table("SALES", "Orders")
        .await
        .unwrap()
        .expect("case-insensitive lookup");
    assert_eq!((found.id, found.name.as_str()), (o.id, "orders"));
    assert_eq!(found.partition_keys.len(), 2);
    assert_eq!(
        found.columns,
        vec![
            ("id".to_string(), "bigint".to_string()),
            ("amount".to_string(), "decimal(10,2)".to_string())
        ]
    );
    assert_eq!(
        ms.find_table("sales", "spark_t")
            .await
            .unwrap()
            .unwrap()
            .data_location(),
        Some("hdfs://nameservice1/spark/spark_t")
    );
    assert!(ms
        .find_table("sales", "orders; DROP TABLE TBLS")
        .await
        .unwrap()
        .is_none());
    assert!(ms
        .find_table("sales' OR '1'='1", "orders")
        .await
        .unwrap()
        .is_none());
    if has_catalogs {
        let so = ms
            .find_table("@spark#sales", "orders")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(so.catalog, "spark");
    }

    // Many tables in one lookup (a burst of alerts): the answers in the order asked, each as
    // its own lookup gives it, hostile names matching nothing.
    let asked = [
        ("sales", "spark_t"),
        ("SALES", "Orders"),
        ("sales", "nope"),
        ("sales' OR '1'='1", "orders"),
        ("sales", "mm_t"),
        ("sales", "orders"),
    ];
    let names: Vec<TableName> = asked.iter().map(|(d, t)| TableName::new(d, t)).collect();
    let batch = ms.find_tables(&names).await.unwrap();
    assert_eq!(batch.len(), asked.len());
    for ((d, t), got) in asked.iter().zip(&batch) {
        assert_eq!(got, &ms.find_table(d, t).await.unwrap(), "{d}.{t}");
    }
    let ids: Vec<Option<i64>> = batch.iter().map(|t| t.as_ref().map(|t| t.id)).collect();
    assert_eq!(
        ids,
        vec![
            Some(find(&tables, "sales", "spark_t").id),
            Some(o.id),
            None,
            None,
            Some(find(&tables, "sales", "mm_t").id),
            Some(o.id)
        ]
    );
    assert_eq!(batch[1].as_ref().unwrap().columns, found.columns);
    if has_catalogs {
        // The same database and table name in two catalogs stay two tables.
        let both = ms
            .find_tables(&[
                TableName::new("@spark#sales", "orders"),
                TableName::new("sales", "orders"),
            ])
            .await
            .unwrap();
        let catalogs: Vec<&str> = both
            .iter()
            .map(|t| t.as_ref().unwrap().catalog.as_str())
            .collect();
        assert_eq!(catalogs, vec!["spark", "hive"]);
    }
    // Lookups that arrive together share queries and get the same answers.
    let lookups = TableLookups::new(std::sync::Arc::new(
        Metastore::from_config(&config(&db)).unwrap(),
    ));
    let shared_answers =
        futures::future::join_all(asked.iter().map(|(d, t)| lookups.find_table(d, t))).await;
    for (got, want) in shared_answers.into_iter().zip(&batch) {
        assert_eq!(&got.unwrap(), want);
    }
    let part = ms
        .find_partition(o.id, "dt=2024-01-01/hr=0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (part.num_files, part.last_ddl_time),
        (Some(5), Some(1700000100))
    );
    // The merger's lookups read the partition's own format; the scan's pages do not.
    assert_eq!(part.input_format, o.input_format);
    assert!(ms
        .partitions_of(o.id)
        .await
        .unwrap()
        .iter()
        .all(|p| p.input_format == o.input_format && p.location.is_some()));
    assert!(ms
        .partitions_after(0, 100)
        .await
        .unwrap()
        .iter()
        .all(|p| p.input_format.is_none()));
    assert!(ms
        .find_partition(o.id, "dt=2024-01-01")
        .await
        .unwrap()
        .is_none());

    // Paged by primary key with a page size of 2.
    let mut parts = Vec::new();
    let mut after = 0;
    loop {
        let page = ms.partitions_after(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = last.id;
        parts.extend(page);
    }
    assert_eq!(parts.len(), 3, "{kind:?} {version}");
    assert!(parts.iter().all(|p| p.table_id == o.id));
    assert!(parts.windows(2).all(|w| w[0].id < w[1].id));
    let p0 = parts
        .iter()
        .find(|p| p.name == "dt=2024-01-01/hr=0")
        .unwrap();
    assert_eq!(
        (p0.num_files, p0.total_size, p0.last_ddl_time),
        (Some(5), None, Some(1700000100))
    );
    let escaped = parts.iter().find(|p| p.name.contains("%3A")).unwrap();
    assert_eq!(
        escaped.location.as_deref(),
        Some(&*format!("{w}/sales.db/orders/dt=2024-01-01 10%3A00/hr=1"))
    );
    let outside = parts
        .iter()
        .find(|p| p.name == "dt=2023-12-31/hr=23")
        .unwrap();
    assert_eq!(
        outside.location.as_deref(),
        Some("hdfs://nameservice1/archive/orders/old")
    );
    assert_eq!(outside.num_files, None);
}

#[tokio::test]
async fn mysql_every_schema_version() {
    let shared = require_shared!();
    for v in SCHEMA_VERSIONS {
        check_version(MetastoreKind::Mysql, v, &shared).await;
    }
}

#[tokio::test]
async fn postgres_every_schema_version() {
    let shared = require_shared!();
    for v in SCHEMA_VERSIONS {
        check_version(MetastoreKind::Postgres, v, &shared).await;
    }
}

#[tokio::test]
async fn unreachable_metastore_is_a_clear_error_without_password() {
    let cfg: MetastoreConfig =
        serde_saphyr::from_str("url: mysql://hive:s3cretpw@127.0.0.1:1/metastore\n").unwrap();
    let err = Metastore::from_config(&cfg)
        .unwrap()
        .tables()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("s3cretpw"), "{err}");
    let cfg: MetastoreConfig =
        serde_saphyr::from_str("url: postgresql://hive:s3cretpw@127.0.0.1:1/metastore\n").unwrap();
    let err = Metastore::from_config(&cfg)
        .unwrap()
        .tables()
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("s3cretpw"), "{err}");
}

/// The scan's partition pages: ids close together are read as id ranges, several at once;
/// ids spread thin are read by keyset, one page after another. Either way every partition
/// comes exactly once, in id order, with its parameters, and a page stays within its bound.
async fn pages_dense_and_sparse(kind: MetastoreKind, shared: &std::path::Path) {
    use futures::StreamExt;
    use smallfiles_cluster::metastore::{
        page_ranges, partition_pages, partition_pages_ahead, PartitionSpan,
    };
    for sparse in [false, true] {
        let db = TestDb::create(kind, "3.1.0", shared);
        let mut b = db.builder();
        let d = b.database("db", "hdfs://ns/w/db.db");
        let spec = TableSpec::text("t", "hdfs://ns/w/db.db/t").partitioned_by(&[("dt", "string")]);
        let t = b.table(d, &spec);
        for p in 0..25 {
            let name = format!("dt={p:02}");
            let files = p.to_string();
            b.partition(
                t,
                &spec,
                &name,
                &format!("hdfs://ns/w/db.db/t/{name}"),
                &[("numFiles", &files)],
            );
            if sparse {
                // Other rows take ids in between: partition ids one in ten or thinner.
                for k in 0..3 {
                    b.table(d, &TableSpec::text(&format!("f{p}_{k}"), "hdfs://ns/w/f"));
                }
            }
        }
        db.execute(&b.take_statements(500));
        let ms = Metastore::from_config(&config(&db)).unwrap();
        let span: Option<PartitionSpan> = ms.partition_span().await.unwrap();
        assert_eq!(span.map(|s| s.count), Some(25));
        assert_eq!(
            page_ranges(span, 4).is_none(),
            sparse,
            "{kind:?}: the path under test"
        );
        let mut seen = Vec::new();
        let mut pages = partition_pages(&ms, 4);
        while let Some(page) = pages.next().await {
            let page = page.unwrap();
            assert!(
                !page.is_empty() && page.len() <= 16,
                "{kind:?}: a page of {}",
                page.len()
            );
            seen.extend(page);
        }
        let names: Vec<String> = seen.iter().map(|p| p.name.clone()).collect();
        let expected: Vec<String> = (0..25).map(|p| format!("dt={p:02}")).collect();
        assert_eq!(names, expected, "{kind:?} sparse={sparse}");
        assert!(seen
            .iter()
            .enumerate()
            .all(|(i, p)| p.num_files == Some(i as u64) && p.location.is_some()));
        // The same pages read by a task of their own, for a consumer slower than the reader.
        drop(pages);
        let mut ahead = partition_pages_ahead(std::sync::Arc::new(ms), 4);
        let mut names_ahead = Vec::new();
        while let Some(page) = ahead.recv().await {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            names_ahead.extend(page.unwrap().into_iter().map(|p| p.name));
        }
        assert_eq!(
            names_ahead, expected,
            "{kind:?} sparse={sparse}: read ahead"
        );
    }
}

#[tokio::test]
async fn partition_pages_on_both_databases() {
    let shared = require_shared!();
    pages_dense_and_sparse(MetastoreKind::Mysql, &shared).await;
    pages_dense_and_sparse(MetastoreKind::Postgres, &shared).await;
}
