//! Where the incremental scan gets a directory's modification time without a request of its
//! own: from the listing of its parent. One listing of a table directory gives the time of
//! every partition directory under it, one listing of a database directory the time of every
//! table directory in it. A directory whose parent is not worth listing (it would serve that
//! directory alone) is asked for with a status call, as is one whose parent could not be listed.
//!
//! The decisions here are plain functions over locations; `scan.rs` makes the requests.

use std::collections::HashMap;

use smallfiles_cluster::hdfs::{FileStatus, Location};

/// What the scan knows of a unit's directory before it lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirTime {
    /// Its modification time, from a listing already made (milliseconds since the epoch).
    Listed(i64),
    /// Its parent was listed and it is not there: registered, absent on disk.
    Absent,
    /// Unknown: a status call asks.
    Ask,
}

/// The parent directory of a location, or `None` for a root or a location not listed.
pub fn parent_of(location: &Location) -> Option<(Location, &str)> {
    let (path, wrap): (&str, fn(String) -> Location) = match location {
        Location::Hdfs(p) => (p, Location::Hdfs),
        Location::Local(p) => (p, Location::Local),
        Location::Unsupported(_) => return None,
    };
    let (dir, name) = path.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    let dir = if dir.is_empty() { "/" } else { dir };
    Some((wrap(dir.to_string()), name))
}

fn key(location: &Location) -> Option<&str> {
    match location {
        Location::Hdfs(p) | Location::Local(p) => Some(p),
        Location::Unsupported(_) => None,
    }
}

/// The parent listings of one scan: child name → modification time, or `None` where the
/// listing failed (its children are asked for one by one). Kept for the whole scan, because
/// the partitions of one table arrive over several metastore pages.
#[derive(Default)]
pub struct DirTimes {
    parents: HashMap<(u8, String), Option<HashMap<String, i64>>>,
}

fn scheme_tag(location: &Location) -> u8 {
    match location {
        Location::Hdfs(_) => 0,
        Location::Local(_) => 1,
        Location::Unsupported(_) => 2,
    }
}

impl DirTimes {
    /// The parents to list before counting `units` (the directories whose time is not known
    /// yet): those not listed already that hold at least two of them. Listing a parent for
    /// one directory would cost at least the status call it saves.
    pub fn to_list<'a>(&self, units: impl IntoIterator<Item = &'a Location>) -> Vec<Location> {
        let mut wanted: HashMap<(u8, String), (Location, usize)> = HashMap::new();
        for unit in units {
            let Some((parent, _)) = parent_of(unit) else {
                continue;
            };
            let Some(path) = key(&parent) else { continue };
            let k = (scheme_tag(&parent), path.to_string());
            if self.parents.contains_key(&k) {
                continue;
            }
            wanted.entry(k).or_insert((parent, 0)).1 += 1;
        }
        let mut out: Vec<Location> = wanted
            .into_values()
            .filter(|(_, n)| *n >= 2)
            .map(|(p, _)| p)
            .collect();
        out.sort_by(|a, b| key(a).cmp(&key(b)));
        out
    }

    /// Records a parent's listing; `None` when it could not be listed.
    pub fn record(&mut self, parent: &Location, listing: Option<&[FileStatus]>) {
        let Some(path) = key(parent) else { return };
        let children = listing.map(|l| {
            l.iter()
                .filter(|e| !e.name.is_empty())
                .map(|e| (e.name.clone(), e.modification_time))
                .collect()
        });
        self.parents
            .insert((scheme_tag(parent), path.to_string()), children);
    }

    /// A parent that does not exist: none of its children does.
    pub fn record_missing(&mut self, parent: &Location) {
        self.record(parent, Some(&[]));
    }

    /// What the parent listings say of `unit`.
    pub fn time_of(&self, unit: &Location) -> DirTime {
        let Some((parent, name)) = parent_of(unit) else {
            return DirTime::Ask;
        };
        let Some(path) = key(&parent) else {
            return DirTime::Ask;
        };
        match self.parents.get(&(scheme_tag(&parent), path.to_string())) {
            Some(Some(children)) => match children.get(name) {
                Some(&mtime) => DirTime::Listed(mtime),
                None => DirTime::Absent,
            },
            Some(None) | None => DirTime::Ask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallfiles_cluster::hdfs::FileKind;

    fn dir(name: &str, mtime: i64) -> FileStatus {
        FileStatus {
            name: name.into(),
            kind: FileKind::Directory,
            length: 0,
            modification_time: mtime,
            owner: String::new(),
        }
    }

    fn hdfs(p: &str) -> Location {
        Location::Hdfs(p.into())
    }

    #[test]
    fn parents() {
        assert_eq!(parent_of(&hdfs("/w/t/dt=1")), Some((hdfs("/w/t"), "dt=1")));
        assert_eq!(parent_of(&hdfs("/t")), Some((hdfs("/"), "t")));
        assert_eq!(parent_of(&hdfs("/")), None);
        assert_eq!(parent_of(&Location::Unsupported("s3a".into())), None);
        assert_eq!(
            parent_of(&Location::Local("/data/w/t".into())),
            Some((Location::Local("/data/w".into()), "t"))
        );
    }

    /// A table's partitions share one listing; a partition stored elsewhere alone, and a
    /// directory whose parent is already known, are not listed again.
    #[test]
    fn lists_a_parent_shared_by_two_or_more() {
        let units = [
            hdfs("/w/t/dt=1"),
            hdfs("/w/t/dt=2"),
            hdfs("/w/t/dt=3"),
            hdfs("/elsewhere/dt=4"),
            hdfs("/w/u/a=1/b=1"),
            hdfs("/w/u/a=1/b=2"),
            Location::Local("/w/t/dt=1".into()),
            Location::Unsupported("s3a".into()),
        ];
        let mut times = DirTimes::default();
        assert_eq!(times.to_list(&units), [hdfs("/w/t"), hdfs("/w/u/a=1")]);
        times.record(&hdfs("/w/t"), Some(&[dir("dt=1", 10), dir("dt=2", 20)]));
        assert_eq!(times.to_list(&units), [hdfs("/w/u/a=1")]);
        assert_eq!(times.time_of(&hdfs("/w/t/dt=1")), DirTime::Listed(10));
        assert_eq!(times.time_of(&hdfs("/w/t/dt=3")), DirTime::Absent);
        assert_eq!(
            times.time_of(&Location::Local("/w/t/dt=1".into())),
            DirTime::Ask,
            "the same path in another file system is another directory"
        );
        assert_eq!(times.time_of(&hdfs("/elsewhere/dt=4")), DirTime::Ask);
        times.record(&hdfs("/w/u/a=1"), None);
        assert_eq!(times.to_list(&units), Vec::<Location>::new());
        assert_eq!(
            times.time_of(&hdfs("/w/u/a=1/b=1")),
            DirTime::Ask,
            "a parent that could not be listed leaves its children to status calls"
        );
        times.record_missing(&hdfs("/gone"));
        assert_eq!(times.time_of(&hdfs("/gone/x")), DirTime::Absent);
    }
}
