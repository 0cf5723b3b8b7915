//! The swap's failure paths in-process, in the Hive dialect: a fake HiveServer2 session whose
//! statements act on a fake catalog and on local directories, so that a switch can fail, the
//! server can vanish in the middle of a rollback, and recovery can find it unreachable. The
//! happy paths and crashes against a real server are in `tests/merge_spark.rs`.

mod fake;

use super::{Engine, EngineError, EngineOutcome, Recovery};
use crate::db::Store;
use crate::model::{SwapStage, TaskState};
use fake::*;

#[tokio::test]
async fn a_failed_switch_is_rolled_back() {
    let s = setup();
    // Only the switch to the new directory fails; switching back must work.
    let old_loc = location(&s);
    s.fake.0.lock().unwrap().fail = vec![format!(
        "ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION 'file:{}/orders/_smallfiles",
        s.old.parent().unwrap().parent().unwrap().display()
    )];
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::RolledBack(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("SemanticException"), "{reason}");
    assert!(reason.contains("kept its location"), "{reason}");
    assert_eq!(location(&s), old_loc);
    let stmts = s.fake.0.lock().unwrap().statements.clone();
    let back = format!(
        "ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION '{old_loc}'"
    );
    assert!(stmts.contains(&back), "switched back: {stmts:?}");
    assert!(stmts.iter().any(|x| x.starts_with("CREATE EXTERNAL TABLE")));
    assert!(stmts.contains(&"DROP TABLE IF EXISTS `sales`.`smallfiles_task_1_staging`".to_string()));
    assert!(!s.old.parent().unwrap().join("_smallfiles/task-1").exists());
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 50);
    let stored = s.store.get(t.id).unwrap();
    assert_eq!(stored.swap.unwrap().units[0].stage, SwapStage::RolledBack);
}

/// The guard that does not trust the SQL: a filter that selects nothing (as a partition value
/// rendered wrongly would) reads 0 rows from files that hold data; nothing is written or
/// switched.
#[tokio::test]
async fn data_files_that_read_as_no_rows_are_never_swapped() {
    let s = setup();
    let old_loc = location(&s);
    s.fake.0.lock().unwrap().rows = Some(0);
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::RolledBack(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("refused"), "{reason}");
    assert!(
        reason.contains("50 bytes of data files but the table reads 0 rows"),
        "{reason}"
    );
    assert_eq!(location(&s), old_loc);
    let stmts = s.fake.0.lock().unwrap().statements.clone();
    assert!(!stmts.iter().any(|x| x.starts_with("INSERT")), "{stmts:?}");
    assert!(
        !stmts.iter().any(|x| x.contains("SET LOCATION")),
        "{stmts:?}"
    );
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 50);
}

#[tokio::test]
async fn a_rollback_cut_short_is_finished_by_recovery() {
    let s = setup();
    // The copy is verified, the switch happens, then the server vanishes before the check
    // that follows: the rollback that starts cannot switch back now.
    s.fake.0.lock().unwrap().down_after =
        Some("ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION".into());
    let t = task(&s.store);
    let why = run_interrupted(&s, &t).await;
    assert!(why.contains("retried by recovery"), "{why}");
    let switched = location(&s);
    assert!(switched.contains("_smallfiles/task-1"), "{switched}");
    let stage = s.store.get(t.id).unwrap().swap.unwrap().units[0].stage;
    assert_eq!(stage, SwapStage::Switched);

    // While the server is down, recovery waits.
    let stored = s.store.get(t.id).unwrap();
    assert_recovery_waits(&s, &stored).await;
    // Back up: the switched unit reads the same, the old directory is unchanged — finished.
    {
        let mut w = s.fake.0.lock().unwrap();
        w.down = false;
        w.down_after = None;
    }
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::Finished {
        reason,
        files_before,
        ..
    } = recovered
    else {
        panic!("{recovered:?}")
    };
    assert!(reason.contains("finished by recovery"), "{reason}");
    assert_eq!(files_before, Some(50));
    assert!(location(&s).contains("_smallfiles/task-1"));
    assert_eq!(
        s.engine.retired.all().unwrap().len(),
        1,
        "the old directory awaits removal"
    );
    assert!(!s.fake.0.lock().unwrap().staging, "staging table dropped");
}

