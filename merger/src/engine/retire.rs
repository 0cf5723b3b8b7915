//! Replaced directories: recorded for removal when a swap finishes (`db/retired.rs` keeps
//! them), removed once their rollback window has passed — unless the table points at them
//! again (an operator rolled back by hand).

use super::hive::*;
use super::sql::Journal;
use crate::db::retired::RetiredDir;
use crate::db::Store;
use crate::model::{Target, Task};
use crate::validate::LookupError;

impl HiveEngine {
    /// Records a replaced directory for removal after the rollback window.
    pub(super) fn retire(
        &self,
        c: &ClusterEngine,
        task: &Task,
        partition: Option<&str>,
        location: &str,
        journal: &Journal<'_>,
    ) {
        let delete_after = chrono::Utc::now().timestamp() + c.retention.as_secs() as i64;
        let entry = RetiredDir {
            task: task.id,
            target: Target {
                partition: partition.map(str::to_string),
                ..task.target.clone()
            },
            location: location.to_string(),
            delete_after,
        };
        match self.retired.add(&entry) {
            Ok(_) => journal.note(format!(
                "kept the replaced directory {location} until {} (rollback window)",
                chrono::DateTime::from_timestamp(delete_after, 0)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default()
            )),
            Err(e) => journal.note(format!(
                "warning: the replaced directory {location} was not recorded for removal ({e}); remove it by hand"
            )),
        }
    }

    /// Removes replaced directories whose rollback window has passed, unless the table or
    /// partition points at them again (an operator rolled back by hand).
    pub async fn sweep_retired(&self, store: &Store) -> usize {
        if self.hooks.retired_held() {
            return 0;
        }
        let due = match self.retired.due(chrono::Utc::now().timestamp()) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reading retired directories");
                return 0;
            }
        };
        let mut removed = 0;
        for (id, dir) in due {
            let journal = Journal::new(store, dir.task);
            let Some(c) = self.clusters.get(&dir.target.cluster) else {
                continue;
            };
            let current = match self.catalog.resolve(&dir.target).await {
                Ok(r) => r.location().map(str::to_string),
                Err(LookupError::Rejected(_)) => None,
                Err(LookupError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "metastore unavailable; removal of retired directories postponed");
                    continue;
                }
            };
            if current
                .as_deref()
                .is_some_and(|cur| same_location(&c.fs, cur, &dir.location))
            {
                journal.note(format!(
                    "kept {}: the table uses it again (rolled back by hand?)",
                    dir.location
                ));
                let _ = self.retired.remove(id);
                continue;
            }
            match c.fs.delete_recursive(&c.fs.location(&dir.location)).await {
                Ok(_) => {
                    journal.note(format!(
                        "removed the replaced directory {} after the rollback window",
                        dir.location
                    ));
                    let _ = self.retired.remove(id);
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(task = dir.task, location = %dir.location, error = %e, "removing a retired directory failed; will retry")
                }
            }
        }
        removed
    }
}
