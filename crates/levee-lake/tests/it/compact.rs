//! Compaction's main promises: every row once, idempotent, late chunks picked up.

use levee_lake::compact::{
    ChangeKind, CompactOptions, CompactReason, HourSelection, SkipReason, compact_table,
    pending_hours,
};
use object_store::ObjectStoreExt;
use parquet::basic::Compression;

use crate::support::*;

#[tokio::test]
async fn every_input_row_is_written_once() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(13), 7, 1, &records(0, 600)).await;
    put_chunk(&lake, &hour(13), 8, 2, &records(600, 400)).await;
    put_chunk(&lake, &hour(14), 0, 1, &records(1000, 250)).await;

    let report = compact(&lake, HourSelection::Pending).await;

    assert_eq!(report.hours.len(), 2);
    let h13 = &report.hours[0];
    assert_eq!(
        (h13.partition.clone(), h13.reason.clone()),
        (hour(13), CompactReason::New)
    );
    assert_eq!(
        (h13.input_chunks, h13.input_rows, h13.rows_written),
        (2, 1000, 1000)
    );
    assert!(h13.input_bytes > 0 && h13.decoded_bytes > h13.input_bytes);
    assert_eq!(h13.output_files.len(), 1);
    assert_eq!(h13.output_bytes, h13.output_files[0].bytes);
    assert_eq!(report.hours[1].rows_written, 250);
    assert_eq!(report.rows_written(), 1250);
    assert_eq!(report.bad_lines(), 0);

    let files = read_hour(&lake, &hour(13)).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].key, table().parquet_part(&hour(13), 0));
    assert_eq!(files[0].rows(), 1000);
    // The writer's byte count is the stored object's size.
    let stored = lake.store.head(&files[0].key).await.unwrap().size;
    assert_eq!(stored, h13.output_files[0].bytes);
    assert_eq!(rows_in_hour(&lake, &hour(14)).await, 250);

    // Every id once, in chunk order.
    assert_eq!(
        ids(&hour_batch(&lake, &hour(13)).await),
        (0..1000).collect::<Vec<i64>>()
    );

    // The partition columns live in the path only.
    let names: Vec<&str> = files[0]
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["id", "method", "status", "bytes", "path"]);
}

#[tokio::test]
async fn files_are_zstd_with_statistics_and_page_index() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(1), 0, 1, &records(0, 100)).await;
    compact(&lake, HourSelection::All).await;
    let files = read_hour(&lake, &hour(1)).await;
    let meta = &files[0].metadata;
    let column = meta.row_group(0).column(0);
    assert!(matches!(column.compression(), Compression::ZSTD(_)));
    let stats = column.statistics().expect("statistics written");
    assert_eq!(stats.null_count_opt(), Some(0));
    assert!(meta.column_index().is_some(), "no column index");
    assert!(meta.offset_index().is_some(), "no offset index");
}

#[tokio::test]
async fn rerun_does_not_duplicate_and_force_replaces() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(2), 0, 1, &records(0, 300)).await;
    compact(&lake, HourSelection::Pending).await;

    let again = compact(&lake, HourSelection::All).await;
    assert!(again.hours.is_empty(), "{again:?}");
    assert_eq!(again.skipped.len(), 1);
    assert_eq!(again.skipped[0].reason, SkipReason::UpToDate);
    assert!(pending_hours(&lake, &table()).await.unwrap().is_empty());
    assert_eq!(rows_in_hour(&lake, &hour(2)).await, 300);

    let opts = CompactOptions {
        hours: HourSelection::Only(vec![hour(2)]),
        force: true,
        ..CompactOptions::default()
    };
    let forced = compact_table(&lake, &table(), &opts).await.unwrap();
    assert_eq!(forced.hours.len(), 1);
    assert_eq!(forced.hours[0].reason, CompactReason::Forced);
    assert_eq!(
        forced.hours[0].removed_files,
        [table().parquet_part(&hour(2), 0)]
    );
    let files = read_hour(&lake, &hour(2)).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].key, table().parquet_part(&hour(2), 1));
    assert_eq!(files[0].rows(), 300);
}

