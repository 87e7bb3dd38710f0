//! `count_if(condition)`: how many rows the condition is true for.
//!
//! Athena's shorthand for `count(*) filter (where condition)`, which log
//! queries use constantly: `count_if(status >= 500)`. NULL counts as false,
//! and an empty input counts 0, never NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, internal_err, not_impl_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The `count_if` aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CountIf {
    signature: Signature,
}

impl Default for CountIf {
    fn default() -> Self {
        CountIf {
            signature: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CountIf {
    fn name(&self) -> &str {
        "count_if"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "count"),
            DataType::Int64,
            false,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return not_impl_err!("count_if(DISTINCT ...)");
        }
        Ok(Box::new(CountIfAccumulator { count: 0 }))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(CountIfGroups::default()))
    }
}

/// The rows of `values` that are true, not null, and pass `filter` (if any).
fn counted_rows(values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<BooleanBuffer> {
    let Some(values) = values.first() else {
        return internal_err!("count_if takes one argument");
    };
    let Some(values) = values.as_boolean_opt() else {
        return exec_err!("count_if expects a boolean, got {}", values.data_type());
    };
    let mut rows = true_and_valid(values);
    if let Some(filter) = filter {
        rows = &rows & &true_and_valid(filter);
    }
    Ok(rows)
}

fn true_and_valid(array: &BooleanArray) -> BooleanBuffer {
    match array.nulls() {
        Some(nulls) => array.values() & nulls.inner(),
        None => array.values().clone(),
    }
}

fn partial_counts(states: &[ArrayRef]) -> Result<&Int64Array> {
    match states
        .first()
        .and_then(|s| s.as_primitive_opt::<Int64Type>())
    {
        Some(counts) => Ok(counts),
        None => internal_err!("count_if's state is one Int64 column"),
    }
}

/// Counts for the aggregate without `GROUP BY`, and for window frames.
#[derive(Debug)]
struct CountIfAccumulator {
    count: i64,
}

impl Accumulator for CountIfAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.count += counted_rows(values, None)?.count_set_bits() as i64;
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.count -= counted_rows(values, None)?.count_set_bits() as i64;
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = partial_counts(states)?;
        self.count += counts.iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.count))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.count)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

/// One counter per group: the common case, `GROUP BY dt, status`.
#[derive(Debug, Default)]
struct CountIfGroups {
    counts: Vec<i64>,
}

impl CountIfGroups {
    fn bump(&mut self, group: usize, by: i64) -> Result<()> {
        match self.counts.get_mut(group) {
            Some(c) => {
                *c += by;
                Ok(())
            }
            None => internal_err!("count_if: group {group} out of range"),
        }
    }
}

impl GroupsAccumulator for CountIfGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.counts.resize(total_num_groups, 0);
        let rows = counted_rows(values, opt_filter)?;
        for row in rows.set_indices() {
            match group_indices.get(row) {
                Some(&group) => self.bump(group, 1)?,
                None => return internal_err!("count_if: row {row} has no group"),
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.counts.resize(total_num_groups, 0);
        let partial = partial_counts(values)?;
        for (&group, count) in group_indices.iter().zip(partial.iter()) {
            self.bump(group, count.unwrap_or(0))?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from(
            emit_to.take_needed(&mut self.counts),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    /// Each row as its own group: 1 where it counts, else 0. DataFusion
    /// switches to this when grouping barely reduces the rows.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = counted_rows(values, opt_filter)?;
        let state = Int64Array::from_iter_values(rows.iter().map(i64::from));
        Ok(vec![Arc::new(state)])
    }

    fn size(&self) -> usize {
        self.counts.capacity() * size_of::<i64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(v: &[Option<bool>]) -> ArrayRef {
        Arc::new(BooleanArray::from(v.to_vec()))
    }

    #[test]
    fn nulls_and_false_are_not_counted() {
        let mut acc = CountIfAccumulator { count: 0 };
        acc.update_batch(&[bools(&[Some(true), None, Some(false), Some(true)])])
            .unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(2)));
        acc.retract_batch(&[bools(&[Some(true)])]).unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(1)));
    }

    #[test]
    fn groups_count_separately_and_respect_the_filter_clause() {
        let mut acc = CountIfGroups::default();
        let values = bools(&[Some(true), Some(true), Some(true), None, Some(true)]);
        let filter =
            BooleanArray::from(vec![Some(true), Some(false), None, Some(true), Some(true)]);
        acc.update_batch(&[values], &[0, 0, 1, 1, 2], Some(&filter), 3)
            .unwrap();
        let partial = acc.state(EmitTo::All).unwrap();
        assert_eq!(partial[0].as_primitive::<Int64Type>().values(), &[1, 0, 1]);

        let mut merged = CountIfGroups::default();
        merged.merge_batch(&partial, &[1, 1, 0], 2).unwrap();
        let out = merged.evaluate(EmitTo::All).unwrap();
        assert_eq!(out.as_primitive::<Int64Type>().values(), &[1, 1]);

        let rows = bools(&[Some(true), None, Some(false), Some(true)]);
        let state = acc.convert_to_state(&[rows], None).unwrap();
        assert_eq!(state[0].as_primitive::<Int64Type>().values(), &[1, 0, 0, 1]);
    }
}
