//! A table's properties, `<db>/<table>/_levee/table.json`: what compaction
//! and queries must know of a table that its chunks do not say.
//!
//! The lake output writes it before its first chunk of each run. A table
//! without it (written by an older levee, or by another writer) has no
//! event-time column: its chunks are read as they are.

use std::collections::BTreeMap;
use std::time::Duration;

use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::declared::DeclaredSchema;
use crate::{Lake, LakeError, TableRef};

/// The version of `table.json` this code writes and reads.
const FORMAT_VERSION: u32 = 1;

/// The event-time column's name unless an output names another.
pub const DEFAULT_TIME_FIELD: &str = "time";

/// UTC as Arrow names it in the event-time column's type: an offset, as
/// Arrow reads named zones only with chrono-tz, and as DataFusion's `now()`
/// has it. Any zone makes Parquet's timestamp "adjusted to UTC".
pub const UTC_OFFSET: &str = "+00:00";

/// What `table.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableProperties {
    /// Always [`FORMAT_VERSION`].
    version: u32,
    /// The column that holds each record's event time: RFC 3339 text in
    /// the chunks, a timestamp in Parquet and in queries.
    pub time_field: TimeField,
    /// How compaction lays the table's Parquet out. Absent in files
    /// written before levee had the settings, and when all are defaults,
    /// so such files still read in older levees.
    #[serde(default, skip_serializing_if = "ParquetLayout::is_default")]
    pub parquet: ParquetLayout,
    /// How long each copy of an hour is kept (see `compact::retention`);
    /// absent in files written before levee had retention: kept forever.
    #[serde(default, skip_serializing_if = "Retention::is_off")]
    pub retention: Retention,
    /// Column types declared in the config, which win over inference
    /// (see [`crate::declared`]); none in files written before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schema: DeclaredSchema,
}

impl TableProperties {
    /// Properties with this event-time column, everything else as default
    /// (the default layout, both copies kept forever).
    pub fn new(time_field: TimeField) -> TableProperties {
        TableProperties {
            version: FORMAT_VERSION,
            time_field,
            parquet: ParquetLayout::default(),
            retention: Retention::default(),
            schema: DeclaredSchema::new(),
        }
    }

    /// These properties with this declared schema.
    pub fn with_schema(mut self, schema: DeclaredSchema) -> TableProperties {
        self.schema = schema;
        self
    }

    /// The same, with this Parquet layout.
    pub fn with_parquet(mut self, parquet: ParquetLayout) -> TableProperties {
        self.parquet = parquet;
        self
    }

    /// These properties with this retention.
    pub fn with_retention(mut self, retention: Retention) -> TableProperties {
        self.retention = retention;
        self
    }
}

/// How compaction writes a table's Parquet: set on the lake output
/// (`partition_by`, `sort_by`, `bloom_filters`, `target_file_size`), kept
/// in `table.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetLayout {
    /// The unit of the Parquet copy: an hour or a day.
    #[serde(default)]
    pub partition_by: PartitionBy,
    /// The column rows are sorted by within each row group; `None` sorts by
    /// the event-time column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<ColumnName>,
    /// Columns given a bloom filter in every row group, so an equality
    /// predicate on them skips the row groups that can't hold its value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bloom_filters: Vec<ColumnName>,
    /// Bytes per Parquet file (as encoded so far) before the next file of
    /// the unit is started; `None` leaves it to compaction's options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_file_size: Option<u64>,
}

impl ParquetLayout {
    fn is_default(&self) -> bool {
        *self == ParquetLayout::default()
    }
}

/// The unit of a table's Parquet copy: what compaction writes, lists in one
/// manifest and replaces at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionBy {
    /// `parquet/dt=YYYY-MM-DD/hour=HH/`: partition columns `dt` and `hour`.
    #[default]
    Hour,
    /// `parquet/dt=YYYY-MM-DD/`: partition column `dt` only, for tables
    /// whose hours are small.
    Day,
}

