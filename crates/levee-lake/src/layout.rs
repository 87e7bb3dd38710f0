//! Where each object of a table lives. Every path in the lake is made here.

use std::fmt;

use levee_event::time::UtcTime;
use object_store::path::Path;

use crate::LakeError;

/// File name extension of JSON chunks, by compression.
pub const ZSTD_CHUNK_EXT: &str = "ndjson.zst";
/// File name extension of gzip-compressed JSON chunks.
pub const GZIP_CHUNK_EXT: &str = "ndjson.gz";
/// File name extension of uncompressed JSON chunks.
pub const PLAIN_CHUNK_EXT: &str = "ndjson";
/// File name extension of Parquet chunks (see [`TableRef::parquet_chunk`]).
pub const PARQUET_CHUNK_EXT: &str = "parquet";

/// How a chunk is encoded, as its file name says: NDJSON, compressed or
/// not, or (under `chunks/`) Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkCompression {
    /// `.ndjson.zst`, the lake output's default.
    Zstd,
    /// `.ndjson.gz`
    Gzip,
    /// `.ndjson`
    None,
    /// `.parquet`: a Parquet chunk, which the lake output writes with
    /// `format = "parquet"` or `"both"` (compressed inside the file). Its
    /// rows read as the NDJSON of a JSON chunk would (see
    /// `compact::read_chunk_text`). [`ChunkCompression::from_key`] never
    /// gives it: Parquet chunks are listed from their own folder.
    Parquet,
}

impl ChunkCompression {
    /// The compression of a chunk key, or `None` when the key is not a chunk
    /// (an upload in progress, a stray file), which compaction then leaves alone.
    pub fn from_key(key: &Path) -> Option<ChunkCompression> {
        let name = key.filename()?;
        if name.starts_with('.') || name.starts_with('_') {
            return None;
        }
        let (stem, compression) = if let Some(stem) = name.strip_suffix(".zst") {
            (stem, ChunkCompression::Zstd)
        } else if let Some(stem) = name.strip_suffix(".gz") {
            (stem, ChunkCompression::Gzip)
        } else {
            (name, ChunkCompression::None)
        };
        // `.json` and `.jsonl` are what other writers (Firehose, Spark) use.
        let is_json = [".ndjson", ".json", ".jsonl"]
            .iter()
            .any(|ext| stem.len() > ext.len() && stem.ends_with(ext));
        is_json.then_some(compression)
    }

    /// The file name extension the lake output uses for this compression.
    pub fn extension(self) -> &'static str {
        match self {
            ChunkCompression::Zstd => ZSTD_CHUNK_EXT,
            ChunkCompression::Gzip => GZIP_CHUNK_EXT,
            ChunkCompression::None => PLAIN_CHUNK_EXT,
            ChunkCompression::Parquet => PARQUET_CHUNK_EXT,
        }
    }
}

/// A table in a database of the lake.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    /// The database: a folder under the lake's root.
    pub database: String,
    /// The table: a folder under its database.
    pub table: String,
}

impl TableRef {
    /// Checks both names, so no name can escape its folder.
    pub fn new(database: &str, table: &str) -> Result<TableRef, LakeError> {
        check_name("database", database)?;
        check_name("table", table)?;
        Ok(TableRef {
            database: database.to_owned(),
            table: table.to_owned(),
        })
    }

    /// `<db>/<table>`, under the lake's root.
    pub fn root(&self) -> Path {
        Path::from_iter([self.database.as_str(), self.table.as_str()])
    }

    /// `<db>/<table>/json`: all JSON chunks.
    pub fn json_root(&self) -> Path {
        self.root().join("json")
    }

    /// `<db>/<table>/chunks`: the Parquet chunks the lake output writes with
    /// `format = "parquet"` or `"both"`, beside (not among) the JSON chunks,
    /// so that an engine reading `json/` as JSON, or `chunks/` as Parquet,
    /// finds one kind of file.
    pub fn parquet_chunk_root(&self) -> Path {
        self.root().join("chunks")
    }

    /// The folder of one hour's Parquet chunks.
    pub fn parquet_chunk_partition(&self, p: &Partition) -> Path {
        self.parquet_chunk_root()
            .join(p.dt_dir())
            .join(p.hour_dir())
    }

