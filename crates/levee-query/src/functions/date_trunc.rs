//! `date_trunc(unit, t)` on a UTC `timestamp with time zone`, by arithmetic.
//!
//! DataFusion's own `date_trunc` takes any time zone through chrono, value
//! by value, unless the timestamp has none at all; levee's time columns are
//! `+00:00`, so `date_trunc('hour', "time")` went the slow way and was most
//! of a time histogram's cost. In a zone that is UTC, truncating is the
//! same as truncating the bare UTC value, so this one hands DataFusion's
//! function the timestamps without their zone (its arithmetic path), and
//! puts the zone back on the answer. Every other case, and everything else
//! about the function (its units, errors, types and ordering), is
//! DataFusion's, unchanged.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, make_array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// The `date_trunc` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateTrunc {
    inner: Arc<ScalarUDF>,
}

impl Default for DateTrunc {
    fn default() -> Self {
        DateTrunc {
            inner: datafusion::functions::datetime::date_trunc(),
        }
    }
}

/// Whether a zone name is UTC itself (the names Arrow reads as offset 0).
fn is_utc(zone: &str) -> bool {
    matches!(
        zone,
        "+00:00" | "+0000" | "+00" | "-00:00" | "UTC" | "Etc/UTC"
    )
}

/// The zone of a UTC timestamp type, if that is what `data_type` is.
fn utc_zone(data_type: &DataType) -> Option<Arc<str>> {
    match data_type {
        DataType::Timestamp(_, Some(zone)) if is_utc(zone) => Some(zone.clone()),
        _ => None,
    }
}

/// `data_type` with its time zone set to `zone`.
fn with_zone(data_type: &DataType, zone: Option<Arc<str>>) -> DataType {
    match data_type {
        DataType::Timestamp(unit, _) => DataType::Timestamp(*unit, zone),
        other => other.clone(),
    }
}

/// The same values under another time zone (no copy: only the type changes).
fn rezone_array(array: &ArrayRef, zone: Option<Arc<str>>) -> Result<ArrayRef> {
    let data_type = with_zone(array.data_type(), zone);
    let data = array
        .to_data()
        .into_builder()
        .data_type(data_type)
        .build()?;
    Ok(make_array(data))
}

fn rezone_scalar(value: &ScalarValue, zone: Option<Arc<str>>) -> ScalarValue {
    match value {
        ScalarValue::TimestampSecond(v, _) => ScalarValue::TimestampSecond(*v, zone),
        ScalarValue::TimestampMillisecond(v, _) => ScalarValue::TimestampMillisecond(*v, zone),
        ScalarValue::TimestampMicrosecond(v, _) => ScalarValue::TimestampMicrosecond(*v, zone),
        ScalarValue::TimestampNanosecond(v, _) => ScalarValue::TimestampNanosecond(*v, zone),
        other => other.clone(),
    }
}

fn rezone(value: &ColumnarValue, zone: Option<Arc<str>>) -> Result<ColumnarValue> {
    Ok(match value {
        ColumnarValue::Array(array) => ColumnarValue::Array(rezone_array(array, zone)?),
        ColumnarValue::Scalar(scalar) => ColumnarValue::Scalar(rezone_scalar(scalar, zone)),
    })
}

