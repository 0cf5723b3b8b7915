//! The runtime's decisions that need a service but no cluster.

use super::*;
use crate::model::{SwapProgress, SwapStage, UnitProgress};
use crate::validate::ClusterCatalog;

fn service(dir: &std::path::Path) -> Arc<Service> {
    let settings = Settings::parse(&format!(
        "merger:\n  data_dir: {}\nclusters:\n  - name: prod\n    warehouse: file:///w\n",
        dir.display()
    ))
    .unwrap();
    let store = Store::open(&dir.join("merger.redb")).unwrap();
    let catalog = Arc::new(
        ClusterCatalog::new(
            &settings.clusters,
            &settings.defaults,
            settings.merger.dry_run,
        )
        .unwrap(),
    );
    Service::new(settings, store, catalog).unwrap()
}

/// Recovery reads each listed task again: one that ended after the list was read (and
/// left the running set) is not taken for a crashed one.
#[tokio::test]
async fn recovery_leaves_a_task_that_ended_since_the_list_alone() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    let t = new_task(
        Target {
            cluster: "prod".into(),
            database: "sales".into(),
            table: "orders".into(),
            partition: None,
        },
        Strategy::Auto,
        Strategy::Concatenate,
        true,
        "ops",
    );
    let Created::New(t) = svc.store.create(t, 0, 0).unwrap() else {
        panic!()
    };
    let listed = svc
        .store
        .update(t.id, |t| {
            t.state = TaskState::Running;
            Ok(())
        })
        .unwrap();
    // It ends between the listing and the recovery's walk.
    svc.store
        .update(t.id, |t| {
            t.state = TaskState::Succeeded;
            Ok(())
        })
        .unwrap();
    assert_eq!(svc.settle(&[listed]).await.unwrap(), 0);
    let now = svc.store.get(t.id).unwrap();
    assert_eq!(now.state, TaskState::Succeeded);
    assert!(!now
        .log
        .iter()
        .any(|l| l.message.contains("the merger stopped")));
}

/// A swap that stopped half-way can only be settled by recovery: cancel is refused and the
/// task is left as it was.
#[tokio::test]
async fn an_interrupted_swap_cannot_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    let target = Target {
        cluster: "prod".into(),
        database: "sales".into(),
        table: "orders".into(),
        partition: Some("dt=1".into()),
    };
    let t = new_task(
        target,
        Strategy::InsertOverwrite,
        Strategy::InsertOverwrite,
        false,
        "ops",
    );
    let Created::New(t) = svc.store.create(t, 0, 0).unwrap() else {
        panic!()
    };
    let plan = crate::plan::SwapPlan {
        staging_database: "sales".into(),
        staging_table: "s".into(),
        staging_root: "file:///w/s".into(),
        setup: vec![],
        create_staging: String::new(),
        drop_staging: String::new(),
        units: vec![],
        impala_refresh: false,
    };
    svc.store
        .update(t.id, |t| {
            t.state = TaskState::Interrupted;
            t.swap = Some(SwapProgress {
                plan,
                units: vec![UnitProgress {
                    stage: SwapStage::Switching,
                    source: None,
                    files_before: None,
                    bytes_before: None,
                    files_after: None,
                    bytes_after: None,
                    old_digest: None,
                    new_digest: None,
                }],
            });
            Ok(())
        })
        .unwrap();
    let before = svc.store.get(t.id).unwrap();
    let err = svc.cancel(t.id, "ops").unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert!(err.to_string().contains("recovery settles it"), "{err}");
    assert_eq!(svc.store.get(t.id).unwrap(), before, "nothing changed");
    // A queued task is cancelled at once.
    let other = new_task(
        Target {
            partition: Some("dt=2".into()),
            ..before.target.clone()
        },
        Strategy::Auto,
        Strategy::Concatenate,
        true,
        "ops",
    );
    let Created::New(other) = svc.store.create(other, 0, 0).unwrap() else {
        panic!()
    };
    assert_eq!(
        svc.cancel(other.id, "ops").unwrap().state,
        TaskState::Cancelled
    );
}
