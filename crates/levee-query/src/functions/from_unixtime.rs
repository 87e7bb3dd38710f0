//! `from_unixtime(seconds)`: a count of seconds since 1970, fraction
//! included, as a UTC timestamp with milliseconds.
//!
//! DataFusion's own `from_unixtime`, which this one replaces, takes whole
//! seconds only; Trino's takes a `double` and answers a `timestamp(3) with
//! time zone`, as `from_iso8601_timestamp` does here. NULL stays NULL; a
//! count too large for a timestamp, infinity and NaN are errors.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
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

/// Millisecond precision in UTC: Athena's `timestamp(3) with time zone`.
fn output_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
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
            [t] => exec_err!("from_unixtime takes a number of seconds, got {t}"),
            _ => exec_err!("from_unixtime takes one number of seconds"),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(output_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [seconds] = args.args.as_slice() else {
            return exec_err!("from_unixtime takes one number of seconds");
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
        let out = TimestampMillisecondArray::from(out).with_timezone("UTC");
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}
