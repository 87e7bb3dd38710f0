//! A small lake written by the test itself: the same rows as zstd NDJSON
//! chunks and as Parquet, in Hive folders, so the two copies of a table can be
//! compared. It uses only the layout's key functions, not compaction.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::{Lake, Partition, TableRef};
use tempfile::TempDir;

/// The database name Athena users know, dashes and all.
pub const DB: &str = "glue-data-lake-usw2-prd";
/// A second database, holding a table that has not been compacted yet.
pub const OTHER_DB: &str = "other-db";

/// Days and hours of the `eventlog` table: 3 × 3 partitions.
pub const DAYS: [&str; 3] = ["2018-08-31", "2018-09-01", "2018-09-02"];
pub const HOURS: [u32; 3] = [0, 5, 13];
/// Rows per hour; each hour's JSON is split into two chunks.
pub const ROWS_PER_HOUR: usize = 6;
/// JSON chunks per hour.
pub const CHUNKS_PER_HOUR: usize = 2;

/// One access-log line.
pub struct Row {
    pub time: String,
    pub method: &'static str,
    pub path: String,
    pub status: i64,
    pub bytes: i64,
    pub latency: f64,
}

/// `n` rows of one hour: a fixed pattern, so expected answers can be worked out by hand.
///
/// Every six rows: statuses 200, 200, 404, 500, 200, 301; methods alternate
/// GET, POST; bytes 100..600; latency 0.25..1.5.
pub fn rows(p: &Partition, n: usize) -> Vec<Row> {
    const STATUS: [i64; 6] = [200, 200, 404, 500, 200, 301];
    (0..n)
        .map(|i| {
            let k = i % 6;
            Row {
                time: format!(
                    "{}T{:02}:{:02}:{:02}Z",
                    p.dt,
                    p.hour,
                    (i * 7) % 60,
                    30 + i % 30
                ),
                method: if k % 2 == 0 { "GET" } else { "POST" },
                path: format!("/api/items/{}?page={}", i % 3, p.hour),
                status: STATUS[k],
                bytes: 100 * (k as i64 + 1),
                latency: 0.25 * (k as f64 + 1.0),
            }
        })
        .collect()
}

pub fn partitions(days: &[&str], hours: &[u32]) -> Vec<Partition> {
    days.iter()
        .flat_map(|dt| {
            hours.iter().map(|h| Partition {
                dt: (*dt).to_owned(),
                hour: *h,
            })
        })
        .collect()
}

/// A lake in a temporary folder, deleted on drop.
pub struct TestLake {
    pub dir: TempDir,
    pub lake: Lake,
}

impl TestLake {
    /// `eventlog` in both formats under [`DB`], and `clicks` as JSON only under [`OTHER_DB`].
    pub fn new() -> TestLake {
        let t = TestLake::eventlog(&DAYS, &HOURS, ROWS_PER_HOUR);
        let clicks = TableRef::new(OTHER_DB, "clicks").unwrap();
        let p = Partition {
            dt: "2024-02-29".into(),
            hour: 23,
        };
        let lines = [
            serde_json::json!({"user": "ann", "url": "https://example.com/a/b?x=1"}),
            serde_json::json!({"user": "bob", "url": "/caf%C3%A9?y=2"}),
        ];
        t.write(
            clicks.json_chunk(&p, 59, "w2", 0, ZSTD_CHUNK_EXT).as_ref(),
            &zstd_ndjson(lines.into_iter()),
        );
        t
    }

    /// Just `eventlog`, in both formats: [`CHUNKS_PER_HOUR`] JSON chunks and
    /// one Parquet file per hour, `rows_per_hour` rows in each hour.
    pub fn eventlog(days: &[&str], hours: &[u32], rows_per_hour: usize) -> TestLake {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let t = TestLake { dir, lake };
        let eventlog = TableRef::new(DB, "eventlog").unwrap();
        for p in partitions(days, hours) {
            let rows = rows(&p, rows_per_hour);
            let per_chunk = rows.len().div_ceil(CHUNKS_PER_HOUR);
            for (seq, chunk) in rows.chunks(per_chunk).enumerate() {
                let key = eventlog.json_chunk(&p, 7 * seq as u32, "w1", seq as u64, ZSTD_CHUNK_EXT);
                t.write(key.as_ref(), &zstd_ndjson(chunk.iter().map(row_json)));
            }
            t.write(eventlog.parquet_part(&p, 0).as_ref(), &parquet(&rows));
        }
        t
    }

    /// Writes one object of the lake, making its folders.
    pub fn write(&self, key: &str, bytes: &[u8]) {
        let path = self.dir.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn row_json(r: &Row) -> serde_json::Value {
    serde_json::json!({
        "time": r.time,
        "method": r.method,
        "path": r.path,
        "status": r.status,
        "bytes": r.bytes,
        "latency": r.latency,
    })
}

fn zstd_ndjson(lines: impl Iterator<Item = serde_json::Value>) -> Vec<u8> {
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    for line in lines {
        writeln!(enc, "{line}").unwrap();
    }
    enc.finish().unwrap()
}

fn parquet(rows: &[Row]) -> Vec<u8> {
    let strings = |f: &dyn Fn(&Row) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let batch = RecordBatch::try_from_iter([
        ("time", strings(&|r| r.time.clone())),
        ("method", strings(&|r| r.method.to_owned())),
        ("path", strings(&|r| r.path.clone())),
        (
            "status",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.status))) as ArrayRef,
        ),
        (
            "bytes",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.bytes))) as ArrayRef,
        ),
        (
            "latency",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.latency),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}
