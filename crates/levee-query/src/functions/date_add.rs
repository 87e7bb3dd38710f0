//! `date_add(unit, value, t)`: `t` plus `value` units, as Trino adds.
//!
//! Units are Trino's (`millisecond` .. `year`, any case); `value` is an
//! integer, negative to go back; `t` a date or a timestamp (or text, read as
//! a timestamp), and the answer has `t`'s type. A month added to Jan 31 is
//! Feb 28 (or 29). Any NULL gives NULL; an unknown unit, a unit finer than a
//! day on a date, and a result out of range are errors.

use datafusion::arrow::array::{ArrayRef, AsArray, Date32Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::strings;
use super::time_unit::{
    Unit, add, check_unit_type, datetimes, is_date, time_type, to_days, to_epoch,
};

/// The `date_add` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateAdd {
    signature: Signature,
}

impl Default for DateAdd {
    fn default() -> Self {
        DateAdd {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateAdd {
    fn name(&self) -> &str {
        "date_add"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [unit, value, t] = args else {
            return exec_err!("date_add takes a unit, a number of them and a time");
        };
        check_unit_type("date_add", unit)?;
        if !(value.is_integer() || value.is_null()) {
            return exec_err!("date_add: the number of units must be an integer, got {value}");
        }
        let Some(t) = time_type(t) else {
            return exec_err!("date_add adds to a date or a timestamp, got {t}");
        };
        Ok(vec![DataType::Utf8, DataType::Int64, t])
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [_, _, t] => Ok(t.clone()),
            _ => exec_err!("date_add takes a unit, a number of them and a time"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [unit, value, t] = args.args.as_slice() else {
            return exec_err!("date_add takes a unit, a number of them and a time");
        };
        let out_type = t.data_type();
        let dates = is_date(&out_type);
        let units = unit.to_array(n)?;
        let values = value.to_array(n)?;
        let Some(values) = values.as_primitive_opt::<Int64Type>() else {
            return exec_err!("date_add: the number of units must be an integer");
        };
        let times = datetimes(&t.to_array(n)?)?;
        let mut parsed: Option<(&str, Unit)> = None;
        let mut sums = Vec::with_capacity(n);
        for ((unit, v), t) in strings(&units)?.zip(values.iter()).zip(times) {
            let (Some(name), Some(v), Some(t)) = (unit, v, t) else {
                sums.push(None);
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
            match add(t, unit, v) {
                Some(sum) => sums.push(Some(sum)),
                None => return exec_err!("date_add: {t} plus {v} {name}s is out of range"),
            }
        }
        let out: ArrayRef = match &out_type {
            DataType::Timestamp(unit, _) => {
                let mut raw = Vec::with_capacity(n);
                for sum in sums {
                    raw.push(match sum {
                        None => None,
                        Some(s) => match to_epoch(s, *unit) {
                            Some(e) => Some(e),
                            None => return exec_err!("date_add: {s} is out of range"),
                        },
                    });
                }
                // Int64 to a timestamp keeps the count and takes the zone.
                cast(&Int64Array::from(raw), &out_type)?
            }
            DataType::Null => datafusion::arrow::array::new_null_array(&DataType::Null, n),
            _ => {
                let days: Date32Array = sums.into_iter().map(|s| s.and_then(to_days)).collect();
                cast(&days, &out_type)?
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
