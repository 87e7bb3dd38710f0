//! Bad input is reported, never fatal.

use levee_lake::compact::{HourSelection, SkipReason};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::support::*;

#[tokio::test]
async fn corrupt_chunks_and_bad_lines_are_reported() {
    let (_dir, lake) = lake();
    let p = hour(20);
    let t = table();
    put_chunk(&lake, &p, 0, 1, &records(0, 10)).await;
    // Bytes that are not zstd at all.
    let garbage = t.json_chunk(&p, 1, "w1", 2, "ndjson.zst");
    put(
        &lake,
        &garbage,
        b"\x28\xb5\x2f\xfd garbage after a zstd magic".to_vec(),
    )
    .await;
    // A zstd stream cut short.
    let whole = zstd::encode_all(records(0, 100).join("\n").as_bytes(), 3).unwrap();
    let truncated = t.json_chunk(&p, 2, "w1", 3, "ndjson.zst");
    put(&lake, &truncated, whole[..whole.len() / 2].to_vec()).await;
    // An empty object (no rows, not a failure), and a stray file that is no chunk.
    put(
        &lake,
        &t.json_chunk(&p, 3, "w1", 4, "ndjson.zst"),
        Vec::new(),
    )
    .await;
    put(
        &lake,
        &t.json_partition(&p).join("notes.txt"),
        b"not a chunk".to_vec(),
    )
    .await;
    // Lines that are not JSON objects, among good ones.
    let mut lines = records(10, 5);
    lines.insert(2, "this is not json".to_owned());
    lines.push("42".to_owned());
    lines.push("{\"unterminated\": ".to_owned());
    put_chunk(&lake, &p, 4, 5, &lines).await;

    let report = compact(&lake, HourSelection::Pending).await;
    let h = &report.hours[0];
    assert_eq!(h.input_chunks, 5, "the stray file is not a chunk");
    assert_eq!(h.input_rows, 15);
    assert_eq!(h.rows_written, 15);
    assert_eq!(h.bad_lines, 3);
    let bad = h.first_bad_line.as_ref().unwrap();
    assert_eq!((bad.line, bad.snippet.as_str()), (3, "this is not json"));
    assert!(bad.chunk.as_ref().ends_with("04-w1-00000005.ndjson.zst"));
    let failed: Vec<&Path> = h.failed_chunks.iter().map(|f| &f.chunk).collect();
    assert_eq!(failed, [&garbage, &truncated]);
    assert!(
        h.failed_chunks
            .iter()
            .all(|f| f.message.starts_with("zstd") && f.quarantined.is_some()),
        "{:?}",
        h.failed_chunks
    );
    assert_eq!(rows_in_hour(&lake, &p).await, 15);
    assert!(report.to_string().contains("3 bad lines"));
    assert!(report.left_data_out());

    // Damaged chunks with nothing readable left the JSON copy for the
    // quarantine, so they are not read again.
    for key in [&garbage, &truncated] {
        assert!(!exists(&lake, key).await, "{key}");
        let name = key.filename().unwrap();
        assert!(exists(&lake, &t.quarantined_chunk(&p, name)).await);
    }
    let again = compact(&lake, HourSelection::Pending).await;
    assert!(again.hours.is_empty());
    assert!(!again.left_data_out());
    put(
        &lake,
        &garbage,
        zstd::encode_all(records(100, 3).join("\n").as_bytes(), 3).unwrap(),
    )
    .await;
    let fixed = compact(&lake, HourSelection::Pending).await;
    assert!(fixed.hours[0].failed_chunks.is_empty());
    assert_eq!(rows_in_hour(&lake, &p).await, 18);
}

async fn exists(lake: &levee_lake::Lake, key: &Path) -> bool {
    lake.store.head(key).await.is_ok()
}

/// Issue 18: a cut chunk gave no rows, and the hour's Parquet was replaced
/// by the rest. Its rows before the cut are kept, in the Parquet and in a
/// whole chunk of its name; the original waits in the quarantine.
#[tokio::test]
async fn a_truncated_chunk_keeps_its_rows_before_the_cut() {
    let (_dir, lake) = lake();
    let p = hour(19);
    let t = table();
    // Big enough for several zstd blocks.
    let lines = records(0, 5_000);
    let whole = zstd::encode_all(lines.join("\n").as_bytes(), 3).unwrap();
    let cut = t.json_chunk(&p, 0, "w1", 1, "ndjson.zst");
    put(&lake, &cut, whole[..whole.len() / 2].to_vec()).await;
    put_chunk(&lake, &p, 1, 2, &records(5_000, 7)).await;

    let report = compact(&lake, HourSelection::Pending).await;
    let h = &report.hours[0];
    let f = &h.failed_chunks[0];
    assert!(f.rows_read > 0 && f.rows_read < 5_000, "{f:?}");
    assert_eq!(h.rows_written, f.rows_read + 7);
    assert_eq!(rows_in_hour(&lake, &p).await as u64, f.rows_read + 7);
    let kept = lake.store.get(&cut).await.unwrap().bytes().await.unwrap();
    let kept = zstd::decode_all(&kept[..]).unwrap();
    assert_eq!(
        String::from_utf8(kept).unwrap().lines().collect::<Vec<_>>(),
        lines[..f.rows_read as usize]
    );
    let moved = f.quarantined.as_ref().unwrap();
    let original = lake.store.get(moved).await.unwrap().bytes().await.unwrap();
    assert_eq!(original, whole[..whole.len() / 2]);
    assert!(report.left_data_out());
    // What is left is whole: nothing more to do.
    let again = compact(&lake, HourSelection::Pending).await;
    assert!(again.hours.is_empty() && !again.left_data_out());
}

