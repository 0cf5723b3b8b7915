use super::*;
use smallfiles_cluster::metastore::TableParams;

fn table(format_in: &str, serde: &str) -> TableRecord {
    TableRecord {
        id: 1,
        catalog: "hive".into(),
        database: "sales".into(),
        name: "orders".into(),
        table_type: "MANAGED_TABLE".into(),
        location: Some("hdfs://ns/w/sales.db/orders".into()),
        input_format: Some(format_in.into()),
        output_format: Some("out".into()),
        serde_lib: Some(serde.into()),
        num_buckets: -1,
        partition_keys: vec![("dt".into(), "string".into()), ("hr".into(), "int".into())],
        columns: vec![
            ("id".into(), "bigint".into()),
            ("note".into(), "string".into()),
        ],
        params: TableParams::default(),
        ..Default::default()
    }
}

const ORC: &str = "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat";
const TEXT: &str = "org.apache.hadoop.mapred.TextInputFormat";

#[test]
fn strategy_selection_and_refusals() {
    let orc = table(ORC, "org.apache.hadoop.hive.ql.io.orc.OrcSerde");
    assert_eq!(
        choose_strategy(&orc, Strategy::Auto, false, Dialect::Hive),
        Ok(Strategy::Concatenate)
    );
    let text = table(TEXT, "LazySimpleSerDe");
    assert_eq!(
        choose_strategy(&text, Strategy::Auto, false, Dialect::Hive),
        Ok(Strategy::InsertOverwrite)
    );
    assert_eq!(
        choose_strategy(&text, Strategy::Concatenate, false, Dialect::Hive),
        Err(StrategyRefusal::ConcatenateFormat("text".into()))
    );
    let mut acid = orc.clone();
    acid.params.transactional = true;
    assert_eq!(
        choose_strategy(&acid, Strategy::Auto, false, Dialect::Hive),
        Ok(Strategy::Compact)
    );
    assert_eq!(
        choose_strategy(&acid, Strategy::InsertOverwrite, false, Dialect::Hive),
        Err(StrategyRefusal::TransactionalNeedsCompact)
    );
    assert_eq!(
        choose_strategy(&orc, Strategy::Compact, false, Dialect::Hive),
        Err(StrategyRefusal::CompactNeedsTransactional)
    );
    let mut bucketed = orc.clone();
    bucketed.num_buckets = 8;
    assert_eq!(
        choose_strategy(&bucketed, Strategy::Auto, false, Dialect::Hive),
        Ok(Strategy::InsertOverwrite)
    );
    assert_eq!(
        choose_strategy(&bucketed, Strategy::Concatenate, false, Dialect::Hive),
        Err(StrategyRefusal::ConcatenateBucketed)
    );
    let mut ext = orc.clone();
    ext.table_type = "EXTERNAL_TABLE".into();
    ext.params.external = true;
    assert_eq!(
        choose_strategy(&ext, Strategy::Auto, false, Dialect::Hive),
        Err(StrategyRefusal::External)
    );
    assert_eq!(
        choose_strategy(&ext, Strategy::Auto, true, Dialect::Hive),
        Ok(Strategy::InsertOverwrite)
    );
    assert_eq!(
        choose_strategy(&ext, Strategy::Concatenate, true, Dialect::Hive),
        Err(StrategyRefusal::ConcatenateExternal)
    );
    let mut view = orc.clone();
    view.table_type = "VIRTUAL_VIEW".into();
    view.location = None;
    assert_eq!(
        choose_strategy(&view, Strategy::Auto, true, Dialect::Hive),
        Err(StrategyRefusal::View)
    );
    let mut hbase = orc;
    hbase.params.storage_handler = Some("org.apache.hadoop.hive.hbase.HBaseStorageHandler".into());
    assert!(matches!(
        choose_strategy(&hbase, Strategy::Auto, true, Dialect::Hive),
        Err(StrategyRefusal::NonNative(h)) if h.ends_with("HBaseStorageHandler")
    ));
}

#[test]
fn quoting() {
    assert_eq!(quote_ident("we`ird"), "`we``ird`");
    assert_eq!(quote_string("a\\b'c"), "'a\\\\b\\'c'");
}

