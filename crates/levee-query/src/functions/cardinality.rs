//! `cardinality(x)`: the number of elements of an array or entries of a map,
//! as a `bigint`.
//!
//! DataFusion's own `cardinality`, which this one replaces, counts the
//! innermost elements of a nested array (`cardinality([[1, 2], [3]])` is 3)
//! and answers in an unsigned type; Trino counts the top level (2) and
//! answers a `bigint`, which subtracts without surprises. NULL stays NULL;
//! an empty array is 0.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The `cardinality` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Cardinality {
    signature: Signature,
}

impl Default for Cardinality {
    fn default() -> Self {
        Cardinality {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Cardinality {
    fn name(&self) -> &str {
        "cardinality"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [
                DataType::Null
                | DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::Map(..),
            ] => Ok(DataType::Int64),
            [other] => exec_err!(
                "cardinality takes an array or a map, got {}",
                super::type_of::trino_name(other)
            ),
            _ => exec_err!("cardinality takes one argument"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("cardinality takes one argument");
        };
        let values = value.to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(lengths(&values)?) as ArrayRef))
    }
}

fn lengths(values: &ArrayRef) -> Result<Int64Array> {
    let nulls = values.logical_nulls();
    let lengths: Vec<i64> = match values.data_type() {
        DataType::Null => vec![0; values.len()],
        DataType::List(_) => lengths_of(values.as_list::<i32>().value_offsets()),
        DataType::LargeList(_) => lengths_of(values.as_list::<i64>().value_offsets()),
        DataType::Map(..) => lengths_of(values.as_map().value_offsets()),
        DataType::FixedSizeList(_, n) => vec![i64::from(*n); values.len()],
        other => return exec_err!("cardinality takes an array or a map, got {other}"),
    };
    Ok(Int64Array::new(lengths.into(), nulls))
}

fn lengths_of<O: Copy + Into<i64>>(offsets: &[O]) -> Vec<i64> {
    offsets
        .windows(2)
        .map(|w| w[1].into() - w[0].into())
        .collect()
}
