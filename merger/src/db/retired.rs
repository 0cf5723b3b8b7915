//! Directories a merge replaced, kept for the rollback window (`merge.rollback_retention`) and
//! then removed by the merger. Stored in the task database so that a restart forgets none.

use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{store_err, Result};
use crate::model::Target;

const RETIRED: TableDefinition<u64, &[u8]> = TableDefinition::new("retired_dirs");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetiredDir {
    pub task: u64,
    /// The table or partition that used the directory (checked again before removal).
    pub target: Target,
    pub location: String,
    /// Unix seconds.
    pub delete_after: i64,
}

pub struct Retired {
    db: Arc<Database>,
}

impl Retired {
    pub fn new(db: Arc<Database>) -> Result<Retired> {
        let tx = db.begin_write().map_err(store_err)?;
        tx.open_table(RETIRED).map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        Ok(Retired { db })
    }

    pub fn add(&self, dir: &RetiredDir) -> Result<u64> {
        let tx = self.db.begin_write().map_err(store_err)?;
        let id = {
            let mut t = tx.open_table(RETIRED).map_err(store_err)?;
            let next = t
                .last()
                .map_err(store_err)?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(1);
            let bytes = serde_json::to_vec(dir).map_err(store_err)?;
            t.insert(next, bytes.as_slice()).map_err(store_err)?;
            next
        };
        tx.commit().map_err(store_err)?;
        Ok(id)
    }

    pub fn all(&self) -> Result<Vec<(u64, RetiredDir)>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(RETIRED).map_err(store_err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(store_err)? {
            let (k, v) = row.map_err(store_err)?;
            out.push((
                k.value(),
                serde_json::from_slice(v.value()).map_err(store_err)?,
            ));
        }
        Ok(out)
    }

    /// Entries whose window has passed.
    pub fn due(&self, now_unix: i64) -> Result<Vec<(u64, RetiredDir)>> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|(_, d)| d.delete_after <= now_unix)
            .collect())
    }

    pub fn remove(&self, id: u64) -> Result<()> {
        let tx = self.db.begin_write().map_err(store_err)?;
        tx.open_table(RETIRED)
            .map_err(store_err)?
            .remove(id)
            .map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_fall_due_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let target = Target {
            cluster: "c".into(),
            database: "d".into(),
            table: "t".into(),
            partition: Some("dt=1".into()),
        };
        {
            let r = Retired::new(Arc::new(Database::create(&path).unwrap())).unwrap();
            for (i, after) in [(1, 100), (2, 200)] {
                r.add(&RetiredDir {
                    task: i,
                    target: target.clone(),
                    location: format!("/w/t/dt={i}"),
                    delete_after: after,
                })
                .unwrap();
            }
        }
        let r = Retired::new(Arc::new(Database::create(&path).unwrap())).unwrap();
        assert_eq!(r.all().unwrap().len(), 2);
        let due = r.due(150).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.location, "/w/t/dt=1");
        r.remove(due[0].0).unwrap();
        assert!(r.due(150).unwrap().is_empty());
        assert_eq!(r.due(200).unwrap().len(), 1);
        // Ids are not reused after a removal.
        let id = r
            .add(&RetiredDir {
                task: 3,
                target,
                location: "/w/t/dt=3".into(),
                delete_after: 0,
            })
            .unwrap();
        assert_eq!(id, 3);
    }
}