fn rezone_field(field: &FieldRef, zone: Option<Arc<str>>) -> FieldRef {
    let data_type = with_zone(field.data_type(), zone);
    Arc::new(Field::clone(field).with_data_type(data_type))
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(args)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = match args.args.get(1) {
            Some(time) => utc_zone(&time.data_type()),
            None => None,
        };
        let Some(zone) = zone else {
            return self.inner.invoke_with_args(args);
        };
        args.args[1] = rezone(&args.args[1], None)?;
        if let Some(field) = args.arg_fields.get_mut(1) {
            *field = rezone_field(field, None);
        }
        args.return_field = rezone_field(&args.return_field, None);
        let truncated = self.inner.invoke_with_args(args)?;
        rezone(&truncated, Some(zone))
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{TimeUnit, TimestampMicrosecondType};
    use datafusion::config::ConfigOptions;

    use super::*;

    /// Calls `f` on `unit` and `times` as a query would.
    fn call(f: &dyn ScalarUDFImpl, unit: &str, times: &ArrayRef) -> Result<ArrayRef> {
        let unit = ColumnarValue::Scalar(ScalarValue::Utf8(Some(unit.to_owned())));
        let arg_fields = vec![
            Arc::new(Field::new("unit", DataType::Utf8, false)),
            Arc::new(Field::new("t", times.data_type().clone(), true)),
        ];
        let return_field = Arc::new(Field::new("out", times.data_type().clone(), true));
        let args = ScalarFunctionArgs {
            args: vec![unit, ColumnarValue::Array(times.clone())],
            arg_fields,
            number_rows: times.len(),
            return_field,
            config_options: Arc::new(ConfigOptions::default()),
        };
        f.invoke_with_args(args)?.to_array(times.len())
    }

    /// Microseconds from 1969 into 2040, spread unevenly, with nulls and
    /// the instants either side of midnight, a month's and a year's turn.
    fn times(zone: &str) -> ArrayRef {
        let mut values: Vec<Option<i64>> = (0..5_000i64)
            .map(|i| {
                Some(-40_000_000_000_000 + i * 450_000_000_123 + (i * i * 7_919) % 86_400_000_000)
            })
            .collect();
        values.extend([
            None,
            Some(0),
            Some(-1),
            Some(1_538_351_999_999_999), // 2018-09-30T23:59:59.999999Z
            Some(1_538_352_000_000_000), // 2018-10-01T00:00:00Z
            Some(1_546_300_799_999_999), // 2018-12-31T23:59:59.999999Z
            Some(951_782_400_000_000),   // 2000-02-29T00:00:00Z
        ]);
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone(zone))
    }

    const UNITS: [&str; 10] = [
        "microsecond",
        "millisecond",
        "second",
        "minute",
        "hour",
        "day",
        "week",
        "month",
        "quarter",
        "year",
    ];

    #[test]
    fn a_utc_zone_truncates_as_datafusion_does_and_keeps_its_zone() {
        let ours = DateTrunc::default();
        let theirs = datafusion::functions::datetime::date_trunc();
        for zone in ["+00:00", "+0000", "+00", "-00:00", "UTC", "Etc/UTC"] {
            let times = times(zone);
            for unit in UNITS {
                let got = call(&ours, unit, &times).unwrap();
                let want = call(theirs.inner().as_ref(), unit, &times).unwrap();
                assert_eq!(got.data_type(), want.data_type(), "{zone} {unit}");
                assert_eq!(
                    got.as_primitive::<TimestampMicrosecondType>().values(),
                    want.as_primitive::<TimestampMicrosecondType>().values(),
                    "{zone} {unit}"
                );
                assert_eq!(got.nulls(), want.nulls(), "{zone} {unit}");
            }
        }
    }

    #[test]
    fn an_hour_of_utc_truncates_to_the_hour() {
        let times: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(1_538_355_599_999_999), None])
                .with_timezone("+00:00"),
        );
        let got = call(&DateTrunc::default(), "HOUR", &times).unwrap();
        assert_eq!(
            got.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        );
        let got = got.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(got.value(0), 1_538_352_000_000_000); // 2018-10-01T00:00:00Z
        assert!(got.is_null(1));
    }

    #[test]
    fn another_zone_and_bad_units_are_datafusions_answers() {
        let ours = DateTrunc::default();
        let theirs = datafusion::functions::datetime::date_trunc();
        let kolkata = times("+05:30");
        for unit in ["hour", "day", "month"] {
            let got = call(&ours, unit, &kolkata).unwrap();
            let want = call(theirs.inner().as_ref(), unit, &kolkata).unwrap();
            assert_eq!(&got, &want, "{unit}");
        }
        let err = call(&ours, "fortnight", &times("+00:00")).unwrap_err();
        assert!(err.to_string().contains("fortnight"), "{err}");
    }
}