#[test]
fn statements_per_engine() {
    let orc = table(ORC, "org.apache.hadoop.hive.ql.io.orc.OrcSerde");
    let p = PartitionRecord {
        id: 9,
        table_id: 1,
        name: "dt=2024-01-01/hr=3".into(),
        location: Some("hdfs://ns/w/sales.db/orders/dt=2024-01-01/hr=3".into()),
        ..Default::default()
    };
    let s = statements(
        7,
        &orc,
        std::slice::from_ref(&p),
        Strategy::Concatenate,
        &PlanSettings::default(),
    )
    .unwrap();
    assert_eq!(
        s,
        vec!["ALTER TABLE `sales`.`orders` PARTITION (`dt`='2024-01-01', `hr`=3) CONCATENATE"]
    );
    let s = statements(
        7,
        &orc,
        std::slice::from_ref(&p),
        Strategy::Compact,
        &PlanSettings {
            queue: Some("root.maint".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s[0], "SET tez.queue.name=root.maint");
    assert_eq!(s[2], "SHOW COMPACTIONS");
    assert_eq!(
        s[3],
        "ALTER TABLE `sales`.`orders` PARTITION (`dt`='2024-01-01', `hr`=3) COMPACT 'major'"
    );
    let hive = statements(
        7,
        &orc,
        std::slice::from_ref(&p),
        Strategy::InsertOverwrite,
        &PlanSettings {
            impala_refresh: true,
            ..Default::default()
        },
    )
    .unwrap();
    let table = "`sales`.`orders`";
    let spec = "PARTITION (`dt`='2024-01-01', `hr`=3)";
    let filter = "WHERE `dt`='2024-01-01' AND `hr`=3";
    let fp =
        format!("SELECT COUNT(*), SUM(CAST(hash(`id`, `note`) AS BIGINT)) FROM {table} {filter}");
    let new_dir = "hdfs://ns/w/sales.db/orders/_smallfiles/task-7/dt=2024-01-01/hr=3";
    let expected: Vec<String> = vec![
        "SET hive.merge.mapfiles=true".into(),
        "SET hive.merge.mapredfiles=true".into(),
        "SET hive.merge.tezfiles=true".into(),
        "SET hive.merge.size.per.task=268435456".into(),
        "SET hive.merge.smallfiles.avgsize=134217728".into(),
        "CREATE EXTERNAL TABLE `sales`.`smallfiles_task_7_staging` LIKE `sales`.`orders` LOCATION 'hdfs://ns/w/sales.db/orders/_smallfiles/task-7' TBLPROPERTIES ('external.table.purge'='false', 'smallfiles.task'='7')".into(),
        fp.clone(),
        format!("INSERT OVERWRITE TABLE `sales`.`smallfiles_task_7_staging` {spec} SELECT `id`, `note` FROM {table} {filter}"),
        format!("SELECT COUNT(*), SUM(CAST(hash(`id`, `note`) AS BIGINT)) FROM `sales`.`smallfiles_task_7_staging` {filter}"),
        fp.clone(),
        format!("ALTER TABLE {table} {spec} SET LOCATION '{new_dir}'"),
        fp.clone(),
        "DROP TABLE IF EXISTS `sales`.`smallfiles_task_7_staging`".into(),
        format!("ANALYZE TABLE {table} {spec} COMPUTE STATISTICS"),
        format!("[impala] REFRESH {table} {spec}"),
    ];
    assert_eq!(hive, expected);
    // Spark: no EXTERNAL with LIKE, a COALESCE hint from the unit's size, Hive serde writes.
    let mut big = p.clone();
    big.total_size = Some(600 << 20);
    let mut ps = PlanSettings {
        dialect: Dialect::Spark,
        queue: Some("root.maint".into()),
        engine_settings: vec![("spark.sql.shuffle.partitions".into(), "4".into())],
        ..Default::default()
    };
    let spark = statements(
        7,
        &orc,
        std::slice::from_ref(&big),
        Strategy::InsertOverwrite,
        &ps,
    )
    .unwrap();
    assert_eq!(
        spark[0],
        "SET spark.sql.thriftserver.scheduler.pool=root.maint"
    );
    assert_eq!(spark[1], "SET spark.sql.shuffle.partitions=4");
    assert_eq!(
        spark[2],
        "SET spark.sql.hive.convertInsertingPartitionedTable=false"
    );
    assert!(
        spark[3].starts_with("CREATE TABLE `sales`.`smallfiles_task_7_staging` LIKE"),
        "{}",
        spark[3]
    );
    assert!(
        spark[5].contains("SELECT /*+ COALESCE(3) */ `id`, `note` FROM"),
        "{}",
        spark[5]
    );
    assert!(!spark.iter().any(|s| s.contains("[impala]")));
    // Map columns cannot be hashed by Spark: left out of the checksum.
    let mut with_map = orc.clone();
    with_map
        .columns
        .push(("attrs".into(), "map<string,string>".into()));
    let spark = statements(
        7,
        &with_map,
        std::slice::from_ref(&p),
        Strategy::InsertOverwrite,
        &ps,
    )
    .unwrap();
    assert!(spark[4].contains("hash(`id`, `note`)"), "{}", spark[4]);
    assert!(
        spark[5].contains("SELECT /*+ COALESCE(1) */ `id`, `note`, `attrs` FROM"),
        "{}",
        spark[5]
    );
    ps.dialect = Dialect::Hive;
    let hive = statements(
        7,
        &with_map,
        std::slice::from_ref(&p),
        Strategy::InsertOverwrite,
        &ps,
    )
    .unwrap();
    assert!(hive
        .iter()
        .any(|s| s.contains("hash(`id`, `note`, `attrs`)")));
    // Unpartitioned: the copy goes beside the table's directory, never into it, and a
    // second merge does not stack suffixes.
    let mut flat = orc.clone();
    flat.partition_keys.clear();
    flat.location = Some("hdfs://ns/w/sales.db/orders_smallfiles_task_3".into());
    let plan = swap_plan(9, &flat, &[(None, 0)], &PlanSettings::default()).unwrap();
    assert_eq!(
        plan.staging_root,
        "hdfs://ns/w/sales.db/orders_smallfiles_task_9"
    );
    assert_eq!(plan.units[0].new_location, plan.staging_root);
    assert_eq!(
        plan.units[0].old_location,
        "hdfs://ns/w/sales.db/orders_smallfiles_task_3"
    );
    assert_eq!(
        plan.units[0].switch_back,
        "ALTER TABLE `sales`.`orders` SET LOCATION 'hdfs://ns/w/sales.db/orders_smallfiles_task_3'"
    );
    assert!(plan.units[0]
        .write
        .ends_with("SELECT `id`, `note` FROM `sales`.`orders`"));
    // Without a metastore the columns are unknown: refused, unless the cluster is planned
    // from its layout (dry runs), where every column but the keys is selected by regex.
    let mut unknown = orc.clone();
    unknown.columns.clear();
    unknown.partition_keys = vec![
        ("dt".into(), "string".into()),
        ("h.r".into(), "string".into()),
    ];
    let mut p2 = p.clone();
    p2.name = "dt=2024-01-01/h.r=3".into();
    let unit = [(Some(&p2), 0)];
    assert_eq!(
        swap_plan(9, &unknown, &unit, &PlanSettings::default()).unwrap_err(),
        PlanError::NoColumns
    );
    let layout = PlanSettings {
        columns_from_layout: true,
        ..Default::default()
    };
    let plan = swap_plan(9, &unknown, &unit, &layout).unwrap();
    assert!(plan
        .setup
        .contains(&"SET hive.support.quoted.identifiers=none".to_string()));
    assert!(
        plan.units[0]
            .write
            .contains("SELECT `(?:dt|h\\.r)?+.+` FROM `sales`.`orders` WHERE"),
        "{}",
        plan.units[0].write
    );
    assert!(plan.units[0]
        .source_fingerprint
        .starts_with("SELECT COUNT(*), 0 FROM"));
    unknown.partition_keys.clear();
    let plan = swap_plan(9, &unknown, &[(None, 0)], &layout).unwrap();
    assert!(plan.units[0]
        .write
        .ends_with("SELECT * FROM `sales`.`orders`"));
    let mut null_key = p.clone();
    null_key.name = "dt=__HIVE_DEFAULT_PARTITION__/hr=3".into();
    assert!(statements(
        7,
        &orc,
        &[null_key],
        Strategy::InsertOverwrite,
        &PlanSettings::default()
    )
    .unwrap_err()
    .to_string()
    .contains("NULL partition keys"));
    // A partition in another format than its table is not swapped.
    let mut old_format = p.clone();
    old_format.input_format = Some(TEXT.into());
    assert!(statements(
        7,
        &orc,
        &[old_format],
        Strategy::InsertOverwrite,
        &PlanSettings::default()
    )
    .unwrap_err()
    .to_string()
    .contains("is stored as org.apache.hadoop.mapred.TextInputFormat"));
    let mut same = p.clone();
    same.input_format = Some(ORC.into());
    assert!(statements(
        7,
        &orc,
        &[same],
        Strategy::InsertOverwrite,
        &PlanSettings::default()
    )
    .is_ok());
    // Spark has no CONCATENATE.
    assert!(statements(
        7,
        &orc,
        std::slice::from_ref(&p),
        Strategy::Concatenate,
        &PlanSettings {
            dialect: Dialect::Spark,
            ..Default::default()
        }
    )
    .unwrap_err()
    .to_string()
    .contains("CONCATENATE"));
    assert_eq!(
        choose_strategy(&orc, Strategy::Auto, false, Dialect::Spark),
        Ok(Strategy::InsertOverwrite)
    );
    assert!(statements(
        7,
        &orc,
        &[],
        Strategy::Concatenate,
        &PlanSettings::default()
    )
    .unwrap_err()
    .to_string()
    .contains("partition by partition"));
    let p2 = PartitionRecord {
        name: "dt=2024-01-02/hr=0".into(),
        ..p.clone()
    };
    let both = statements(
        7,
        &orc,
        &[p.clone(), p2],
        Strategy::Concatenate,
        &PlanSettings::default(),
    )
    .unwrap();
    assert_eq!(both.len(), 2);
    assert!(both[1].contains("`dt`='2024-01-02', `hr`=0"), "{both:?}");
    let compact = statements(
        7,
        &orc,
        std::slice::from_ref(&p),
        Strategy::Compact,
        &PlanSettings::default(),
    )
    .unwrap();
    assert_eq!(compact.last().map(String::as_str), Some("SHOW COMPACTIONS"));
    let mut flat = orc;
    flat.partition_keys.clear();
    assert_eq!(
        statements(
            1,
            &flat,
            &[],
            Strategy::Concatenate,
            &PlanSettings::default()
        )
        .unwrap(),
        vec!["ALTER TABLE `sales`.`orders` CONCATENATE"]
    );
}
