//! `from_unixtime(seconds[, zone])`: a count of seconds since 1970, fraction
//! included, as a timestamp with milliseconds, in UTC or the zone given.
//!
//! DataFusion's own `from_unixtime`, which this one replaces, takes whole
//! seconds only; Trino's takes a `double` and answers a `timestamp(3) with
//! time zone`, as `from_iso8601_timestamp` does here. The zone is a literal
//! (`'America/New_York'`, `'+02:00'`): it is part of the answer's type. NULL
//! stays NULL; a count too large for a timestamp, infinity, NaN and an
//! unknown zone are errors. Trino's `from_unixtime(seconds, hours, minutes)`
//! is not here.

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{ArrayRef, AsArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The `from_unixtime` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FromUnixtime {
    signature: Signature,
}

impl Default for FromUnixtime {
    fn default() -> Self {
        FromUnixtime {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Millisecond precision in a zone: Athena's `timestamp(3) with time zone`.
fn output_type(zone: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(zone.into()))
}

/// Seconds a millisecond timestamp can hold, with room to spare.
const LIMIT_SECONDS: f64 = 9.0e15;

impl ScalarUDFImpl for FromUnixtime {
    fn name(&self) -> &str {
        "from_unixtime"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [t] if t.is_numeric() || t.is_null() => Ok(vec![DataType::Float64]),
            [t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8]
                if t.is_numeric() || t.is_null() =>
            {
                Ok(vec![DataType::Float64, DataType::Utf8])
            }
            _ => {
                exec_err!("from_unixtime takes a number of seconds and maybe a zone, got {args:?}")
            }
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(output_type("UTC"))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let zone = match args.scalar_arguments {
            [_] => "UTC",
            [
                _,
                Some(
                    ScalarValue::Utf8(Some(zone))
                    | ScalarValue::Utf8View(Some(zone))
                    | ScalarValue::LargeUtf8(Some(zone)),
                ),
            ] => zone.as_str(),
            _ => return exec_err!("from_unixtime: the zone must be a literal such as 'UTC'"),
        };
        if let Err(e) = zone.parse::<Tz>() {
            return exec_err!("from_unixtime: unknown time zone '{zone}': {e}");
        }
        Ok(Arc::new(Field::new(self.name(), output_type(zone), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(seconds) = args.args.first() else {
            return exec_err!("from_unixtime takes a number of seconds");
        };
        let DataType::Timestamp(_, zone) = args.return_field.data_type() else {
            return exec_err!("from_unixtime answers a timestamp");
        };
        let seconds = seconds.to_array(args.number_rows)?;
        let Some(seconds) = seconds.as_primitive_opt::<Float64Type>() else {
            return exec_err!("from_unixtime takes a number of seconds");
        };
        let mut out = Vec::with_capacity(seconds.len());
        for s in seconds.iter() {
            out.push(match s {
                None => None,
                Some(s) if s.is_finite() && s.abs() < LIMIT_SECONDS => {
                    // Rounded to the millisecond, as Trino rounds.
                    Some((s * 1000.0).round() as i64)
                }
                Some(s) => return exec_err!("from_unixtime: {s} seconds is out of range"),
            });
        }
        let out = TimestampMillisecondArray::from(out).with_timezone_opt(zone.clone());
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}
