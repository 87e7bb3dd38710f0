//! `typeof(x)`: the name of an expression's type, as Trino spells it.
//!
//! Trino's names, not Arrow's: `varchar`, `bigint`, `double`,
//! `timestamp(3)`, `array(varchar)`, `map(varchar, bigint)`. Two differences
//! come from the engine underneath, not from this function: a string has no
//! declared length (`varchar`, where Trino says `varchar(3)` for `'cat'`), and
//! an integer literal is a `bigint` (Trino's is an `integer`).

use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The `typeof` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TypeOf {
    signature: Signature,
}

impl Default for TypeOf {
    fn default() -> Self {
        TypeOf {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("typeof takes one argument");
        };
        // The type, not the value: the same for every row, NULLs included.
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(trino_name(
            &value.data_type(),
        )))))
    }
}

/// Trino's name for an Arrow type.
pub fn trino_name(t: &DataType) -> String {
    use DataType::*;
    match t {
        Null => "unknown".into(),
        Boolean => "boolean".into(),
        Int8 => "tinyint".into(),
        Int16 | UInt8 => "smallint".into(),
        Int32 | UInt16 => "integer".into(),
        Int64 | UInt32 => "bigint".into(),
        // Trino has no unsigned 64-bit integer; its decimal holds every value.
        UInt64 => "decimal(20,0)".into(),
        Float16 | Float32 => "real".into(),
        Float64 => "double".into(),
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => {
            format!("decimal({p},{s})")
        }
        Utf8 | LargeUtf8 | Utf8View => "varchar".into(),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "varbinary".into(),
        Date32 | Date64 => "date".into(),
        Time32(unit) | Time64(unit) => format!("time({})", precision(unit)),
        Timestamp(unit, None) => format!("timestamp({})", precision(unit)),
        Timestamp(unit, Some(_)) => format!("timestamp({}) with time zone", precision(unit)),
        Interval(IntervalUnit::YearMonth) => "interval year to month".into(),
        Interval(_) | Duration(_) => "interval day to second".into(),
        List(f) | LargeList(f) | FixedSizeList(f, _) | ListView(f) | LargeListView(f) => {
            format!("array({})", trino_name(f.data_type()))
        }
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => format!(
                "map({}, {})",
                trino_name(kv[0].data_type()),
                trino_name(kv[1].data_type())
            ),
            other => format!("map({})", trino_name(other)),
        },
        Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.name(), trino_name(f.data_type())))
                .collect();
            format!("row({})", fields.join(", "))
        }
        Dictionary(_, values) => trino_name(values),
        RunEndEncoded(_, values) => trino_name(values.data_type()),
        // Union has no Trino counterpart; Arrow's own name says what it is.
        other => other.to_string().to_lowercase(),
    }
}

/// Digits of a second's fraction: Trino's precision for a time unit.
fn precision(unit: &TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::Field;

    use super::*;

    #[test]
    fn names_types_as_trino_does() {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let cases = [
            (DataType::Utf8View, "varchar"),
            (DataType::Int64, "bigint"),
            (DataType::Int32, "integer"),
            (DataType::Float64, "double"),
            (DataType::Boolean, "boolean"),
            (DataType::Null, "unknown"),
            (DataType::Date32, "date"),
            (DataType::Decimal128(10, 2), "decimal(10,2)"),
            (
                DataType::Timestamp(TimeUnit::Millisecond, None),
                "timestamp(3)",
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                "timestamp(9) with time zone",
            ),
            (DataType::List(item.clone()), "array(varchar)"),
            (
                DataType::Struct(vec![Field::new("a", DataType::Int64, true)].into()),
                "row(a bigint)",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(trino_name(&t), want, "{t}");
        }
    }
}