#[tokio::test]
async fn a_rollback_whose_cleanup_was_cut_short_is_completed_by_recovery() {
    let s = setup();
    // The copy is written, then the server vanishes: the rollback removes the copy but cannot
    // drop the staging table.
    s.fake.0.lock().unwrap().down_after = Some("INSERT OVERWRITE TABLE".into());
    let t = task(&s.store);
    let why = run_interrupted(&s, &t).await;
    assert!(why.contains("the rollback could not finish"), "{why}");
    let stored = s.store.get(t.id).unwrap();
    let swap = stored.swap.clone().unwrap();
    assert_eq!(swap.units[0].stage, SwapStage::RolledBack);
    assert!(
        s.fake.0.lock().unwrap().staging,
        "the staging table is still there"
    );
    assert_recovery_waits(&s, &stored).await;
    s.fake.0.lock().unwrap().down = false;
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::RollBack(reason) = recovered else {
        panic!("{recovered:?}")
    };
    assert!(
        reason.contains("staging table and directory of the rolled-back copy were removed"),
        "{reason}"
    );
    assert!(
        !s.fake.0.lock().unwrap().staging,
        "the staging table is dropped"
    );
    assert!(!path(&swap.plan.staging_root).exists());
    assert_eq!(location(&s), format!("file:{}", s.old.display()));
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 50);
}

#[tokio::test]
async fn a_merge_is_not_done_while_the_metastore_cannot_say_its_staging_table_may_go() {
    let s = setup();
    // Switched and verified; then the metastore goes away before the staging table is
    // looked up for its drop.
    s.fake.0.lock().unwrap().metastore_down_after = Some("ALTER TABLE".into());
    let t = task(&s.store);
    let why = run_interrupted(&s, &t).await;
    assert!(
        why.contains("switched but could not be finished") && why.contains("metastore"),
        "{why}"
    );
    assert!(s.fake.0.lock().unwrap().staging);
    assert!(
        s.engine.retired.all().unwrap().is_empty(),
        "nothing is retired before the merge is finished"
    );
    let stored = s.store.get(t.id).unwrap();
    assert_recovery_waits(&s, &stored).await;
    s.fake.0.lock().unwrap().metastore_down = false;
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::Finished { reason, .. } = recovered else {
        panic!("{recovered:?}")
    };
    assert!(reason.contains("finished by recovery"), "{reason}");
    assert!(
        !s.fake.0.lock().unwrap().staging,
        "the staging table is dropped"
    );
    assert!(location(&s).contains("_smallfiles/task-1"));
    assert_eq!(
        s.engine.retired.all().unwrap().len(),
        1,
        "the old directory is retired once"
    );
}

#[tokio::test]
async fn a_merge_is_not_done_while_hiveserver2_cannot_drop_its_staging_table() {
    let s = setup();
    // Switched and verified; HiveServer2 dies during the drop of the staging table.
    s.fake.0.lock().unwrap().dies_during = Some("DROP TABLE".into());
    let t = task(&s.store);
    let why = run_interrupted(&s, &t).await;
    assert!(why.contains("switched but could not be finished"), "{why}");
    assert!(
        s.fake.0.lock().unwrap().staging,
        "the staging table is still there"
    );
    let stored = s.store.get(t.id).unwrap();
    assert_recovery_waits(&s, &stored).await;
    {
        let mut w = s.fake.0.lock().unwrap();
        w.down = false;
        w.dies_during = None;
    }
    let recovered = s.engine.recover(&stored, &s.store).await;
    assert!(
        matches!(recovered, Recovery::Finished { .. }),
        "{recovered:?}"
    );
    assert!(
        !s.fake.0.lock().unwrap().staging,
        "the staging table is dropped"
    );
    assert!(location(&s).contains("_smallfiles/task-1"));
}

#[tokio::test]
async fn a_file_dropped_into_the_old_directory_before_recovery_rolls_back() {
    let s = setup();
    s.fake.0.lock().unwrap().down_after =
        Some("ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION".into());
    let t = task(&s.store);
    assert!(matches!(run(&s, &t).await, EngineOutcome::Interrupted(_)));
    std::fs::write(s.old.join("late"), "late").unwrap();
    let old_loc = format!("file:{}", s.old.display());
    {
        let mut w = s.fake.0.lock().unwrap();
        w.down = false;
        w.down_after = None;
    }
    let stored = s.store.get(t.id).unwrap();
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::RollBack(reason) = recovered else {
        panic!("{recovered:?}")
    };
    assert!(reason.contains("kept its location"), "{reason}");
    assert_eq!(location(&s), old_loc);
    assert!(!s
        .old
        .parent()
        .unwrap()
        .join("_smallfiles/task-1/dt=2026-11-24")
        .exists());
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 51);
}

