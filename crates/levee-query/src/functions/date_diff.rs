//! `date_diff(unit, t1, t2)`: `t2 - t1` in whole units, as Trino counts.
//!
//! Units are Trino's (`millisecond` .. `year`, any case); `t1` and `t2` are
//! dates or timestamps, or text read as a timestamp. The count goes towards
//! zero: from 23:00 to 01:00 the next day is 0 days. A month has passed when
//! the later time reaches the earlier's day and time of day, or its own
//! month's last day (Jan 31 to Feb 28 is one month). Any NULL gives NULL; an
//! unknown unit, or one finer than a day between two dates, is an error.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::strings;
use super::time_unit::{Unit, check_unit_type, datetimes, diff, is_date, time_type};

/// The `date_diff` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateDiff {
    signature: Signature,
}

impl Default for DateDiff {
    fn default() -> Self {
        DateDiff {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &str {
        "date_diff"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [unit, a, b] = args else {
            return exec_err!("date_diff takes a unit and two times");
        };
        check_unit_type("date_diff", unit)?;
        match (time_type(a), time_type(b)) {
            (Some(a), Some(b)) => Ok(vec![DataType::Utf8, a, b]),
            _ => exec_err!("date_diff takes two dates or timestamps, got {a} and {b}"),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [unit, a, b] = args.args.as_slice() else {
            return exec_err!("date_diff takes a unit and two times");
        };
        let dates = is_date(&a.data_type()) && is_date(&b.data_type());
        let units = unit.to_array(n)?;
        let (a, b) = (datetimes(&a.to_array(n)?)?, datetimes(&b.to_array(n)?)?);
        let mut parsed: Option<(&str, Unit)> = None;
        let mut out = Vec::with_capacity(n);
        for ((unit, a), b) in strings(&units)?.zip(a).zip(b) {
            let (Some(name), Some(a), Some(b)) = (unit, a, b) else {
                out.push(None);
                continue;
            };
            let unit = match parsed {
                Some((seen, unit)) if seen == name => unit,
                _ => {
                    let unit = Unit::parse(name, dates)?;
                    parsed = Some((name, unit));
                    unit
                }
            };
            out.push(Some(diff(a, b, unit)));
        }
        Ok(ColumnarValue::Array(
            Arc::new(Int64Array::from(out)) as ArrayRef
        ))
    }
}