#[tokio::test]
async fn late_chunk_makes_its_hour_pending_and_is_included() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(5), 10, 1, &records(0, 100)).await;
    put_chunk(&lake, &hour(6), 10, 1, &records(100, 100)).await;
    compact(&lake, HourSelection::Pending).await;

    // An event of 05:59 arrives at 07:00.
    put_chunk(&lake, &hour(5), 59, 2, &records(200, 30)).await;
    assert_eq!(
        pending_hours(&lake, &table()).await.unwrap(),
        [(hour(5), CompactReason::ChunksChanged { new: 1 })]
    );
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(report.hours.len(), 1);
    assert_eq!(report.hours[0].partition, hour(5));
    assert_eq!(report.hours[0].input_rows, 130);
    assert_eq!(rows_in_hour(&lake, &hour(5)).await, 130);
    assert_eq!(
        read_hour(&lake, &hour(5)).await.len(),
        1,
        "old file left behind"
    );
    assert_eq!(rows_in_hour(&lake, &hour(6)).await, 100);
}

#[tokio::test]
async fn large_hours_are_split_into_files_and_row_groups() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(3), 0, 1, &records(0, 250)).await;
    let opts = CompactOptions {
        hours: HourSelection::All,
        max_file_rows: 100,
        row_group_rows: 40,
        batch_rows: 64,
        ..CompactOptions::default()
    };
    let report = compact_table(&lake, &table(), &opts).await.unwrap();
    let rows: Vec<u64> = report.hours[0]
        .output_files
        .iter()
        .map(|f| f.rows)
        .collect();
    assert_eq!(rows, [100, 100, 50]);
    let files = read_hour(&lake, &hour(3)).await;
    assert_eq!(
        files.iter().map(|f| f.rows()).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    assert_eq!(files[0].metadata.num_row_groups(), 3);
    // Every file has the same schema.
    assert!(files.iter().all(|f| f.schema == files[0].schema));
}

#[tokio::test]
async fn interrupted_run_leftovers_are_replaced() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(4), 0, 1, &records(0, 50)).await;
    compact(&lake, HourSelection::Pending).await;
    // A crashed run wrote a file but never its manifest.
    let stray = table().parquet_part(&hour(4), 7);
    put(&lake, &stray, b"half a file".to_vec()).await;

    assert_eq!(
        pending_hours(&lake, &table()).await.unwrap(),
        [(hour(4), CompactReason::OutputsChanged)]
    );
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(
        report.hours[0].output_files[0].path,
        table().parquet_part(&hour(4), 8)
    );
    assert!(report.hours[0].removed_files.contains(&stray));
    let files = read_hour(&lake, &hour(4)).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].rows(), 50);
}

#[tokio::test]
async fn expired_chunks_keep_their_parquet() {
    let (_dir, lake) = lake();
    let first = put_chunk(&lake, &hour(8), 0, 1, &records(0, 40)).await;
    put_chunk(&lake, &hour(8), 1, 2, &records(40, 40)).await;
    compact(&lake, HourSelection::Pending).await;

    lake.store.delete(&first).await.unwrap();
    let report = compact(&lake, HourSelection::All).await;
    assert!(report.hours.is_empty());
    assert_eq!(
        report.skipped[0].reason,
        SkipReason::ChunksMissing { missing: 1 }
    );
    assert_eq!(rows_in_hour(&lake, &hour(8)).await, 80);

    // Without any chunk, even force leaves the hour alone.
    let rest = lake.list_chunks(&table(), &hour(8)).await.unwrap();
    for c in rest {
        lake.store.delete(&c.key).await.unwrap();
    }
    let opts = CompactOptions {
        hours: HourSelection::Only(vec![hour(8)]),
        force: true,
        ..CompactOptions::default()
    };
    let report = compact_table(&lake, &table(), &opts).await.unwrap();
    assert_eq!(report.skipped[0].reason, SkipReason::NoChunks);
    assert_eq!(rows_in_hour(&lake, &hour(8)).await, 80);
}

#[tokio::test]
async fn chunks_of_other_compressions_are_read() {
    let (_dir, lake) = lake();
    put_gzip_chunk(&lake, &hour(9), 0, 1, &records(0, 10)).await;
    put_plain_chunk(&lake, &hour(9), 0, 2, &records(10, 10)).await;
    put_chunk(&lake, &hour(9), 0, 3, &records(20, 10)).await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(report.hours[0].input_chunks, 3);
    assert_eq!(rows_in_hour(&lake, &hour(9)).await, 30);
}

