//! `to_unixtime(t)`: seconds since 1970 as a `double`, fraction included.
//!
//! DataFusion's own `to_unixtime`, which this one replaces, answers whole
//! seconds as a `bigint`; Trino keeps the fraction (`…30.5` is `….5`). A
//! date counts from its midnight (UTC); text is read as a timestamp; NULL
//! stays NULL.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::time_unit::time_type;

/// The `to_unixtime` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToUnixtime {
    signature: Signature,
}

impl Default for ToUnixtime {
    fn default() -> Self {
        ToUnixtime {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ToUnixtime {
    fn name(&self) -> &str {
        "to_unixtime"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [t] => match time_type(t) {
                // A Date64 is milliseconds already; read it as a timestamp.
                Some(DataType::Date64) => {
                    Ok(vec![DataType::Timestamp(TimeUnit::Millisecond, None)])
                }
                Some(t) => Ok(vec![t]),
                None => exec_err!("to_unixtime takes a timestamp or a date, got {t}"),
            },
            _ => exec_err!("to_unixtime takes one timestamp"),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [t] = args.args.as_slice() else {
            return exec_err!("to_unixtime takes one timestamp");
        };
        let times = t.to_array(args.number_rows)?;
        let seconds: Float64Array = match times.data_type() {
            DataType::Timestamp(unit, _) => {
                let per_second = match unit {
                    TimeUnit::Second => 1.0,
                    TimeUnit::Millisecond => 1e3,
                    TimeUnit::Microsecond => 1e6,
                    TimeUnit::Nanosecond => 1e9,
                };
                let raw = cast(&times, &DataType::Int64)?;
                raw.as_primitive::<Int64Type>()
                    .unary(|v| v as f64 / per_second)
            }
            DataType::Date32 => times
                .as_primitive::<Date32Type>()
                .unary(|d| f64::from(d) * 86_400.0),
            DataType::Null => Float64Array::new_null(times.len()),
            other => return exec_err!("to_unixtime takes a timestamp or a date, got {other}"),
        };
        Ok(ColumnarValue::Array(Arc::new(seconds) as ArrayRef))
    }
}
