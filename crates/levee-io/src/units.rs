//! Sizes and durations as users write them in config: `"64MiB"`, `"30s"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// A size in bytes, written `"64MiB"`, `"512KiB"`, `"1GB"` or a plain integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Size {
    /// The size as usize, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64MiB\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Size, E> {
                u64::try_from(n)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Size, E> {
                Ok(Size(n))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Size, E> {
                s.trim()
                    .parse::<bytesize::ByteSize>()
                    .map(|b| Size(b.as_u64()))
                    .map_err(|e| {
                        E::custom(format!("invalid size {s:?} ({e}); write e.g. \"64MiB\""))
                    })
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration, written `"30s"`, `"250ms"`, `"5m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval(pub Duration);

impl<'de> serde::Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Interval, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Interval;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Interval, E> {
                humantime::parse_duration(s.trim())
                    .map(Interval)
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid duration {s:?} ({e}); write e.g. \"30s\" or \"250ms\""
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct T {
        size: Size,
        every: Interval,
    }

    #[test]
    fn sizes_and_durations_parse_as_written() {
        let t: T = toml::from_str("size = \"64MiB\"\nevery = \"250ms\"").unwrap();
        assert_eq!(t.size, Size(64 * 1024 * 1024));
        assert_eq!(t.every, Interval(Duration::from_millis(250)));
        let t: T = toml::from_str("size = 1000\nevery = \"1m\"").unwrap();
        assert_eq!(t.size, Size(1000));
        assert_eq!(t.every.0, Duration::from_secs(60));
    }

    #[test]
    fn bad_units_say_what_to_write() {
        let err = toml::from_str::<T>("size = \"lots\"\nevery = \"1s\"")
            .err()
            .unwrap();
        assert!(err.to_string().contains("64MiB"), "{err}");
        let err = toml::from_str::<T>("size = -1\nevery = \"1s\"")
            .err()
            .unwrap();
        assert!(err.to_string().contains("negative"), "{err}");
        let err = toml::from_str::<T>("size = 1\nevery = \"soon\"")
            .err()
            .unwrap();
        assert!(err.to_string().contains("30s"), "{err}");
    }
}