#[tokio::test]
async fn empty_lake_compacts_to_nothing_on_any_runtime() {
    // Send, so a scheduler can spawn it on a multi-threaded runtime.
    fn assert_send<T: Send>(_: &T) {}
    let (_dir, lake) = lake();
    let opts = CompactOptions::default();
    let table = table();
    let future = compact_table(&lake, &table, &opts);
    assert_send(&future);
    let report = future.await.unwrap();
    assert!(
        report.hours.is_empty() && report.skipped.is_empty(),
        "{report:?}"
    );
}

/// The memory budget: chunks that do not fit in it between an hour's two
/// reads are fetched again for the second, and the hour comes out the same.
#[tokio::test]
async fn chunks_past_the_memory_budget_are_fetched_again_with_the_same_rows() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(13), 1, 1, &records(0, 300)).await;
    put_chunk(&lake, &hour(13), 2, 2, &records(300, 300)).await;
    put_chunk(&lake, &hour(13), 3, 3, &records(600, 300)).await;
    put_chunk(&lake, &hour(14), 0, 1, &records(900, 100)).await;
    let run = |keep_chunks_bytes| CompactOptions {
        hours: HourSelection::All,
        force: true,
        keep_chunks_bytes,
        ..CompactOptions::default()
    };

    // Nothing fits: every chunk is read from the store twice.
    let report = compact_table(&lake, &table(), &run(0)).await.unwrap();
    let reread: Vec<(usize, usize)> = report
        .hours
        .iter()
        .map(|h| (h.input_chunks, h.reread_chunks))
        .collect();
    assert_eq!(reread, [(3, 3), (1, 1)]);
    assert_eq!(report.rows_written(), 1000);
    assert_eq!(
        ids(&hour_batch(&lake, &hour(13)).await),
        (0..900).collect::<Vec<i64>>()
    );
    assert_eq!(rows_in_hour(&lake, &hour(14)).await, 100);

    // The default keeps these few: read once, same rows.
    let report = compact_table(&lake, &table(), &run(128 << 20))
        .await
        .unwrap();
    assert!(
        report.hours.iter().all(|h| h.reread_chunks == 0),
        "{report:?}"
    );
    assert_eq!(
        ids(&hour_batch(&lake, &hour(13)).await),
        (0..900).collect::<Vec<i64>>()
    );

    // Room for one chunk: it is kept, the next let go, and so on.
    let one = lake
        .list_chunks(&table(), &hour(13))
        .await
        .unwrap()
        .iter()
        .map(|c| c.size)
        .max()
        .unwrap();
    let report = compact_table(&lake, &table(), &run(one)).await.unwrap();
    let h13 = &report.hours[0];
    assert!(
        (1..3).contains(&h13.reread_chunks),
        "some kept, some fetched again: {h13:?}"
    );
    assert_eq!(
        ids(&hour_batch(&lake, &hour(13)).await),
        (0..900).collect::<Vec<i64>>()
    );
}

/// Hours compacted at once, on a multi-threaded runtime, give what one at a
/// time gives: every row once, and a type one hour widens is widened in
/// the files of the hours compacted beside it by the end of the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hours_compacted_at_once_end_as_one_at_a_time() {
    let fill = async |lake: &levee_lake::Lake| {
        for h in 0..8 {
            let start = h as usize * 200;
            put_chunk(lake, &hour(h), 0, 1, &records(start, 150)).await;
            put_chunk(lake, &hour(h), 1, 2, &records(start + 150, 50)).await;
        }
        // Hour 5's `bytes` are floats: the column widens, for every hour.
        let floats: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"id":{},"bytes":{i}.5}}"#, 5000 + i))
            .collect();
        put_chunk(lake, &hour(5), 2, 3, &floats).await;
    };
    let mut reports = Vec::new();
    for hours_at_once in [1, 4] {
        let (_dir, lake) = lake();
        fill(&lake).await;
        let opts = CompactOptions {
            hours_at_once,
            ..CompactOptions::default()
        };
        let report = compact_table(&lake, &table(), &opts).await.unwrap();
        let mut rows = Vec::new();
        for h in 0..8 {
            let files = read_hour(&lake, &hour(h)).await;
            let types: Vec<String> = files
                .iter()
                .map(|f| {
                    f.schema
                        .field_with_name("bytes")
                        .unwrap()
                        .data_type()
                        .to_string()
                })
                .collect();
            rows.push((rows_in_hour(&lake, &hour(h)).await, types));
        }
        let pending = pending_hours(&lake, &table()).await.unwrap();
        assert!(
            pending.is_empty(),
            "{hours_at_once}: {pending:?} {:?}",
            report
                .hours
                .iter()
                .map(|h| (h.partition.clone(), h.reason.clone()))
                .collect::<Vec<_>>()
        );
        let first: Vec<_> = report
            .hours
            .iter()
            .take(8)
            .map(|h| h.partition.clone())
            .collect();
        assert_eq!(first, (0..8).map(hour).collect::<Vec<_>>(), "in hour order");
        reports.push((rows, report.rows_written() >= 1610));
    }
    assert_eq!(reports[0], reports[1]);
    let (rows, _) = &reports[1];
    assert_eq!(rows[5].0, 210);
    assert!(
        rows.iter().all(|(_, types)| types == &["Float64"]),
        "{rows:?}"
    );
}

