use super::*;
use crate::lifecycle::Event;
use crate::model::Strategy;

pub(super) fn target(t: &str) -> Target {
    Target {
        cluster: "prod".into(),
        database: "db".into(),
        table: t.into(),
        partition: None,
    }
}

/// A CONCATENATE task for table `t`, as the tests below create them.
fn concatenate_task(t: &str) -> Task {
    new_task(target(t), Strategy::Auto, Strategy::Concatenate, false, "x")
}

#[test]
fn one_active_task_per_target_and_cooldown_after_success() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("m.redb")).unwrap();
    let Created::New(a) = s.create(concatenate_task("t"), 3600, 1000).unwrap() else {
        panic!()
    };
    assert_eq!(
        s.create(concatenate_task("t"), 3600, 1000).unwrap(),
        Created::Duplicate(a.id)
    );
    let Created::New(b) = s.create(concatenate_task("u"), 3600, 1000).unwrap() else {
        panic!()
    };
    assert_ne!(a.id, b.id);
    s.apply(a.id, Event::Started).unwrap();
    s.apply(
        a.id,
        Event::Succeeded {
            counts: Default::default(),
            seconds: 1.0,
            message: "done".into(),
        },
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(matches!(
        s.create(concatenate_task("t"), 3600, now).unwrap(),
        Created::Cooldown { .. }
    ));
    assert!(matches!(
        s.create(concatenate_task("t"), 3600, now + 3601).unwrap(),
        Created::New(_)
    ));
    s.apply(b.id, Event::Started).unwrap();
    s.apply(
        b.id,
        Event::Failed {
            message: "boom".into(),
            seconds: 1.0,
        },
    )
    .unwrap();
    assert!(
        matches!(
            s.create(concatenate_task("u"), 3600, now).unwrap(),
            Created::New(_)
        ),
        "a failure starts no cooldown"
    );
    drop(s);
    let s = Store::open(&dir.path().join("m.redb")).unwrap();
    assert_eq!(s.count().unwrap(), 4);
    assert_eq!(s.get(a.id).unwrap().state, TaskState::Succeeded);
    assert_eq!(
        s.list(&TaskFilter {
            state: Some(TaskState::Pending),
            ..Default::default()
        })
        .unwrap()
        .len(),
        2
    );
}

#[test]
fn audit_retention_drops_old_entries_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("m.redb")).unwrap();
    let entry = |at: &str| AuditEntry {
        id: 0,
        at: at.into(),
        who: "ops".into(),
        peer: "127.0.0.1:1".into(),
        action: "x".into(),
        outcome: "ok".into(),
        detail: serde_json::Value::Null,
    };
    s.audit(entry("2026-01-01T00:00:00.000Z")).unwrap();
    s.audit(entry("2026-02-01T00:00:00.000Z")).unwrap();
    s.audit(entry("2026-03-01T00:00:00.000Z")).unwrap();
    assert_eq!(s.prune_audit("2026-02-15T00:00:00.000Z").unwrap(), 2);
    let left = s.audit_entries(None, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, "2026-03-01T00:00:00.000Z");
}

#[test]
fn a_batch_of_changes_is_one_commit_and_skips_tasks_that_moved_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(Store::open(&dir.path().join("m.redb")).unwrap());
    let ids: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|t| match s.create(concatenate_task(t), 0, 1000).unwrap() {
            Created::New(task) => task.id,
            other => panic!("{other:?}"),
        })
        .collect();
    // "b" started before the batch: waiting for a window no longer applies to it.
    s.apply(ids[1], Event::Started).unwrap();
    let changed = s
        .group_commit()
        .apply_each_blocking(vec![ids[0], ids[1], ids[2], 999], Event::OutsideWindows)
        .unwrap();
    let changed: Vec<u64> = changed.iter().map(|t| t.id).collect();
    assert_eq!(changed, vec![ids[0], ids[2]]);
    assert_eq!(
        s.ids_in_states(&[TaskState::WaitingWindow]).unwrap(),
        vec![ids[0], ids[2]]
    );
    assert_eq!(
        s.ids_in_states(&[TaskState::Pending]).unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(s.get(ids[1]).unwrap().state, TaskState::Running);
    // The per-cluster index moved with the state.
    let counts = s.cluster_state_counts().unwrap();
    assert_eq!(
        counts.get(&("prod".to_string(), TaskState::WaitingWindow)),
        Some(&2)
    );
    assert_eq!(counts.get(&("prod".to_string(), TaskState::Pending)), None);
}

/// What a crash would leave: a copy of the file as it is on disk now, opened (and repaired)
/// as the merger would after a restart.
fn reopened_copy(path: &Path, dir: &Path) -> Store {
    static COPIES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let copy = dir.join(format!("copy-{n}.redb"));
    std::fs::copy(path, &copy).unwrap();
    Store::open(&copy).unwrap()
}

#[tokio::test]
async fn a_new_task_and_the_audit_entries_queued_before_it_are_on_disk_when_it_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.redb");
    let s = std::sync::Arc::new(Store::open(&path).unwrap());
    let commit = s.group_commit();
    let entry = |action: &str| AuditEntry {
        id: 0,
        at: now_rfc3339(),
        who: "am".into(),
        peer: "127.0.0.1:1".into(),
        action: action.into(),
        outcome: "ok".into(),
        detail: serde_json::Value::Null,
    };
    // An audit entry nobody waits for, then a task a webhook waits for: both go to disk with
    // the task's commit (FIFO), before the answer.
    commit.audit_soon(entry("first")).unwrap();
    let Created::New(task) = commit
        .create(concatenate_task("t"), 0, 1000, None)
        .await
        .unwrap()
    else {
        panic!("a new task")
    };
    let after_crash = reopened_copy(&path, dir.path());
    assert_eq!(after_crash.get(task.id).unwrap().target, task.target);
    let actions = |s: &Store| -> Vec<String> {
        s.audit_entries(None, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    };
    assert_eq!(actions(&after_crash), vec!["first"]);
}
