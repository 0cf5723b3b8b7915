//! Plain decisions over plain data: what counts as a small file, how file sizes fall into the
//! histogram, which format a table is stored in.

use serde::{Deserialize, Serialize};

/// Upper bounds of `smallfiles_file_size_bytes`: 1, 8, 16, 32, 64, 128, 256, 512 MiB and 1 GiB.
pub const SIZE_BUCKETS: [u64; 9] = [
    1 << 20,
    8 << 20,
    16 << 20,
    32 << 20,
    64 << 20,
    128 << 20,
    256 << 20,
    512 << 20,
    1 << 30,
];

/// File counts and sizes of a directory tree, a partition or a table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStats {
    pub files: u64,
    pub small_files: u64,
    pub bytes: u64,
    pub small_files_bytes: u64,
    /// Files per bucket of [`SIZE_BUCKETS`] (not cumulative); the last slot is above 1 GiB.
    pub size_buckets: [u64; SIZE_BUCKETS.len() + 1],
}

impl FileStats {
    /// Counts one data file. A file is small when it is strictly below the threshold; empty
    /// files count as small (they cost a NameNode object all the same).
    pub fn add_file(&mut self, length: u64, threshold: u64) {
        // Sums saturate: a length no file can have must not wrap a table's bytes.
        self.files += 1;
        self.bytes = self.bytes.saturating_add(length);
        if length < threshold {
            self.small_files += 1;
            self.small_files_bytes = self.small_files_bytes.saturating_add(length);
        }
        let slot = SIZE_BUCKETS
            .iter()
            .position(|&b| length <= b)
            .unwrap_or(SIZE_BUCKETS.len());
        self.size_buckets[slot] += 1;
    }

    pub fn merge(&mut self, other: &FileStats) {
        self.files = self.files.saturating_add(other.files);
        self.small_files = self.small_files.saturating_add(other.small_files);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.small_files_bytes = self
            .small_files_bytes
            .saturating_add(other.small_files_bytes);
        for (a, b) in self.size_buckets.iter_mut().zip(other.size_buckets.iter()) {
            *a += b;
        }
    }
}

pub use smallfiles_cluster::metastore::format::{format_of, table_format};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        let mut s = FileStats::default();
        s.add_file(u64::MAX, 10);
        s.add_file(5, 10);
        assert_eq!((s.files, s.small_files, s.bytes), (2, 1, u64::MAX));
        let mut t = s.clone();
        t.merge(&s);
        assert_eq!(t.bytes, u64::MAX);
    }

    #[test]
    fn small_is_strictly_below_threshold() {
        let mut s = FileStats::default();
        let t = 128 << 20;
        s.add_file(0, t);
        s.add_file(t - 1, t);
        s.add_file(t, t);
        s.add_file(2 << 30, t);
        assert_eq!((s.files, s.small_files), (4, 2));
        assert_eq!(s.small_files_bytes, t - 1);
        assert_eq!(s.bytes, t - 1 + t + (2 << 30));
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        let mut s = FileStats::default();
        for len in [0, 1 << 20, (1 << 20) + 1, 128 << 20, 1 << 30, (1 << 30) + 1] {
            s.add_file(len, 1);
        }
        assert_eq!(s.size_buckets, [2, 1, 0, 0, 0, 1, 0, 0, 1, 1]);
        let mut m = s.clone();
        m.merge(&s);
        assert_eq!(m.files, 12);
        assert_eq!(m.size_buckets[0], 4);
    }

    /// Whatever the sizes and the threshold: a file is small exactly when it is strictly below
    /// the threshold, every file lands in the smallest bucket that holds it, and counting two
    /// directories apart then merging equals counting them together.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn sizes() -> impl Strategy<Value = Vec<u64>> {
            proptest::collection::vec(
                prop_oneof![
                    0u64..4096,
                    0u64..(2u64 << 30),
                    Just(128 << 20),
                    any::<u64>()
                ],
                0..40,
            )
        }

        proptest! {
            #[test]
            fn small_means_below_the_threshold(a in sizes(), b in sizes(), threshold in prop_oneof![Just(128u64 << 20), 0u64..(1 << 31)]) {
                let count = |files: &[u64]| {
                    let mut s = FileStats::default();
                    for &f in files {
                        s.add_file(f, threshold);
                    }
                    s
                };
                let all: Vec<u64> = a.iter().chain(&b).copied().collect();
                let whole = count(&all);
                prop_assert_eq!(whole.files, all.len() as u64);
                prop_assert_eq!(whole.small_files, all.iter().filter(|&&f| f < threshold).count() as u64);
                let small_bytes = all.iter().filter(|&&f| f < threshold).fold(0u64, |s, &f| s.saturating_add(f));
                prop_assert_eq!(whole.small_files_bytes, small_bytes);
                prop_assert_eq!(whole.size_buckets.iter().sum::<u64>(), whole.files);
                for &f in &all {
                    let mut one = FileStats::default();
                    one.add_file(f, threshold);
                    let slot = one.size_buckets.iter().position(|&n| n == 1).unwrap();
                    prop_assert!(slot == SIZE_BUCKETS.len() || f <= SIZE_BUCKETS[slot]);
                    prop_assert!(slot == 0 || f > SIZE_BUCKETS[slot - 1]);
                }
                let mut merged = count(&a);
                merged.merge(&count(&b));
                prop_assert_eq!(merged, whole);
            }
        }
    }
}