    /// The key of one Parquet chunk: `<MM>-<writer>-<seq>.parquet`, named as
    /// the JSON chunk of the same events would be ([`TableRef::json_chunk`]).
    pub fn parquet_chunk(&self, p: &Partition, minute: u32, writer: &str, seq: u64) -> Path {
        self.parquet_chunk_partition(p)
            .join(format!("{minute:02}-{writer}-{seq:08}.{PARQUET_CHUNK_EXT}"))
    }

    /// The Parquet chunk that goes with the JSON chunk `json_key` (the same
    /// events, written by an output with `format = "both"`): its folder
    /// under `chunks/` and its name with `.parquet` for the JSON ending.
    /// `None` for a key that is not a JSON chunk of this table.
    pub fn parquet_chunk_twin(&self, json_key: &Path) -> Option<Path> {
        let p = Partition::from_path(json_key)?;
        let name = json_key.filename()?;
        ChunkCompression::from_key(json_key)?;
        if !json_key.prefix_matches(&self.json_partition(&p)) {
            return None;
        }
        let stem = name.split_once('.')?.0;
        Some(
            self.parquet_chunk_partition(&p)
                .join(format!("{stem}.{PARQUET_CHUNK_EXT}")),
        )
    }

    /// `<db>/<table>/parquet`: all Parquet files.
    pub fn parquet_root(&self) -> Path {
        self.root().join("parquet")
    }

    /// `<db>/<table>/_levee`: the table's catalog (schema, manifests).
    pub fn catalog_root(&self) -> Path {
        self.root().join("_levee")
    }

    /// The folder of one hour's JSON chunks (of a day's hours, for a day).
    pub fn json_partition(&self, p: &Partition) -> Path {
        self.json_root().join_partition(p)
    }

    /// The folder of one partition's Parquet files: an hour's, or a day's
    /// in a `partition_by = "day"` table.
    pub fn parquet_partition(&self, p: &Partition) -> Path {
        self.parquet_root().join_partition(p)
    }

    /// `<db>/<table>/quarantine`: damaged chunks compaction moved out of
    /// `json/`, each beside a file that says why (see `compact::quarantine`).
    pub fn quarantine_root(&self) -> Path {
        self.root().join("quarantine")
    }

    /// Where a damaged chunk of an hour goes:
    /// `<db>/<table>/quarantine/json/dt=YYYY-MM-DD/hour=HH/<chunk name>`.
    pub fn quarantined_chunk(&self, p: &Partition, name: &str) -> Path {
        self.quarantine_root()
            .join("json")
            .join(p.dt_dir())
            .join(p.hour_dir())
            .join(name)
    }

    /// The key of one JSON chunk: `<MM>-<writer>-<seq>.<ext>`, where `MM` is
    /// the minute of the chunk's first event, `writer` tells processes apart
    /// and `seq` counts the writer's chunks.
    pub fn json_chunk(
        &self,
        p: &Partition,
        minute: u32,
        writer: &str,
        seq: u64,
        ext: &str,
    ) -> Path {
        self.json_partition(p)
            .join(format!("{minute:02}-{writer}-{seq:08}.{ext}"))
    }

    /// The key of the `n`th Parquet file of an hour.
    pub fn parquet_part(&self, p: &Partition, n: usize) -> Path {
        self.parquet_partition(p)
            .join(format!("part-{n:05}.parquet"))
    }