impl PartitionBy {
    /// Reads `"hour"` or `"day"`.
    pub fn parse(text: &str) -> Option<PartitionBy> {
        match text {
            "hour" => Some(PartitionBy::Hour),
            "day" => Some(PartitionBy::Day),
            _ => None,
        }
    }
}

/// A column of the table, as the layout settings name it: a top-level
/// column, or a struct field as `parent.field` (as `levee tables --schema`
/// shows them). Not a partition column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ColumnName(String);

impl ColumnName {
    /// Checks the name.
    pub fn new(name: &str) -> Result<ColumnName, LakeError> {
        let reason = if name.is_empty() || name.len() > 512 {
            Some("must be 1 to 512 characters")
        } else if name.split('.').any(str::is_empty) {
            Some("a dotted name needs a name on each side of every `.`")
        } else if name
            .split('.')
            .next()
            .is_some_and(|top| ["dt", "hour"].iter().any(|p| top.eq_ignore_ascii_case(p)))
        {
            Some("`dt` and `hour` are partition columns, in no file")
        } else {
            None
        };
        match reason {
            None => Ok(ColumnName(name.to_owned())),
            Some(reason) => Err(LakeError::InvalidColumn {
                name: name.to_owned(),
                reason,
            }),
        }
    }

    /// The name, dotted for a struct field.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path from the top-level column down.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl TryFrom<String> for ColumnName {
    type Error = LakeError;

    fn try_from(name: String) -> Result<ColumnName, LakeError> {
        ColumnName::new(&name)
    }
}

impl From<ColumnName> for String {
    fn from(name: ColumnName) -> String {
        name.0
    }
}

/// How long a table keeps each copy of an hour, counted from the hour's
/// end (its event time, as its folder names it), not from when a file was
/// written: so a late chunk for an old hour is as old as its hour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The JSON chunks of an hour are deleted once the hour is this old
    /// *and* its Parquet covers every one of them (or the hour is past
    /// `keep_parquet` too, so no Parquet will ever cover it). `None` keeps
    /// them forever.
    #[serde(
        default,
        rename = "keep_json_secs",
        with = "opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_json: Option<Duration>,
    /// The Parquet of an hour is deleted once the hour is this old, whatever
    /// else; such an hour is never compacted again. `None` keeps it forever.
    #[serde(
        default,
        rename = "keep_parquet_secs",
        with = "opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_parquet: Option<Duration>,
}

impl Retention {
    /// Whether both copies are kept forever.
    pub fn is_off(&self) -> bool {
        self.keep_json.is_none() && self.keep_parquet.is_none()
    }
}

/// Durations as whole seconds in `table.json`.
mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// The name of a table's event-time column: letters, digits and `_`, not
/// starting with a digit (so SQL needs no quotes), and not a partition
/// column (`dt`, `hour`, in any case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeField(String);