/// Issue 18: an hour whose chunk was damaged after it was compacted lost
/// its good Parquet to a run that read nothing from the chunk.
#[tokio::test]
async fn an_hours_parquet_is_never_replaced_by_fewer_rows() {
    let (_dir, lake) = lake();
    let p = hour(18);
    let key = put_chunk(&lake, &p, 0, 1, &records(0, 40)).await;
    put_chunk(&lake, &p, 1, 2, &records(40, 10)).await;
    compact(&lake, HourSelection::Pending).await;
    assert_eq!(rows_in_hour(&lake, &p).await, 50);
    put(&lake, &key, b"overwritten by something else".to_vec()).await;

    for hours in [HourSelection::Pending, HourSelection::All] {
        let report = compact(&lake, hours).await;
        assert!(report.hours.is_empty());
        let kept = &report.skipped[0];
        assert_eq!(kept.partition, p);
        let SkipReason::FewerRows {
            covered,
            readable,
            failed,
        } = &kept.reason
        else {
            panic!("{kept:?}")
        };
        assert_eq!((*covered, *readable), (50, 10));
        assert_eq!(failed[0].chunk, key);
        assert!(failed[0].quarantined.is_none());
        assert!(report.left_data_out());
        assert!(
            report.warnings().iter().any(|w| w.contains(key.as_ref())),
            "{:?}",
            report.warnings()
        );
        assert_eq!(rows_in_hour(&lake, &p).await, 50);
        assert!(exists(&lake, &key).await);
        // Nothing of the run that was not committed is left in the hour.
        let committed: Vec<Path> = read_hour(&lake, &p)
            .await
            .into_iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(stored_parquet(&lake, &p).await, committed);
    }

    // Asked for, the loss is taken: the chunk goes to the quarantine.
    let opts = levee_lake::compact::CompactOptions {
        allow_fewer_rows: true,
        ..select(HourSelection::Pending)
    };
    let report = levee_lake::compact::compact_table(&lake, &table(), &opts)
        .await
        .unwrap();
    assert_eq!(report.hours[0].rows_written, 10);
    assert_eq!(rows_in_hour(&lake, &p).await, 10);
    assert!(!exists(&lake, &key).await);
    let again = compact(&lake, HourSelection::Pending).await;
    assert!(again.hours.is_empty() && !again.left_data_out());
}

#[tokio::test]
async fn a_chunk_too_large_once_decompressed_is_refused() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(21), 0, 1, &records(0, 1000)).await;
    put_chunk(&lake, &hour(21), 1, 2, &records(0, 2)).await;
    let opts = levee_lake::compact::CompactOptions {
        max_chunk_bytes: 4096,
        ..select(HourSelection::Pending)
    };
    let report = levee_lake::compact::compact_table(&lake, &table(), &opts)
        .await
        .unwrap();
    let h = &report.hours[0];
    assert_eq!(h.failed_chunks.len(), 1);
    assert!(h.failed_chunks[0].message.contains("more than 4096 bytes"));
    assert_eq!(h.rows_written, 2);
}

#[tokio::test]
async fn deep_nesting_and_odd_keys_do_not_crash() {
    let (_dir, lake) = lake();
    let deep = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    let lines = [
        deep,
        r#"{"":1,"a.b":2,"ü":"x","a":{"":[[1,[2]],[]]}}"#.to_owned(),
        r#"{"dup":1,"dup":"two"}"#.to_owned(),
    ];
    put_chunk(&lake, &hour(22), 0, 1, &lines).await;
    let report = compact(&lake, HourSelection::Pending).await;
    let h = &report.hours[0];
    // Past serde_json's nesting limit the line is bad; the others are rows.
    assert_eq!((h.bad_lines, h.rows_written), (1, 2));
    assert_eq!(rows_in_hour(&lake, &hour(22)).await, 2);
}

/// Without a manifest to say what the hour's Parquet holds, its files'
/// footers say it: a damaged chunk still cannot cost their rows.
#[tokio::test]
async fn without_a_manifest_the_parquet_footers_guard_its_rows() {
    let (_dir, lake) = lake();
    let p = hour(17);
    let key = put_chunk(&lake, &p, 0, 1, &records(0, 30)).await;
    compact(&lake, HourSelection::Pending).await;
    put(
        &lake,
        &table().manifest_key(&p),
        b"{lost to a bad disk".to_vec(),
    )
    .await;
    put(&lake, &key, b"overwritten".to_vec()).await;

    let report = compact(&lake, HourSelection::Pending).await;
    assert!(report.hours.is_empty());
    assert!(
        matches!(
            report.skipped[0].reason,
            SkipReason::FewerRows {
                covered: 30,
                readable: 0,
                ..
            }
        ),
        "{:?}",
        report.skipped
    );
    assert!(exists(&lake, &key).await);
}

#[tokio::test]
async fn corrupt_manifest_means_compact_again() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(23), 0, 1, &records(0, 5)).await;
    compact(&lake, HourSelection::Pending).await;
    put(
        &lake,
        &table().manifest_key(&hour(23)),
        b"{not json".to_vec(),
    )
    .await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert!(matches!(
        report.hours[0].reason,
        levee_lake::compact::CompactReason::ManifestUnreadable { .. }
    ));
    assert_eq!(rows_in_hour(&lake, &hour(23)).await, 5);
    let again = compact(&lake, HourSelection::All).await;
    assert_eq!(again.skipped[0].reason, SkipReason::UpToDate);
}
