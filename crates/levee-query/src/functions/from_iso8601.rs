//! `from_iso8601_timestamp(string)`: an ISO 8601 time as a UTC timestamp.
//!
//! Accepts what Arrow's timestamp parser accepts: `2018-09-01`,
//! `2018-09-01T13:07:30Z`, fractions, `+02:00` offsets, and a space for the
//! `T`. A time without an offset is taken as UTC (Athena would take the
//! session's zone, which for levee is always UTC). Text that is not a time
//! gives NULL, as in `date_parse`.

use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The `from_iso8601_timestamp` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FromIso8601Timestamp {
    signature: Signature,
}

impl Default for FromIso8601Timestamp {
    fn default() -> Self {
        FromIso8601Timestamp {
            signature: Signature::string(1, Volatility::Immutable),
        }
    }
}

/// Millisecond precision in UTC: Athena's `timestamp(3) with time zone`.
fn output_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

impl ScalarUDFImpl for FromIso8601Timestamp {
    fn name(&self) -> &str {
        "from_iso8601_timestamp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(output_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("from_iso8601_timestamp takes one string");
        };
        let values = value.to_array(args.number_rows)?;
        // `safe` turns unparsable text into NULL instead of an error.
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        let out = cast_with_options(&values, &output_type(), &options)?;
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use datafusion::arrow::datatypes::{Field, TimestampMillisecondType};
    use datafusion::config::ConfigOptions;

    use super::*;

    #[test]
    fn parses_iso_times_and_nulls_the_rest() {
        let input: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2018-09-01T13:07:30Z"),
            Some("2018-09-01T15:07:30.5+02:00"),
            Some("2018-09-01"),
            Some("yesterday"),
            None,
        ]));
        let f = FromIso8601Timestamp::default();
        let out = f
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(input)],
                arg_fields: vec![Arc::new(Field::new("s", DataType::Utf8, true))],
                number_rows: 5,
                return_field: Arc::new(Field::new("t", output_type(), true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .to_array(5)
            .unwrap();
        let out = out.as_primitive::<TimestampMillisecondType>();
        assert_eq!(out.value(0), 1_535_807_250_000);
        assert_eq!(out.value(1), 1_535_807_250_500);
        assert_eq!(out.value(2), 1_535_760_000_000);
        assert!(out.is_null(3));
        assert!(out.is_null(4));
    }
}
