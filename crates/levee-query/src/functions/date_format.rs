//! `date_format(timestamp, format)`: a time as text, with MySQL's format
//! specifiers as Athena takes them (`'%Y-%m-%d %H:00'`).
//!
//! A timestamp with a zone is written in that zone's wall-clock time; one
//! without is written as it is. A date counts as its midnight.

use std::fmt::Write;
use std::sync::Arc;

use chrono::DateTime;
use chrono::format::{Item, StrftimeItems};
use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampNanosecondType};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::mysql_format::{Direction, to_strftime};
use super::strings;

/// The `date_format` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateFormat {
    signature: Signature,
}

impl Default for DateFormat {
    fn default() -> Self {
        DateFormat {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateFormat {
    fn name(&self) -> &str {
        "date_format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null,
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null,
            ] => Ok(DataType::Utf8),
            _ => plan_err!("date_format takes a timestamp and a format string, got {args:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [value, format] = args.args.as_slice() else {
            return exec_err!("date_format takes a timestamp and a format");
        };
        // Nanoseconds of wall-clock time: a zone's offset is applied by the cast.
        let nanos = cast(
            &value.to_array(n)?,
            &DataType::Timestamp(TimeUnit::Nanosecond, None),
        )?;
        let nanos = nanos.as_primitive::<TimestampNanosecondType>();
        let out: StringArray = match format {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(f) | ScalarValue::Utf8View(f) | ScalarValue::LargeUtf8(f),
            ) => match f {
                Some(f) => {
                    let chrono_fmt = to_strftime(f, Direction::Format)?;
                    let items = items(&chrono_fmt)?;
                    nanos
                        .iter()
                        .map(|t| t.and_then(|t| render(t, &items)))
                        .collect()
                }
                None => vec![None::<String>; n].into_iter().collect(),
            },
            _ => {
                let formats = format.to_array(n)?;
                let mut out = Vec::with_capacity(n);
                for (t, f) in nanos.iter().zip(strings(&formats)?) {
                    out.push(match (t, f) {
                        (Some(t), Some(f)) => {
                            render(t, &items(&to_strftime(f, Direction::Format)?)?)
                        }
                        _ => None,
                    });
                }
                out.into_iter().collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

/// chrono's parsed format; an error here is one chrono would otherwise only
/// report by failing to print.
fn items(strftime: &str) -> Result<Vec<Item<'_>>> {
    match StrftimeItems::new(strftime).parse() {
        Ok(items) => Ok(items),
        Err(e) => exec_err!("date_format: bad format `{strftime}`: {e}"),
    }
}

fn render(nanos: i64, items: &[Item<'_>]) -> Option<String> {
    let t = DateTime::from_timestamp_nanos(nanos).naive_utc();
    let mut out = String::new();
    write!(out, "{}", t.format_with_items(items.iter())).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(nanos: i64, mysql: &str) -> Option<String> {
        let f = to_strftime(mysql, Direction::Format).unwrap();
        render(nanos, &items(&f).unwrap())
    }

    #[test]
    fn formats_like_athena() {
        // 2018-09-01T13:07:30.25Z
        let t = 1_535_807_250_250_000_000;
        assert_eq!(
            fmt(t, "%Y-%m-%d %H:00").as_deref(),
            Some("2018-09-01 13:00")
        );
        assert_eq!(
            fmt(t, "%e %M %Y, %l%p").as_deref(),
            Some("1 September 2018, 1PM")
        );
        assert_eq!(fmt(t, "%s.%f").as_deref(), Some("30.250000"));
        assert_eq!(fmt(t, "%a %W %j").as_deref(), Some("Sat Saturday 244"));
    }
}
