//! Sizes and durations as users write them in config: `"64MiB"`, `"30s"`.

use std::cell::RefCell;
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
                let size = parse_size(s).map_err(|e| {
                    E::custom(format!("invalid size {s:?} ({e}); write e.g. \"64MiB\""))
                })?;
                if is_decimal(s) {
                    DECIMAL_SIZES.with(|seen| seen.borrow_mut().push(s.to_owned()));
                }
                Ok(Size(size))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a size as written in config: `"64MiB"`, `"64MB"`, `"1000"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
}

/// True for a size in decimal units (`"64MB"`, `"1k"`), where a binary
/// one (`"64MiB"`) is most often meant: the two differ by 5% at MB and 7%
/// at GB, enough to misjudge a buffer.
fn is_decimal(text: &str) -> bool {
    let unit = text
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
    let unit = unit.to_ascii_lowercase();
    !unit.is_empty() && unit != "b" && !unit.contains('i')
}

thread_local! {
    /// Sizes read in decimal units on this thread, as written.
    static DECIMAL_SIZES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The sizes in decimal units (`"64MB"`) deserialized on this thread
/// since the last call, as written, in order. They are accepted (as
/// 64,000,000 bytes); the config loader warns that `MiB` may be meant. A
/// `Size` is a plain number once read, so this is how the loader learns
/// which were written so.
pub fn take_decimal_sizes() -> Vec<String> {
    DECIMAL_SIZES.with(|seen| std::mem::take(&mut *seen.borrow_mut()))
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
    fn decimal_sizes_are_read_as_written_and_noted() {
        take_decimal_sizes();
        let t: T = toml::from_str("size = \"64MB\"\nevery = \"1s\"").unwrap();
        assert_eq!(t.size, Size(64_000_000));
        assert_eq!(take_decimal_sizes(), ["64MB"]);
        for binary in ["64MiB", "64 KiB", "100", "1B"] {
            let _: T = toml::from_str(&format!("size = {binary:?}\nevery = \"1s\"")).unwrap();
            assert_eq!(take_decimal_sizes(), Vec::<String>::new(), "{binary}");
        }
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
