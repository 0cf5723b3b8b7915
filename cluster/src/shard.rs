//! Sharding a big estate over several exporter replicas: each replica scans the clusters — or
//! the databases — whose stable hash falls in its shard, so that together they scan every
//! table exactly once. The hash (FNV-1a, 64 bit) depends on names only: a replica's share does
//! not move when it restarts or when another replica is added to the configuration list.

use serde::Deserialize;

/// `exporter.shard` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// This replica's shard, `0 ≤ index < total`.
    pub index: u32,
    pub total: u32,
    #[serde(default)]
    pub by: ShardBy,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardBy {
    /// Whole clusters: each cluster's metastore and NameNodes are read by one replica.
    Cluster,
    /// Databases of every cluster: one big cluster spread over the replicas (each reads the
    /// metastore's table list, and lists only the directories of its databases).
    #[default]
    Database,
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            // A separator no name holds, so ("a", "bc") and ("ab", "c") differ.
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

impl Shard {
    pub fn validate(&self) -> Result<(), String> {
        if self.total == 0 || self.index >= self.total {
            return Err(format!(
                "exporter.shard: index {} must be below total {} (and total at least 1)",
                self.index, self.total
            ));
        }
        Ok(())
    }

    fn owns_key(&self, parts: &[&str]) -> bool {
        fnv1a(parts) % u64::from(self.total.max(1)) == u64::from(self.index)
    }

    /// Whether this replica reads `cluster` at all.
    pub fn owns_cluster(&self, cluster: &str) -> bool {
        match self.by {
            ShardBy::Cluster => self.owns_key(&[cluster]),
            ShardBy::Database => true,
        }
    }

    /// Whether this replica scans the tables of `database` on `cluster` (names compared as
    /// Hive does, case-insensitively).
    pub fn owns_database(&self, cluster: &str, database: &str) -> bool {
        match self.by {
            ShardBy::Cluster => self.owns_key(&[cluster]),
            ShardBy::Database => self.owns_key(&[cluster, &database.to_ascii_lowercase()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shards(total: u32, by: ShardBy) -> Vec<Shard> {
        (0..total).map(|index| Shard { index, total, by }).collect()
    }

    proptest! {
        /// Every (cluster, database) belongs to exactly one shard, whatever the count.
        #[test]
        fn exactly_one_owner(cluster in "[a-z0-9_-]{1,12}", db in "[A-Za-z0-9_]{1,16}", total in 1u32..9) {
            for by in [ShardBy::Cluster, ShardBy::Database] {
                let owners = shards(total, by)
                    .iter()
                    .filter(|s| s.owns_cluster(&cluster) && s.owns_database(&cluster, &db))
                    .count();
                prop_assert_eq!(owners, 1);
            }
        }
    }

    #[test]
    fn stable_spread_and_validation() {
        // The hash is part of the contract: a replica's share must not move between releases.
        // FNV-1a 64 of "prod", computed independently.
        assert_eq!(fnv1a(&["prod"]), 0x8572_9c0e_3537_be14);
        assert_ne!(fnv1a(&["a", "bc"]), fnv1a(&["ab", "c"]));
        let dbs: Vec<String> = (0..1000).map(|i| format!("db_{i}")).collect();
        for s in shards(4, ShardBy::Database) {
            let n = dbs.iter().filter(|d| s.owns_database("prod", d)).count();
            assert!((180..320).contains(&n), "shard {} has {n} of 1000", s.index);
        }
        let s = Shard {
            index: 1,
            total: 2,
            by: ShardBy::Database,
        };
        assert_eq!(
            s.owns_database("prod", "Sales"),
            s.owns_database("prod", "sales")
        );
        assert!(s.validate().is_ok());
        assert!(Shard {
            index: 2,
            total: 2,
            by: ShardBy::Cluster
        }
        .validate()
        .is_err());
        assert!(Shard {
            index: 0,
            total: 0,
            by: ShardBy::Cluster
        }
        .validate()
        .is_err());
    }
}
