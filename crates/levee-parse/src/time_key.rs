//! The `time_key`, `time_format` and `time_zone` options of the `regex`,
//! `logfmt`, `ltsv` and `csv` parsers: which field holds the event time,
//! and how to read it.

use crate::ParserConfigError;
use crate::time::{Now, TimeSpec};

/// A validated `time_key` with its [`TimeSpec`].
#[derive(Clone, Debug)]
pub(crate) struct TimeKey {
    key: String,
    spec: TimeSpec,
}

impl TimeKey {
    /// `None` when `time_key` is not set. An empty key, a bad format or
    /// zone, and a format or zone without a key are refused.
    pub(crate) fn new(
        key: Option<&str>,
        format: Option<&str>,
        zone: Option<&str>,
    ) -> Result<Option<TimeKey>, ParserConfigError> {
        let spec = TimeSpec::new(format, zone)?;
        match key {
            Some("") => Err(ParserConfigError::EmptyTimeKey),
            Some(key) => Ok(Some(TimeKey {
                key: key.to_owned(),
                spec,
            })),
            None if format.is_some() || zone.is_some() => {
                Err(ParserConfigError::TimeOptionWithoutKey)
            }
            None => Ok(None),
        }
    }

    /// The field's name.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Reads the time field's text into [`EventTime`]. Blank text is no
    /// time rather than a bad one, as an empty CSV cell or `ts=` says.
    pub(crate) fn read(&self, text: &[u8], now: Now) -> EventTime {
        if text.trim_ascii().is_empty() {
            return EventTime::default();
        }
        let time = self.spec.parse_with(text, now);
        EventTime {
            time,
            error: time.is_none(),
        }
    }
}

/// A line's event time as its time field gave it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EventTime {
    /// Nanoseconds since the epoch UTC, if the field read as a time.
    pub(crate) time: Option<i64>,
    /// The field was there but did not read as a time.
    pub(crate) error: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_event::time::NANOS_PER_SEC;

    const SEPT_1: i64 = 1_535_803_200 * NANOS_PER_SEC; // 2018-09-01T12:00:00Z

    fn read(key: &TimeKey, text: &str) -> EventTime {
        key.read(text.as_bytes(), Now::At(SEPT_1))
    }

    #[test]
    fn reads_with_the_spec() {
        let auto = TimeKey::new(Some("ts"), None, None).unwrap().unwrap();
        assert_eq!(auto.key(), "ts");
        let ok = |time| EventTime {
            time: Some(time),
            error: false,
        };
        assert_eq!(read(&auto, "2018-09-01T12:00:00Z"), ok(SEPT_1));
        assert_eq!(read(&auto, " 1535803200 "), ok(SEPT_1));
        let bad = EventTime {
            time: None,
            error: true,
        };
        assert_eq!(read(&auto, "yesterday"), bad);
        assert_eq!(read(&auto, "  "), EventTime::default());

        let custom = TimeKey::new(Some("t"), Some("%d/%m/%Y %H:%M"), Some("+02:00"))
            .unwrap()
            .unwrap();
        assert_eq!(read(&custom, "01/09/2018 14:00"), ok(SEPT_1));
    }

    #[test]
    fn unset_empty_and_orphan_options() {
        assert!(TimeKey::new(None, None, None).unwrap().is_none());
        assert_eq!(
            TimeKey::new(Some(""), None, None).unwrap_err(),
            ParserConfigError::EmptyTimeKey
        );
        assert_eq!(
            TimeKey::new(None, Some("epoch"), None).unwrap_err(),
            ParserConfigError::TimeOptionWithoutKey
        );
        assert!(TimeKey::new(Some("t"), Some("nonsense"), None).is_err());
        assert!(TimeKey::new(Some("t"), None, Some("Mars/Olympus")).is_err());
    }
}
