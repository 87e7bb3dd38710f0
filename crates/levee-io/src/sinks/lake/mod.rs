//! The `lake` sink: events as zstd-compressed JSON chunks in the lake.
//!
//! A batch is split by the hour of each event's time (UTC) and each hour's
//! events become one object `<db>/<table>/json/dt=…/hour=…/<MM>-<writer>-<seq>.ndjson.zst`
//! (see `levee_lake::layout`). Each object is written with one `put`, which
//! is atomic on local disk and on S3: no reader ever sees half a chunk.

use std::collections::BTreeMap;

use bytes::Bytes;
use levee_event::Event;
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::{Lake, Partition, TableRef};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Deserialize;

use super::encode::ndjson_records;
use crate::SinkError;

/// `type = "lake"`: deliver into a table of the lake.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// The lake's root: a local folder (`./lake`) or a `file://` URL.
    #[serde(default = "default_lake")]
    pub lake: String,
    /// The database (a folder under the root), as Glue and Athena name it.
    pub database: String,
    /// The table (a folder under the database).
    pub table: String,
    /// zstd level, 1 (fastest) to 19 (smallest).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
}

fn default_lake() -> String {
    "./lake".into()
}

fn default_zstd_level() -> i32 {
    3
}

impl LakeConfig {
    pub(crate) fn validate(&self) -> Result<(), SinkError> {
        TableRef::new(&self.database, &self.table)?;
        if !(1..=19).contains(&self.zstd_level) {
            return Err(SinkError::Encode(format!(
                "zstd_level must be 1 to 19, not {}",
                self.zstd_level
            )));
        }
        Ok(())
    }
}

pub struct LakeSink {
    lake: Lake,
    table: TableRef,
    /// Tells this process's chunks from any other writer's.
    writer: String,
    seq: u64,
    level: i32,
    /// Chunks of the batch being written that are not stored yet. A retry
    /// of the same batch resumes these instead of encoding it again, so no
    /// chunk is written twice.
    pending: Vec<(Path, Bytes)>,
}

impl LakeSink {
    pub(crate) fn new(config: &LakeConfig) -> Result<LakeSink, SinkError> {
        Ok(LakeSink {
            lake: Lake::open(&config.lake)?,
            table: TableRef::new(&config.database, &config.table)?,
            writer: format!("{:08x}", fastrand::u32(..)),
            seq: 0,
            level: config.zstd_level,
            pending: Vec::new(),
        })
    }

    pub(crate) async fn write(&mut self, events: &[Event]) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            self.encode(events)?;
        }
        while let Some((key, body)) = self.pending.last() {
            self.lake
                .store
                .put(key, PutPayload::from(body.clone()))
                .await?;
            self.pending.pop();
        }
        Ok(())
    }

    /// Splits the batch by hour and compresses each hour's events into a chunk.
    fn encode(&mut self, events: &[Event]) -> Result<(), SinkError> {
        let mut hours: BTreeMap<Partition, (u32, Vec<&Event>)> = BTreeMap::new();
        for event in events {
            let (partition, minute) = Partition::of_time(event.time);
            hours
                .entry(partition)
                .or_insert_with(|| (minute, Vec::new()))
                .1
                .push(event);
        }
        let mut json = Vec::new();
        for (partition, (minute, events)) in hours {
            json.clear();
            ndjson_records(events, &mut json)?;
            let body =
                zstd::bulk::compress(&json, self.level).map_err(|e| SinkError::io("zstd", e))?;
            self.seq += 1;
            let key =
                self.table
                    .json_chunk(&partition, minute, &self.writer, self.seq, ZSTD_CHUNK_EXT);
            self.pending.push((key, Bytes::from(body)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_event::{Record, Tag, Value};

    fn event(time: i64, n: i64) -> Event {
        let mut record = Record::new();
        record.insert("n", Value::Int(n));
        Event::new(Tag::new("t"), time, record)
    }

    #[tokio::test]
    async fn a_batch_becomes_one_chunk_per_hour_of_event_time() {
        let dir = tempfile::tempdir().unwrap();
        let config = LakeConfig {
            lake: dir.path().to_string_lossy().into_owned(),
            database: "db".into(),
            table: "t".into(),
            zstd_level: 3,
        };
        let mut sink = LakeSink::new(&config).unwrap();
        let hour = 3_600 * 1_000_000_000i64;
        // 2018-09-01T00:xx and 01:xx
        let base = 1_535_760_000 * 1_000_000_000i64;
        let events = [
            event(base + 5 * 60_000_000_000, 1),
            event(base + hour + 1, 2),
            event(base + 10, 3),
        ];
        sink.write(&events).await.unwrap();

        let mut found = Vec::new();
        for entry in walk(dir.path()) {
            let rel = entry
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = zstd::decode_all(std::fs::File::open(&entry).unwrap()).unwrap();
            found.push((rel, String::from_utf8(text).unwrap()));
        }
        found.sort();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0]
                .0
                .starts_with("db/t/json/dt=2018-09-01/hour=00/05-"),
            "{}",
            found[0].0
        );
        assert_eq!(found[0].1, "{\"n\":1}\n{\"n\":3}\n");
        assert!(
            found[1]
                .0
                .starts_with("db/t/json/dt=2018-09-01/hour=01/00-"),
            "{}",
            found[1].0
        );
        assert_eq!(found[1].1, "{\"n\":2}\n");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