#[tokio::test]
async fn a_finished_merge_is_rolled_back_by_hand_unless_written_to_since() {
    let s = setup();
    let old_loc = location(&s);
    let t = task(&s.store);
    assert!(matches!(run(&s, &t).await, EngineOutcome::Succeeded { .. }));
    let new_loc = location(&s);
    assert_ne!(new_loc, old_loc);
    let merged = path(&new_loc);

    // The table moved on (another merge or an operator pointed it elsewhere): refused.
    s.fake.0.lock().unwrap().locations.insert(
        "dt=2026-11-24".into(),
        "file:/elsewhere/dt=2026-11-24".into(),
    );
    let done = s.store.get(t.id).unwrap();
    let err = s.engine.revert(&done, &s.store).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Refused(why) if why.contains("elsewhere")),
        "{err}"
    );
    s.fake
        .0
        .lock()
        .unwrap()
        .locations
        .insert("dt=2026-11-24".into(), new_loc.clone());

    // The old directory is gone (removed by hand, or by the window): refused.
    let old_dir = path(&old_loc);
    let aside = old_dir.with_extension("aside");
    std::fs::rename(&old_dir, &aside).unwrap();
    let err = s.engine.revert(&done, &s.store).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Refused(why) if why.contains("cannot be read (removed after the rollback window?)")),
        "{err}"
    );
    assert_eq!(location(&s), new_loc);
    std::fs::rename(&aside, &old_dir).unwrap();

    // A file written into the merged copy since: refused, nothing changed.
    std::fs::write(merged.join("000001_0"), "appended").unwrap();
    let done = s.store.get(t.id).unwrap();
    let err = s.engine.revert(&done, &s.store).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Refused(why) if why.contains("written into the merged copy")),
        "{err}"
    );
    assert_eq!(location(&s), new_loc);
    std::fs::remove_file(merged.join("000001_0")).unwrap();

    let summary = s.engine.revert(&done, &s.store).await.unwrap();
    assert!(
        summary.contains("read their old directories again"),
        "{summary}"
    );
    assert_eq!(location(&s), old_loc);
    let retired = s.engine.retired.all().unwrap();
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(
        retired[0].1.location, new_loc,
        "the merged copy awaits removal, not the data"
    );
    let stage = s.store.get(t.id).unwrap().swap.unwrap().units[0].stage;
    assert_eq!(stage, SwapStage::RolledBack);
    // Rolled back already: nothing left.
    let again = s.store.get(t.id).unwrap();
    assert!(matches!(
        s.engine.revert(&again, &s.store).await,
        Err(EngineError::Refused(why)) if why.contains("no merged partition is left")
    ));
}

/// A store written by the release before schema versions (`tests/fixtures/store-v1.redb.gz`):
/// it opens (upgraded to the current schema), its tasks list with their states, the display
/// prefix of its Impala refresh is dropped as it is read, and its interrupted swap is settled
/// by recovery.
#[tokio::test]
async fn a_store_of_the_previous_release_opens_lists_and_recovers() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merger.redb");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&include_bytes!("../../../tests/fixtures/store-v1.redb.gz")[..])
        .read_to_end(&mut bytes)
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let store = Store::open(&path).unwrap();
    let tasks = store.list(&Default::default()).unwrap();
    let states: Vec<(u64, TaskState)> = tasks.iter().map(|t| (t.id, t.state)).collect();
    assert_eq!(
        states,
        [
            (3, TaskState::Interrupted),
            (2, TaskState::Pending),
            (1, TaskState::Succeeded)
        ]
    );
    let counts = store.cluster_state_counts().unwrap();
    assert_eq!(counts.get(&("prod".into(), TaskState::Pending)), Some(&1));
    assert_eq!(
        counts.get(&("prod".into(), TaskState::Interrupted)),
        Some(&1)
    );
    assert_eq!(store.audit_entries(None, 10).unwrap().len(), 1);
    let interrupted = store.get(3).unwrap();
    let plan = &interrupted.swap.as_ref().unwrap().plan;
    assert_eq!(
        plan.units[0].refresh,
        "REFRESH `sales`.`orders` PARTITION (`dt`='2026-11-24')"
    );
    // The active index of that release still answers for its targets.
    let pending = store.get(2).unwrap();
    assert_eq!(store.active_overlapping(&pending.target).unwrap(), Some(2));
    drop(store);
    let store = Store::open(&path).unwrap();

    // The data the fixture's swap names, switched to the merged copy as its stage says.
    let root = std::path::PathBuf::from("/tmp/smallfiles-store-v1-fixture");
    let _ = std::fs::remove_dir_all(&root);
    let new_dir = root.join("orders/_smallfiles/task-3/dt=2026-11-24");
    std::fs::create_dir_all(&new_dir).unwrap();
    std::fs::write(new_dir.join("000000_0"), "merged").unwrap();
    let s = setup_at(dir, &root, store);
    s.fake.0.lock().unwrap().locations.insert(
        "dt=2026-11-24".into(),
        format!("file:{}", new_dir.display()),
    );
    let task = s.store.get(3).unwrap();
    let recovery = s.engine.recover(&task, &s.store).await;
    let _ = std::fs::remove_dir_all(&root);
    let Recovery::Finished { reason, .. } = recovery else {
        panic!("{recovery:?}")
    };
    assert!(reason.contains("finished"), "{reason}");
}