impl TimeField {
    /// Checks the name.
    pub fn new(name: &str) -> Result<TimeField, LakeError> {
        let reason = if name.is_empty() || name.len() > 128 {
            Some("must be 1 to 128 characters")
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || name.as_bytes()[0].is_ascii_digit()
        {
            Some("use letters, digits and `_`, not starting with a digit")
        } else if ["dt", "hour"].iter().any(|p| name.eq_ignore_ascii_case(p)) {
            Some("`dt` and `hour` are the partition columns")
        } else {
            None
        };
        match reason {
            None => Ok(TimeField(name.to_owned())),
            Some(reason) => Err(LakeError::InvalidTimeField {
                name: name.to_owned(),
                reason,
            }),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TimeField {
    fn default() -> TimeField {
        TimeField(DEFAULT_TIME_FIELD.to_owned())
    }
}

impl TryFrom<String> for TimeField {
    type Error = LakeError;

    fn try_from(name: String) -> Result<TimeField, LakeError> {
        TimeField::new(&name)
    }
}

impl From<TimeField> for String {
    fn from(field: TimeField) -> String {
        field.0
    }
}

/// The table's properties; `None` if it has none.
pub async fn read_properties(
    lake: &Lake,
    table: &TableRef,
) -> Result<Option<TableProperties>, LakeError> {
    let key = table.properties_key();
    let bytes = match lake.store.get(&key).await {
        Ok(got) => got.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let err = |reason: String| LakeError::Catalog {
        key: key.to_string(),
        reason,
    };
    let props: TableProperties = serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
    if props.version != FORMAT_VERSION {
        return Err(err(format!(
            "format version {}, this levee reads {FORMAT_VERSION}",
            props.version
        )));
    }
    Ok(Some(props))
}

/// Stores the table's properties, with one PUT: readers see the old file or
/// the new one.
pub async fn write_properties(
    lake: &Lake,
    table: &TableRef,
    props: &TableProperties,
) -> Result<(), LakeError> {
    let key = table.properties_key();
    let text = serde_json::to_vec_pretty(props).map_err(|e| LakeError::Catalog {
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    lake.store.put(&key, PutPayload::from(text)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_field_names_are_checked() {
        for good in ["time", "event_time", "_t", "T2"] {
            assert_eq!(TimeField::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "2t", "a-b", "a b", "dt", "HOUR", "é"] {
            assert!(TimeField::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(TimeField::default().as_str(), "time");
    }

    #[tokio::test]
    async fn properties_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let table = TableRef::new("db", "t").unwrap();
        assert_eq!(read_properties(&lake, &table).await.unwrap(), None);
        let props = TableProperties::new(TimeField::new("ts").unwrap());
        write_properties(&lake, &table, &props).await.unwrap();
        assert_eq!(read_properties(&lake, &table).await.unwrap(), Some(props));
        let text = std::fs::read_to_string(dir.path().join("db/t/_levee/table.json")).unwrap();
        assert!(text.contains(r#""time_field": "ts""#), "{text}");
        assert!(
            !text.contains("parquet"),
            "defaults are not written: {text}"
        );
        assert!(!text.contains("retention"), "{text}");
    }

    #[tokio::test]
    async fn parquet_layout_round_trips_and_old_files_read_as_default() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let table = TableRef::new("db", "t").unwrap();
        let layout = ParquetLayout {
            partition_by: PartitionBy::Day,
            sort_by: Some(ColumnName::new("msys.id").unwrap()),
            bloom_filters: vec![ColumnName::new("routing_domain").unwrap()],
            target_file_size: Some(1 << 20),
        };
        let props = TableProperties::new(TimeField::default()).with_parquet(layout);
        write_properties(&lake, &table, &props).await.unwrap();
        assert_eq!(read_properties(&lake, &table).await.unwrap(), Some(props));
        let old: TableProperties =
            serde_json::from_str(r#"{"version":1,"time_field":"time"}"#).unwrap();
        assert_eq!(old.parquet, ParquetLayout::default());
    }

    #[test]
    fn column_names_are_checked() {
        for good in ["routing_domain", "msys.message_event.id", "a b", "Time"] {
            assert_eq!(ColumnName::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "a..b", ".a", "a.", "dt", "HOUR.x"] {
            assert!(ColumnName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[tokio::test]
    async fn retention_round_trips_and_old_files_read_as_keep_forever() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let table = TableRef::new("db", "t").unwrap();
        let props = TableProperties::new(TimeField::default()).with_retention(Retention {
            keep_json: Some(Duration::from_secs(7 * 86_400)),
            keep_parquet: None,
        });
        write_properties(&lake, &table, &props).await.unwrap();
        assert_eq!(read_properties(&lake, &table).await.unwrap(), Some(props));
        let text = std::fs::read_to_string(dir.path().join("db/t/_levee/table.json")).unwrap();
        assert!(text.contains(r#""keep_json_secs": 604800"#), "{text}");
        let old: TableProperties =
            serde_json::from_str(r#"{"version":1,"time_field":"time"}"#).unwrap();
        assert!(old.retention.is_off());
    }
}