    /// The number `n` of a key made by [`TableRef::parquet_part`], read back
    /// from its file name; `None` for any other file.
    pub fn parquet_part_number(key: &Path) -> Option<usize> {
        let digits = key
            .filename()?
            .strip_prefix("part-")?
            .strip_suffix(".parquet")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// `<db>/<table>/_levee/table.json`: the table's properties, written
    /// by the lake output.
    pub fn properties_key(&self) -> Path {
        self.catalog_root().join("table.json")
    }

    /// `<db>/<table>/_levee/schema.json`: the table's schema as compaction last wrote it.
    pub fn schema_key(&self) -> Path {
        self.catalog_root().join("schema.json")
    }

    /// `<db>/<table>/_levee/manifests`: one manifest per compacted hour.
    pub fn manifest_root(&self) -> Path {
        self.catalog_root().join("manifests")
    }

    /// `<db>/<table>/_levee/manifests/dt=YYYY-MM-DD/hour=HH.json`: what the
    /// last compaction of an hour read and wrote; `.../dt=YYYY-MM-DD.json`
    /// for a day.
    pub fn manifest_key(&self, p: &Partition) -> Path {
        if p.is_day() {
            return self.manifest_root().join(format!("{}.json", p.dt_dir()));
        }
        self.manifest_root()
            .join(p.dt_dir())
            .join(format!("{}.json", p.hour_dir()))
    }
}

/// Joins a partition's folders to a path.
trait JoinPartition {
    fn join_partition(self, p: &Partition) -> Path;
}

impl JoinPartition for Path {
    fn join_partition(self, p: &Partition) -> Path {
        let dt = self.join(p.dt_dir());
        if p.is_day() {
            dt
        } else {
            dt.join(p.hour_dir())
        }
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), LakeError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && !name.starts_with('_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(LakeError::InvalidName {
            what,
            name: name.to_owned(),
        })
    }
}

/// One hour of a table: the unit of partitioning and of compaction; or,
/// for the Parquet of a `partition_by = "day"` table, a whole day.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// `YYYY-MM-DD`, in UTC.
    pub dt: String,
    /// 0..=23, in UTC; [`Partition::WHOLE_DAY`] for a day. A day sorts
    /// after its hours, so "from hour A to hour B" holds a day once its
    /// last hour is in.
    pub hour: u32,
}

impl Partition {
    /// The `hour` of a partition that is a whole day.
    pub const WHOLE_DAY: u32 = 24;

    /// The whole day `dt`.
    pub fn day(dt: &str) -> Partition {
        Partition {
            dt: dt.to_owned(),
            hour: Partition::WHOLE_DAY,
        }
    }

    /// Whether this is a whole day rather than an hour.
    pub fn is_day(&self) -> bool {
        self.hour == Partition::WHOLE_DAY
    }

    /// The day this hour lies in.
    pub fn whole_day(&self) -> Partition {
        Partition::day(&self.dt)
    }

    /// The Parquet unit this hour belongs to when a table is partitioned
    /// by `by`: the hour itself, or its day.
    pub fn unit(&self, by: crate::PartitionBy) -> Partition {
        match by {
            crate::PartitionBy::Hour => self.clone(),
            crate::PartitionBy::Day => self.whole_day(),
        }
    }

    /// Reads a partition back from a key's `dt=` folder and, if it has
    /// one, its `hour=` folder: a day when it has none.
    pub fn unit_from_path(path: &Path) -> Option<Partition> {
        if path.parts().any(|p| p.as_ref().starts_with("hour=")) {
            return Partition::from_path(path);
        }
        let dt = path
            .parts()
            .find_map(|part| part.as_ref().strip_prefix("dt=").map(str::to_owned))?;
        levee_event::time::parse_date(&dt)?;
        Some(Partition::day(&dt))
    }

    /// The partition of an event time, and the minute within its hour.
    pub fn of_time(nanos: i64) -> (Partition, u32) {
        let t = UtcTime::from_nanos(nanos);
        (
            Partition {
                dt: t.date_string(),
                hour: t.hour,
            },
            t.minute,
        )
    }

    /// `dt=YYYY-MM-DD`
    pub fn dt_dir(&self) -> String {
        format!("dt={}", self.dt)
    }

    /// `hour=HH`
    pub fn hour_dir(&self) -> String {
        format!("hour={:02}", self.hour)
    }

