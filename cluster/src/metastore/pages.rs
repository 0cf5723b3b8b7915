//! How a scan reads the partitions of a metastore: in pages by primary-key range when ids are
//! dense, several at once and ahead of the caller; by keyset otherwise. The plans are plain
//! functions over the span of ids, tested without a database.

use super::{Metastore, MetastoreSource, PartitionRecord};
use crate::error::Result;

/// The primary-key span of `PARTITIONS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSpan {
    pub min: i64,
    pub max: i64,
    pub count: u64,
}

/// How a page's storage descriptors are read: by id range when their ids lie close together
/// (the metastore allocates them in sequence as partitions are created), so the server scans
/// one stretch of its primary key instead of probing it once per id; else by id list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SdLookup {
    /// `first <= SD_ID <= last`; rows of other descriptors in between are dropped.
    Range(i64, i64),
    List,
}

/// `ids` sorted and without duplicates. A range is read when it spans at most eight ids per
/// wanted descriptor, which bounds the rows read and dropped.
pub(super) fn sd_lookup(ids: &[i64]) -> SdLookup {
    match (ids.first(), ids.last()) {
        (Some(&first), Some(&last))
            if ids.len() > 1 && (last as i128 - first as i128 + 1) <= 8 * ids.len() as i128 =>
        {
            SdLookup::Range(first, last)
        }
        _ => SdLookup::List,
    }
}

/// Pages read ahead while the caller works on the current one.
const PAGES_AHEAD: usize = 2;

/// The pages of a partition read as id ranges `(after, last]` that can be read at once, each
/// holding about `page` partitions when ids are dense (Hive allocates them in sequence). Ids
/// spread thinner than one in eight leave ranges that are mostly empty or, where they cluster,
/// too full for the memory bound: `None`, and pages are read one after another by keyset.
pub fn page_ranges(span: Option<PartitionSpan>, page: u32) -> Option<Vec<(i64, i64)>> {
    let Some(span) = span else {
        return Some(Vec::new());
    };
    let width = (span.max as i128 - span.min as i128 + 1).max(1);
    let count = span.count.max(1) as i128;
    if width > 8 * count {
        return None;
    }
    // Each range spans the ids of about `page` partitions, never more than 8 × `page`.
    let step = ((page as i128 * width + count - 1) / count).max(1);
    let mut ranges = Vec::new();
    let mut after = span.min as i128 - 1;
    while after < span.max as i128 {
        let last = (after + step).min(span.max as i128);
        ranges.push((after as i64, last as i64));
        after = last;
    }
    Some(ranges)
}

/// Every partition, page by page (see [`page_ranges`]); up to two pages are read ahead on
/// pooled connections while the caller works on the current one.
pub fn partition_pages(
    ms: &Metastore,
    page: u32,
) -> futures::stream::BoxStream<'_, Result<Vec<PartitionRecord>>> {
    use futures::stream::{self, StreamExt};
    stream::once(ms.partition_span())
        .flat_map(move |span| match span.map(|s| page_ranges(s, page)) {
            Err(e) => stream::once(async move { Err(e) }).boxed(),
            Ok(Some(ranges)) => stream::iter(ranges)
                .map(move |(after, last)| ms.partitions_in(after, last))
                .buffered(PAGES_AHEAD)
                .filter(|p| futures::future::ready(!matches!(p, Ok(v) if v.is_empty())))
                .boxed(),
            Ok(None) => keyset_pages(ms, page),
        })
        .boxed()
}

/// [`partition_pages`] read by a task of its own, so that the next pages arrive while the
/// caller works on the current one (a stream is only read while it is polled); at most
/// [`PAGES_AHEAD`] pages wait. Dropping the receiver stops the reading.
pub fn partition_pages_ahead(
    ms: std::sync::Arc<Metastore>,
    page: u32,
) -> tokio::sync::mpsc::Receiver<Result<Vec<PartitionRecord>>> {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    tokio::spawn(async move {
        let mut pages = partition_pages(&ms, page);
        while let Some(p) = pages.next().await {
            let failed = p.is_err();
            if tx.send(p).await.is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Every partition in pages of `page` read one after another, each starting after the last id
/// of the one before.
pub fn keyset_pages(
    ms: &Metastore,
    page: u32,
) -> futures::stream::BoxStream<'_, Result<Vec<PartitionRecord>>> {
    use futures::stream::{self, StreamExt};
    stream::unfold(Some(0i64), move |after| async move {
        let after = after?;
        match ms.partitions_after(after, page).await {
            Ok(parts) if parts.is_empty() => None,
            Ok(parts) => {
                let full = parts.len() as u32 >= page;
                let next = parts.last().map(|p| p.id).filter(|_| full);
                Some((Ok(parts), next))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_split_into_ranges_of_about_a_page() {
        let span = |min, max, count| Some(PartitionSpan { min, max, count });
        assert_eq!(page_ranges(None, 100), Some(vec![]));
        assert_eq!(
            page_ranges(span(1, 250, 250), 100),
            Some(vec![(0, 100), (100, 200), (200, 250)])
        );
        // Half the ids used (dropped partitions): ranges twice as wide, a page each.
        assert_eq!(
            page_ranges(span(1, 400, 200), 100),
            Some(vec![(0, 200), (200, 400)])
        );
        assert_eq!(page_ranges(span(7, 7, 1), 100), Some(vec![(6, 7)]));
        // One id in ten used: read by keyset, one page after another.
        assert_eq!(page_ranges(span(1, 10_000, 1_000), 100), None);
        assert!(page_ranges(span(1, 8_000, 1_000), 100).is_some());
        // Ranges cover every id exactly once.
        let r = page_ranges(span(-5, 1_000_003, 999_000), 50_000).unwrap();
        assert_eq!(r.first().unwrap().0, -6);
        assert_eq!(r.last().unwrap().1, 1_000_003);
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
    }

    #[test]
    fn storage_descriptors_close_together_are_read_as_a_range() {
        assert_eq!(sd_lookup(&[]), SdLookup::List);
        assert_eq!(sd_lookup(&[5]), SdLookup::List);
        assert_eq!(sd_lookup(&[10, 12, 17]), SdLookup::Range(10, 17));
        assert_eq!(sd_lookup(&[10, 12, 34]), SdLookup::List, "25 ids for 3");
        assert_eq!(sd_lookup(&[1, 16]), SdLookup::Range(1, 16));
        assert_eq!(sd_lookup(&[1, 17]), SdLookup::List);
    }

    /// For any dense enough id span and page size: the ranges cover every id once, in order,
    /// and none spans more ids than eight pages' worth.
    mod page_properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn ranges_cover_the_span_once(min in -1_000_000i64..1_000_000, count in 1u64..200_000, spread in 1u64..=8, page in 100u32..60_000) {
                let max = min + (count * spread) as i64 - 1;
                let ranges = page_ranges(Some(PartitionSpan { min, max, count }), page).unwrap();
                prop_assert_eq!(ranges.first().unwrap().0, min - 1);
                prop_assert_eq!(ranges.last().unwrap().1, max);
                prop_assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0));
                prop_assert!(ranges.iter().all(|(a, b)| a < b && (b - a) as u64 <= 8 * page as u64));
                prop_assert!(ranges.len() as u64 <= count.div_ceil(page as u64) + 1);
            }
        }
    }
}
