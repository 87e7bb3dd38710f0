//! A table's properties, `<db>/<table>/_levee/table.json`: what compaction
//! and queries must know of a table that its chunks do not say.
//!
//! The lake output writes it before its first chunk of each run. A table
//! without it (written by an older levee, or by another writer) has no
//! event-time column: its chunks are read as they are.

use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

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
}

impl TableProperties {
    /// Properties with this event-time column.
    pub fn new(time_field: TimeField) -> TableProperties {
        TableProperties {
            version: FORMAT_VERSION,
            time_field,
        }
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
    }
}