/// Hours compacted at once join their schemas to the table's in hour
/// order, however fast each reads: hour 1, one line, is read long before
/// hour 0, yet hour 0's column comes first, as it does one hour at a
/// time. So the columns, and the files (byte for byte), are the ones one
/// hour at a time writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hours_compacted_at_once_join_their_columns_in_hour_order() {
    let fill = async |lake: &levee_lake::Lake| {
        for m in 0..40 {
            let lines: Vec<String> = (0..500)
                .map(|i| format!(r#"{{"id":{},"a":"{}"}}"#, m * 500 + i, "x".repeat(40)))
                .collect();
            put_chunk(lake, &hour(0), m, u64::from(m), &lines).await;
        }
        put_chunk(lake, &hour(1), 0, 1, &[r#"{"id":1,"b":"y"}"#.to_owned()]).await;
    };
    let mut files = Vec::new();
    for hours_at_once in [1, 2] {
        let (_dir, lake) = lake();
        fill(&lake).await;
        let opts = CompactOptions {
            hours_at_once,
            ..CompactOptions::default()
        };
        compact_table(&lake, &table(), &opts).await.unwrap();
        let mut bytes = Vec::new();
        for h in 0..2 {
            for file in read_hour(&lake, &hour(h)).await {
                let got = lake.store.get(&file.key).await.unwrap().bytes().await;
                bytes.push(got.unwrap());
            }
        }
        files.push(bytes);
    }
    assert_eq!(files[0].len(), 2);
    assert!(
        files[0] == files[1],
        "one hour at a time and two at once differ"
    );
    let (_dir, lake) = lake();
    fill(&lake).await;
    let opts = CompactOptions {
        hours_at_once: 2,
        ..CompactOptions::default()
    };
    compact_table(&lake, &table(), &opts).await.unwrap();
    let columns = |file: &ReadFile| -> Vec<String> {
        file.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    assert_eq!(columns(&read_hour(&lake, &hour(0)).await[0]), ["id", "a"]);
    assert_eq!(
        columns(&read_hour(&lake, &hour(1)).await[0]),
        ["id", "a", "b"]
    );
}

/// A unit whose text is larger than a segment of the one read is still read
/// once, segment by segment, each written before the next is read: its
/// text need not fit the budget at once (it used to go to the two reads,
/// fetching the chunks the budget let go again), and its rows end in one
/// file.
#[tokio::test]
async fn a_unit_larger_than_a_segment_is_read_once_into_one_file() {
    let chunks = [records(0, 300), records(300, 300), records(600, 300)];
    let text = |lines: &[String]| lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>();
    let largest = chunks.iter().map(|c| text(c)).max().unwrap();
    // Room for one chunk's text at a time: with segments of a line, each
    // is written as it is read; with segments larger than the unit, the
    // segment so far is written when the next chunk's text needs its room.
    for segment_bytes in [1, 1 << 20] {
        let (_dir, lake) = lake();
        for (i, lines) in chunks.iter().enumerate() {
            put_chunk(&lake, &hour(13), i as u32, i as u64 + 1, lines).await;
        }
        let opts = CompactOptions {
            hours: HourSelection::All,
            keep_chunks_bytes: largest,
            segment_bytes,
            ..CompactOptions::default()
        };
        let report = compact_table(&lake, &table(), &opts).await.unwrap();
        let h = &report.hours[0];
        assert_eq!(
            (h.input_chunks, h.reread_chunks, h.rows_written, h.read_once),
            (3, 0, 900, true),
            "segments of {segment_bytes}: {h:?}"
        );
        let files = read_hour(&lake, &hour(13)).await;
        assert_eq!(files.len(), 1);
        assert_eq!(
            ids(&hour_batch(&lake, &hour(13)).await),
            (0..900).collect::<Vec<i64>>()
        );
    }
}

/// Hour 13 of a fresh lake, of `chunks` (one per minute), compacted in
/// segments of `segment_bytes` of text.
async fn compact_in_segments(
    chunks: &[Vec<String>],
    segment_bytes: u64,
) -> (
    tempfile::TempDir,
    levee_lake::Lake,
    levee_lake::compact::CompactReport,
) {
    let (dir, lake) = lake();
    for (i, lines) in chunks.iter().enumerate() {
        put_chunk(&lake, &hour(13), i as u32, i as u64 + 1, lines).await;
    }
    let opts = CompactOptions {
        hours: HourSelection::All,
        segment_bytes,
        ..CompactOptions::default()
    };
    let report = compact_table(&lake, &table(), &opts).await.unwrap();
    (dir, lake, report)
}

/// A chunk larger than a segment is cut between its lines, so that a
/// segment's columns stay within their size whatever the chunks' (the
/// lake output's are up to 64 MiB). Seen here by a new column late in the
/// chunk: in a later segment, it sends the unit to the two reads, which
/// give the rows and types of the chunk read whole.
#[tokio::test]
async fn a_chunk_larger_than_a_segment_is_cut_between_lines() {
    let mut lines = records(0, 200);
    lines.extend(
        records(200, 100)
            .iter()
            .map(|l| l.replacen('{', r#"{"region":"eu","#, 1)),
    );
    let chunks = [lines];
    let (_whole_dir, whole_lake, whole) = compact_in_segments(&chunks, 1 << 20).await;
    let text: u64 = chunks[0].iter().map(|l| l.len() as u64 + 1).sum();
    let (_dir, lake, cut) = compact_in_segments(&chunks, text / 3).await;
    let rows_once =
        |r: &levee_lake::compact::CompactReport| (r.rows_written(), r.hours[0].read_once);
    assert_eq!(rows_once(&whole), (300, true));
    assert_eq!(rows_once(&cut), (300, false));
    assert_eq!(
        hour_batch(&lake, &hour(13)).await,
        hour_batch(&whole_lake, &hour(13)).await
    );
}

/// A later segment that needs more than the schema the first one gave the
/// unit's files (a new column, integers that become floats) sends the unit
/// to the two reads: the same rows and types as a unit read whole, the
/// changes reported, and no file of the abandoned read left behind.
#[tokio::test]
async fn a_later_segment_that_widens_the_schema_sends_its_unit_to_two_reads() {
    let with_region: Vec<String> = records(100, 100)
        .iter()
        .map(|l| l.replacen('{', r#"{"region":"eu","#, 1))
        .collect();
    let floats: Vec<String> = (200..300)
        .map(|i| format!(r#"{{"id":{i},"bytes":{i}.5}}"#))
        .collect();
    let chunks = [records(0, 100), with_region, floats];
    let (_whole_dir, whole_lake, whole) = compact_in_segments(&chunks, 1 << 20).await;
    let (_dir, lake, report) = compact_in_segments(&chunks, 1).await;
    assert_eq!((report.rows_written(), whole.rows_written()), (300, 300));
    assert_eq!(
        hour_batch(&lake, &hour(13)).await,
        hour_batch(&whole_lake, &hour(13)).await
    );
    let batch = hour_batch(&lake, &hour(13)).await;
    assert_eq!(
        batch.column_by_name("bytes").unwrap().data_type(),
        &arrow::datatypes::DataType::Float64
    );
    assert_eq!(batch.column_by_name("region").unwrap().null_count(), 200);
    let changed = |report: &levee_lake::compact::CompactReport, column: &str| {
        report.schema_changes.iter().any(|c| c.column == column)
    };
    assert!(changed(&report, "region") && changed(&report, "bytes"));
    assert!(
        report.schema_changes.iter().any(|c| c.column == "bytes"
            && matches!(&c.change, ChangeKind::Widened { to, .. } if to == "double")),
        "{:?}",
        report.schema_changes
    );
    // Only the committed files are in the hour's folder.
    let committed: Vec<_> = read_hour(&lake, &hour(13))
        .await
        .into_iter()
        .map(|f| f.key)
        .collect();
    let stored = stored_parquet(&lake, &hour(13)).await;
    assert_eq!(stored, committed);
}
