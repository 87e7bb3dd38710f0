//! Replaced Parquet files stay for a grace period, hidden from readers,
//! and a later run deletes them; a compactor killed before its commit
//! leaves the hour as it was.

use std::time::Duration;

use futures::TryStreamExt;
use levee_lake::committed::CommittedView;
use levee_lake::compact::{CompactOptions, HourSelection, compact_table, pending_hours};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::*;

async fn listed(store: &dyn ObjectStore, prefix: &Path) -> Vec<Path> {
    let mut keys: Vec<Path> = store
        .list(Some(prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

fn forced(grace: Duration) -> CompactOptions {
    CompactOptions {
        hours: HourSelection::Only(vec![hour(2)]),
        force: true,
        grace,
        ..CompactOptions::default()
    }
}

/// Hour 2 with 300 rows, compacted: its folder, its file, and the name the
/// next compaction of it will write.
async fn hour_two_compacted(lake: &levee_lake::Lake) -> (Path, Path, Path) {
    put_chunk(lake, &hour(2), 0, 1, &records(0, 300)).await;
    compact(lake, HourSelection::Pending).await;
    (
        table().parquet_partition(&hour(2)),
        table().parquet_part(&hour(2), 0),
        table().parquet_part(&hour(2), 1),
    )
}

#[tokio::test]
async fn a_replaced_file_stays_hidden_for_its_grace_period_then_is_deleted() {
    let (_dir, lake) = lake();
    let (folder, old, new) = hour_two_compacted(&lake).await;

    let report = compact_table(&lake, &table(), &forced(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(report.hours[0].removed_files, std::slice::from_ref(&old));
    // Still there for a query that listed it, but no reader lists it now.
    assert_eq!(
        listed(lake.store.as_ref(), &folder).await,
        [old.clone(), new.clone()]
    );
    let view = CommittedView::new(lake.store.clone());
    assert_eq!(listed(&view, &folder).await, std::slice::from_ref(&new));
    assert_eq!(rows_in_hour(&lake, &hour(2)).await, 300);
    // A file waiting for deletion does not make its hour due again.
    assert!(pending_hours(&lake, &table()).await.unwrap().is_empty());

    // A run within the grace period keeps it; one after it deletes it.
    let early = CompactOptions {
        grace: Duration::from_secs(3600),
        ..select(HourSelection::Pending)
    };
    let report = compact_table(&lake, &table(), &early).await.unwrap();
    assert!(report.purged_files.is_empty());
    let late = CompactOptions {
        grace: Duration::ZERO,
        ..select(HourSelection::Pending)
    };
    let report = compact_table(&lake, &table(), &late).await.unwrap();
    assert_eq!(report.purged_files, [old]);
    assert_eq!(listed(lake.store.as_ref(), &folder).await, [new]);
    assert_eq!(rows_in_hour(&lake, &hour(2)).await, 300);
}

/// A view remembers the manifests it read; one that listed an hour before
/// a compaction replaced it must list the new file after, never the old.
#[tokio::test]
async fn a_view_that_listed_an_hour_sees_its_next_commit() {
    let (_dir, lake) = lake();
    let (folder, old, new) = hour_two_compacted(&lake).await;
    let view = CommittedView::new(lake.store.clone());
    assert_eq!(listed(&view, &folder).await, std::slice::from_ref(&old));
    assert_eq!(listed(&view, &folder).await, std::slice::from_ref(&old));

    compact_table(&lake, &table(), &forced(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(listed(&view, &folder).await, std::slice::from_ref(&new));
}

/// A compaction killed after writing its files but before its manifest:
/// readers still see the old files only, and the next run replaces the
/// leftovers without reusing their names.
#[tokio::test]
async fn files_written_but_not_committed_are_never_read() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(2), 0, 1, &records(0, 300)).await;
    compact(&lake, HourSelection::Pending).await;
    let folder = table().parquet_partition(&hour(2));
    // What the killed run left: a whole new file, never committed.
    let leftover = table().parquet_part(&hour(2), 1);
    let old = table().parquet_part(&hour(2), 0);
    let bytes = lake.store.get(&old).await.unwrap().bytes().await.unwrap();
    lake.store.put(&leftover, bytes.into()).await.unwrap();

    let view = CommittedView::new(lake.store.clone());
    assert_eq!(listed(&view, &folder).await, std::slice::from_ref(&old));
    assert_eq!(rows_in_hour(&lake, &hour(2)).await, 300);

    compact(&lake, HourSelection::Pending).await;
    assert_eq!(
        listed(&view, &folder).await,
        [table().parquet_part(&hour(2), 2)]
    );
    assert_eq!(rows_in_hour(&lake, &hour(2)).await, 300);
}

/// In a table levee compacts, an hour whose compaction never committed
/// shows no Parquet.
#[tokio::test]
async fn an_hour_without_a_manifest_shows_no_parquet() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(2), 0, 1, &records(0, 30)).await;
    compact(&lake, HourSelection::Pending).await;
    let stray = table().parquet_part(&hour(5), 0);
    put(&lake, &stray, b"half a file".to_vec()).await;
    let view = CommittedView::new(lake.store.clone());
    assert_eq!(
        listed(&view, &table().parquet_root()).await,
        [table().parquet_part(&hour(2), 0)]
    );
    let listed = view
        .list_with_delimiter(Some(&table().parquet_partition(&hour(5))))
        .await
        .unwrap();
    assert!(listed.objects.is_empty());
}
