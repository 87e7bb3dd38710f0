//! `element_at(array, index)` and `element_at(map, key)`, as Trino has them.
//!
//! An array's index starts at 1; a negative one counts from the end; one
//! past either end gives NULL, and 0 is an error. A map gives the key's
//! value, or NULL when the key is not there. DataFusion's own `element_at`
//! is another name for `map_extract`, which answers a map with a one-element
//! array and does not take arrays at all; this one replaces it.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Scalar, UInt64Array};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::type_of::trino_name;

/// The `element_at` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ElementAt {
    signature: Signature,
}

impl Default for ElementAt {
    fn default() -> Self {
        ElementAt {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The key type and value type of a map type.
fn map_types(entries: &DataType) -> Result<(DataType, DataType)> {
    match entries {
        DataType::Struct(kv) if kv.len() == 2 => {
            Ok((kv[0].data_type().clone(), kv[1].data_type().clone()))
        }
        other => exec_err!("element_at: a map's entries are not key and value: {other}"),
    }
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        "element_at"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [container, at] = args else {
            return exec_err!("element_at takes an array and an index, or a map and a key");
        };
        match container {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                if at.is_integer() || at.is_null() {
                    Ok(vec![container.clone(), DataType::Int64])
                } else {
                    exec_err!(
                        "element_at: an array's index must be an integer, got {}",
                        trino_name(at)
                    )
                }
            }
            DataType::Map(entries, _) => {
                let (key, _) = map_types(entries.data_type())?;
                Ok(vec![container.clone(), key])
            }
            DataType::Null => Ok(vec![DataType::Null, at.clone()]),
            other => exec_err!(
                "element_at takes an array or a map, got {}",
                trino_name(other)
            ),
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => {
                Ok(f.data_type().clone())
            }
            Some(DataType::Map(entries, _)) => Ok(map_types(entries.data_type())?.1),
            Some(DataType::Null) => Ok(DataType::Null),
            _ => exec_err!("element_at takes an array or a map"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [container, at] = args.args.as_slice() else {
            return exec_err!("element_at takes two arguments");
        };
        let containers = container.to_array(n)?;
        let out = match containers.data_type() {
            DataType::Null => containers,
            DataType::Map(..) => map_lookup(&containers, at, n)?,
            _ => {
                let at = at.to_array(n)?;
                let Some(at) = at.as_primitive_opt::<Int64Type>() else {
                    return exec_err!("element_at: an array's index must be an integer");
                };
                array_lookup(&containers, at.iter())?
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// Where each row's elements start and end among the flattened values.
fn bounds(array: &ArrayRef) -> Result<(Vec<(usize, usize)>, ArrayRef)> {
    fn pairs<O: Copy + TryInto<usize>>(offsets: &[O]) -> Vec<(usize, usize)> {
        let at = |o: O| o.try_into().unwrap_or(0);
        offsets.windows(2).map(|w| (at(w[0]), at(w[1]))).collect()
    }
    Ok(match array.data_type() {
        DataType::List(_) => {
            let a = array.as_list::<i32>();
            (pairs(a.value_offsets()), a.values().clone())
        }
        DataType::LargeList(_) => {
            let a = array.as_list::<i64>();
            (pairs(a.value_offsets()), a.values().clone())
        }
        DataType::FixedSizeList(_, size) => {
            let a = array.as_fixed_size_list();
            let size = usize::try_from(*size).unwrap_or(0);
            let rows = (0..a.len()).map(|i| (i * size, (i + 1) * size)).collect();
            (rows, a.values().clone())
        }
        other => return exec_err!("element_at takes an array or a map, got {other}"),
    })
}

/// One element of each row's array, by Trino's 1-based, signed index.
fn array_lookup(arrays: &ArrayRef, indexes: impl Iterator<Item = Option<i64>>) -> Result<ArrayRef> {
    let (rows, values) = bounds(arrays)?;
    let mut take_at = Vec::with_capacity(rows.len());
    for (row, ((start, end), index)) in rows.into_iter().zip(indexes).enumerate() {
        let Some(index) = index.filter(|_| arrays.is_valid(row)) else {
            take_at.push(None);
            continue;
        };
        take_at.push(position(start, end, index)?.map(|p| p as u64));
    }
    Ok(take(values.as_ref(), &UInt64Array::from(take_at), None)?)
}

/// Where `index` falls in `start..end`, if anywhere.
fn position(start: usize, end: usize, index: i64) -> Result<Option<usize>> {
    let len = end - start;
    let back = usize::try_from(index.unsigned_abs()).unwrap_or(usize::MAX);
    Ok(match index {
        0 => return exec_err!("element_at: SQL array indices start at 1"),
        1.. if back <= len => Some(start + back - 1),
        ..0 if back <= len => Some(end - back),
        _ => None,
    })
}

/// Each row's value for its key, or NULL.
fn map_lookup(maps: &ArrayRef, key: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    let map = maps.as_map();
    let (keys, values) = (map.keys(), map.values());
    let offsets = map.value_offsets();
    let span = |row: usize| {
        let at = |o: i32| usize::try_from(o).unwrap_or(0);
        (at(offsets[row]), at(offsets[row + 1]))
    };
    let mut take_at: Vec<Option<u64>> = Vec::with_capacity(n);
    match key {
        // One key for every row, the usual case: compare all keys at once.
        ColumnarValue::Scalar(k) => {
            if k.is_null() {
                return Ok(datafusion::arrow::array::new_null_array(
                    values.data_type(),
                    n,
                ));
            }
            let hits = eq(keys, &k.to_scalar()?)?;
            for row in 0..n {
                let (start, end) = span(row);
                take_at.push(first_hit(&hits, start, end).filter(|_| map.is_valid(row)));
            }
        }
        ColumnarValue::Array(ks) => {
            for row in 0..n {
                let (start, end) = span(row);
                if map.is_null(row) || ks.is_null(row) {
                    take_at.push(None);
                    continue;
                }
                let hits = eq(
                    &keys.slice(start, end - start),
                    &Scalar::new(ks.slice(row, 1)),
                )?;
                take_at.push(first_hit(&hits, 0, end - start).map(|p| p + start as u64));
            }
        }
    }
    Ok(take(values.as_ref(), &UInt64Array::from(take_at), None)?)
}

fn first_hit(hits: &BooleanArray, start: usize, end: usize) -> Option<u64> {
    (start..end)
        .find(|&i| hits.is_valid(i) && hits.value(i))
        .map(|i| i as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_trino() {
        // An array of three at offset 10.
        assert_eq!(position(10, 13, 1).unwrap(), Some(10));
        assert_eq!(position(10, 13, 3).unwrap(), Some(12));
        assert_eq!(position(10, 13, 4).unwrap(), None);
        assert_eq!(position(10, 13, -1).unwrap(), Some(12));
        assert_eq!(position(10, 13, -3).unwrap(), Some(10));
        assert_eq!(position(10, 13, -4).unwrap(), None);
        assert_eq!(position(10, 10, 1).unwrap(), None);
        assert_eq!(position(0, 3, i64::MIN).unwrap(), None);
        let err = position(10, 13, 0).unwrap_err().to_string();
        assert!(err.contains("start at 1"), "{err}");
    }
}