    /// Reads a partition back from the `dt=`/`hour=` parts of a key, if it has them.
    pub fn from_path(path: &Path) -> Option<Partition> {
        let mut dt = None;
        let mut hour = None;
        for part in path.parts() {
            let part = part.as_ref();
            if let Some(d) = part.strip_prefix("dt=") {
                levee_event::time::parse_date(d)?;
                dt = Some(d.to_owned());
            } else if let Some(h) = part.strip_prefix("hour=") {
                hour = h.parse::<u32>().ok().filter(|h| *h < 24);
            }
        }
        Some(Partition {
            dt: dt?,
            hour: hour?,
        })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_day() {
            return write!(f, "dt={}", self.dt);
        }
        write!(f, "dt={}/hour={:02}", self.dt, self.hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_follow_the_hive_layout() {
        let t = TableRef::new("glue-data-lake-usw2-prd", "eventlog").unwrap();
        // 2018-09-01T13:07:30Z
        let (p, minute) = Partition::of_time(1_535_807_250_000_000_000);
        assert_eq!(p.to_string(), "dt=2018-09-01/hour=13");
        assert_eq!(minute, 7);
        assert_eq!(
            t.json_chunk(&p, minute, "w1a2b", 3, ZSTD_CHUNK_EXT)
                .as_ref(),
            "glue-data-lake-usw2-prd/eventlog/json/dt=2018-09-01/hour=13/07-w1a2b-00000003.ndjson.zst"
        );
        assert_eq!(
            t.parquet_part(&p, 0).as_ref(),
            "glue-data-lake-usw2-prd/eventlog/parquet/dt=2018-09-01/hour=13/part-00000.parquet"
        );
        assert_eq!(
            t.parquet_chunk(&p, minute, "w1a2b", 3).as_ref(),
            "glue-data-lake-usw2-prd/eventlog/chunks/dt=2018-09-01/hour=13/07-w1a2b-00000003.parquet"
        );
    }

    #[test]
    fn a_json_chunk_names_its_parquet_twin() {
        let t = TableRef::new("db", "t").unwrap();
        let (p, minute) = Partition::of_time(1_535_807_250_000_000_000);
        let json = t.json_chunk(&p, minute, "0a1b2c3d", 9, ZSTD_CHUNK_EXT);
        assert_eq!(
            t.parquet_chunk_twin(&json),
            Some(t.parquet_chunk(&p, minute, "0a1b2c3d", 9))
        );
        let other = TableRef::new("db", "u").unwrap();
        assert_eq!(other.parquet_chunk_twin(&json), None, "another table's");
        assert_eq!(t.parquet_chunk_twin(&t.parquet_part(&p, 0)), None);
    }

    #[test]
    fn partition_round_trips_through_its_path() {
        let t = TableRef::new("db", "t").unwrap();
        let p = Partition {
            dt: "2024-02-29".into(),
            hour: 5,
        };
        assert_eq!(Partition::from_path(&t.parquet_part(&p, 2)), Some(p));
        assert_eq!(
            Partition::from_path(&Path::from("db/t/json/dt=2024-02-30/hour=05/x")),
            None
        );
        assert_eq!(
            Partition::from_path(&Path::from("db/t/json/dt=2024-02-28/hour=24/x")),
            None
        );
    }

    #[test]
    fn a_day_lies_in_its_dt_folder_and_sorts_after_its_hours() {
        let t = TableRef::new("db", "t").unwrap();
        let hour = Partition {
            dt: "2024-02-29".into(),
            hour: 23,
        };
        let day = hour.unit(crate::PartitionBy::Day);
        assert_eq!(day, Partition::day("2024-02-29"));
        assert_eq!(day.to_string(), "dt=2024-02-29");
        assert_eq!(
            t.parquet_part(&day, 1).as_ref(),
            "db/t/parquet/dt=2024-02-29/part-00001.parquet"
        );
        assert_eq!(
            t.manifest_key(&day).as_ref(),
            "db/t/_levee/manifests/dt=2024-02-29.json"
        );
        assert_eq!(
            Partition::unit_from_path(&t.parquet_part(&day, 1)),
            Some(day.clone())
        );
        assert_eq!(
            Partition::unit_from_path(&t.parquet_part(&hour, 1)),
            Some(hour.clone())
        );
        assert!(
            hour < day
                && day
                    < Partition {
                        dt: "2024-03-01".into(),
                        hour: 0
                    }
        );
        assert_eq!(hour.unit(crate::PartitionBy::Hour), hour);
        assert_eq!(
            Partition::unit_from_path(&Path::from("db/t/parquet/dt=2024-02-28/hour=24/x")),
            None
        );
    }

    #[test]
    fn names_cannot_escape_their_folder() {
        for bad in ["", "..", "a/b", "_levee", ".hidden", "a b", "é"] {
            assert!(
                TableRef::new(bad, "t").is_err(),
                "{bad:?} accepted as database"
            );
            assert!(
                TableRef::new("d", bad).is_err(),
                "{bad:?} accepted as table"
            );
        }
    }
}
