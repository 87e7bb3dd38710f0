//! `date_parse(string, format)`: a timestamp from text, with MySQL's format
//! specifiers as Athena takes them (`'%d/%b/%Y:%H:%i:%s'`).
//!
//! The result is a timestamp in milliseconds without a zone, as Athena's.
//! A value that does not match the format gives NULL rather than failing the
//! query: DataFusion has no `try()` to wrap it in, and one odd log line
//! should not make a whole table unqueryable. A bad *format* is an error.

use std::sync::Arc;

use chrono::format::ParseErrorKind;
use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{ArrayRef, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::mysql_format::{Direction, to_strftime};
use super::strings;

/// The `date_parse` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateParse {
    signature: Signature,
}

impl Default for DateParse {
    fn default() -> Self {
        DateParse {
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateParse {
    fn name(&self) -> &str {
        "date_parse"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, format] = args.args.as_slice() else {
            return exec_err!("date_parse takes a string and a format");
        };
        let values = value.to_array(args.number_rows)?;
        let parsed: TimestampMillisecondArray = match format {
            // The usual case: one format for the whole column, translated once.
            ColumnarValue::Scalar(
                ScalarValue::Utf8(f) | ScalarValue::Utf8View(f) | ScalarValue::LargeUtf8(f),
            ) => match f {
                Some(f) => {
                    let fmt = to_strftime(f, Direction::Parse)?;
                    strings(&values)?
                        .map(|v| v.and_then(|v| parse_millis(v, &fmt)))
                        .collect()
                }
                None => vec![None; args.number_rows].into(),
            },
            _ => {
                let formats = format.to_array(args.number_rows)?;
                let mut out = Vec::with_capacity(args.number_rows);
                for (v, f) in strings(&values)?.zip(strings(&formats)?) {
                    out.push(match (v, f) {
                        (Some(v), Some(f)) => parse_millis(v, &to_strftime(f, Direction::Parse)?),
                        _ => None,
                    });
                }
                out.into()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(parsed) as ArrayRef))
    }
}

/// Parses with a chrono format; a format with only date fields gives midnight.
fn parse_millis(value: &str, strftime: &str) -> Option<i64> {
    let t = match NaiveDateTime::parse_from_str(value, strftime) {
        Ok(t) => t,
        Err(e) if e.kind() == ParseErrorKind::NotEnough => {
            NaiveDate::parse_from_str(value, strftime)
                .ok()?
                .and_hms_opt(0, 0, 0)?
        }
        Err(_) => return None,
    };
    Some(t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str, mysql: &str) -> Option<i64> {
        parse_millis(v, &to_strftime(mysql, Direction::Parse).unwrap())
    }

    #[test]
    fn parses_nginx_time_and_dates() {
        // 2018-09-01T13:07:30Z
        let t = 1_535_807_250_000;
        assert_eq!(parse("01/Sep/2018:13:07:30", "%d/%b/%Y:%H:%i:%s"), Some(t));
        assert_eq!(
            parse("2018-09-01 13:07:30.25", "%Y-%m-%d %H:%i:%s.%f"),
            Some(t + 250)
        );
        assert_eq!(
            parse("2018-09-01", "%Y-%m-%d"),
            Some(t - 13 * 3_600_000 - 450_000)
        );
        assert_eq!(parse("09/01/18 01:07:30 PM", "%m/%d/%y %r"), Some(t));
        assert_eq!(parse("not a date", "%Y-%m-%d"), None);
        assert_eq!(parse("2018-02-30", "%Y-%m-%d"), None);
    }
}
