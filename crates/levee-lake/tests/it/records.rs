//! Lines that cannot be rows go to the records quarantine with the reason,
//! so that retention, deleting the chunks, does not lose them.

use levee_lake::compact::HourSelection;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::support::*;

#[tokio::test]
async fn lines_that_are_not_json_objects_are_kept_in_the_records_quarantine() {
    let (_dir, lake) = lake();
    let mut lines = records(0, 4);
    lines.insert(1, "this is not json".to_owned());
    lines.push("[1, 2]".to_owned());
    lines.push("{\"unterminated\": ".to_owned());
    let chunk = put_chunk(&lake, &hour(5), 0, 1, &lines).await;
    // Bytes that are not UTF-8 come back whole, in base64.
    let raw = b"{\"a\":\"\xff\xfe\"}\n{\"id\":99}\n".to_vec();
    let plain = table().json_chunk(&hour(5), 1, "w1", 2, "ndjson");
    put(&lake, &plain, raw).await;

    let report = compact(&lake, HourSelection::Pending).await;
    let h = &report.hours[0];
    assert_eq!((h.rows_written, h.bad_lines), (5, 4));
    assert_eq!(h.records_quarantined, 4);
    assert_eq!(h.records_not_kept, 0);
    let file = |chunk: &Path| {
        Path::from(format!(
            "glue-data-lake-usw2-prd/eventlog/quarantine/records/dt=2018-09-01/hour=05/{}.json",
            chunk.filename().unwrap()
        ))
    };
    assert_eq!(h.quarantined_records, [file(&chunk), file(&plain)]);

    let read = |key: Path| {
        let lake = lake.clone();
        async move {
            let bytes = lake.store.get(&key).await.unwrap().bytes().await.unwrap();
            String::from_utf8(bytes.to_vec())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        }
    };
    let kept = read(file(&chunk)).await;
    let texts: Vec<&str> = kept.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["this is not json", "[1, 2]", "{\"unterminated\": "]);
    assert_eq!(kept[0]["line"], 2);
    assert_eq!(kept[0]["chunk"], chunk.as_ref());
    assert!(
        kept.iter()
            .all(|r| !r["reason"].as_str().unwrap().is_empty())
    );
    let kept = read(file(&plain)).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["base64"], "eyJhIjoi//4ifQ==");

    let warnings = report.warnings().join("\n");
    assert!(
        warnings.contains(&format!("kept with the reason in {}", file(&chunk))),
        "{warnings}"
    );
}
