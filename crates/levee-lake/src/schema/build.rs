//! One read of an hour's JSON lines: each line parsed once, straight into
//! Arrow builders, the hour's schema growing as it goes (a new field is a
//! new column, null before; an integer column that meets a float becomes a
//! float column). Reading the lines twice, once to infer the schema and once
//! to decode them with it, cost compaction two JSON parses per line.
//!
//! It takes the lines the fast schema pass takes ([`TableSchema::absorb_json`])
//! that need no widening to text, and gives the schema that pass gives and
//! the columns the Arrow JSON decoder would give with it. Anything else (a
//! type conflict that makes a column text, a field to rename, a duplicate
//! key, a line that is no JSON object) is refused: the caller then reads
//! the hour the two-pass way, which knows all of those.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Builder,
    ListArray, NullArray, NullBufferBuilder, RecordBatch, RecordBatchOptions, StringBuilder,
    StructArray, TimestampMicrosecondBuilder, new_null_array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use indexmap::IndexMap;

use super::{ChangeKind, Changes, ColumnType, Columns, Crumb, TableSchema};

mod line;
mod sizes;

use sizes::Size;
pub(crate) use sizes::Sizes;

/// A line [`HourColumns::push_line`] does not take; the columns are of no
/// use after it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused;

/// The Arrow columns of an hour's lines, and their schema.
pub(crate) struct HourColumns {
    root: StructCol,
    /// The table's event-time column, if it has one.
    time_field: Option<String>,
    /// The event-time column's time zone (UTC), as Arrow reads timestamps in.
    utc: Tz,
    changes: Changes,
    /// The sizes of the columns of the segment before, if any: the room
    /// new columns start with.
    sizes: Sizes,
}

/// What an hour's lines came to.
pub(crate) struct Built {
    /// The hour's schema, as the schema pass infers it.
    pub schema: TableSchema,
    /// Type conflicts within the hour (integers that became floats).
    pub changes: Changes,
    /// The rows, with `schema`'s Arrow schema; none without rows or columns.
    pub batch: Option<RecordBatch>,
}

impl HourColumns {
    /// No rows yet, for a table whose event-time column is `time_field`.
    pub fn new(time_field: Option<&str>) -> HourColumns {
        HourColumns::sized(time_field, Sizes::default())
    }

    /// No rows yet, with room for columns of `sizes` (see [`HourColumns::sizes`]).
    pub fn sized(time_field: Option<&str>, sizes: Sizes) -> HourColumns {
        HourColumns {
            root: StructCol::default(),
            time_field: time_field.map(str::to_owned),
            utc: crate::UTC_OFFSET
                .parse()
                .unwrap_or_else(|_| unreachable!("a fixed offset parses")),
            changes: Changes::default(),
            sizes,
        }
    }

    /// The sizes of the columns so far, for the next segment's.
    pub fn sizes(&self) -> Sizes {
        Sizes::of(&self.root)
    }

    /// Rows so far.
    pub fn rows(&self) -> usize {
        self.root.len
    }

    /// Reads the record on `line` into the columns.
    pub fn push_line(&mut self, line: &str) -> Result<(), Refused> {
        let HourColumns {
            root,
            time_field,
            utc,
            changes,
            sizes,
        } = self;
        line::Line::new(line, sizes).record(root, time_field.as_deref(), utc, changes)
    }

    /// The schema and the rows.
    pub fn finish(mut self) -> Result<Built, arrow::error::ArrowError> {
        let rows = self.root.len;
        self.root.pad_fields();
        let (schema, columns) = finish_fields(self.root.fields);
        let schema = TableSchema { columns: schema };
        let arrow_schema = schema.to_arrow();
        let batch = if rows == 0 || columns.is_empty() {
            None
        } else {
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            Some(RecordBatch::try_new_with_options(
                arrow_schema,
                columns,
                &options,
            )?)
        };
        Ok(Built {
            schema,
            changes: self.changes,
            batch,
        })
    }
}

/// A column being built, of the type its values have shown so far.
enum Col {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    /// The event-time column: microseconds, UTC.
    Time(TimestampMicrosecondBuilder),
    List(Box<ListCol>),
    Struct(Box<StructCol>),
}

/// A list column: offsets into its elements, which may be only nulls (or
/// none) so far.
struct ListCol {
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    element: Option<Col>,
    /// Elements so far (null ones included).
    elements: usize,
}

/// A struct column (or the record itself): its fields are the ones seen
/// with a value, in the order first seen. A field is given the nulls of
/// the rows without it only when a later row has it, or at the end: most
/// records leave out many of the fields (each kind of the bench's events
/// has its own), and a null for each at the end of each row was 7% of
/// compaction's instructions (cachegrind, the bench's 500,000 events).
struct StructCol {
    fields: IndexMap<String, Col, foldhash::fast::RandomState>,
    nulls: NullBufferBuilder,
    len: usize,
    /// The field expected next in the object being read: the one after
    /// the field read last.
    next: usize,
}

/// The kind of a JSON value, as it comes to a column.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    List,
    Map,
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::Bool(b) => b.len(),
            Col::Int(b) => b.len(),
            Col::Float(b) => b.len(),
            Col::Str(b) => b.len(),
            Col::Time(b) => b.len(),
            Col::List(l) => l.offsets.len() - 1,
            Col::Struct(s) => s.len,
        }
    }

    /// A column for values of `kind`, with `nulls` nulls first, and room
    /// for `room` (as the segment before had it), if given.
    fn new(kind: Kind, nulls: usize, room: Option<Size>) -> Col {
        let mut col = match (kind, room) {
            (Kind::Bool, None) => Col::Bool(BooleanBuilder::new()),
            (Kind::Bool, Some(r)) => Col::Bool(BooleanBuilder::with_capacity(r.values)),
            (Kind::Int, None) => Col::Int(Int64Builder::new()),
            (Kind::Int, Some(r)) => Col::Int(Int64Builder::with_capacity(r.values)),
            (Kind::Float, None) => Col::Float(Float64Builder::new()),
            (Kind::Float, Some(r)) => Col::Float(Float64Builder::with_capacity(r.values)),
            (Kind::String, None) => Col::Str(StringBuilder::new()),
            (Kind::String, Some(r)) => Col::Str(StringBuilder::with_capacity(r.values, r.bytes)),
            (Kind::List, _) => Col::List(Box::new(ListCol {
                offsets: {
                    let mut offsets = Vec::with_capacity(room.map_or(0, |r| r.values) + 1);
                    offsets.push(0);
                    offsets
                },
                nulls: NullBufferBuilder::new(0),
                element: None,
                elements: 0,
            })),
            (Kind::Map, _) => Col::Struct(Box::default()),
        };
        col.append_nulls(nulls);
        col
    }

    fn new_time(nulls: usize, room: Option<Size>) -> Col {
        let b = match room {
            Some(r) => TimestampMicrosecondBuilder::with_capacity(r.values),
            None => TimestampMicrosecondBuilder::new(),
        };
        let mut b = b.with_timezone(crate::UTC_OFFSET);
        b.append_nulls(nulls);
        Col::Time(b)
    }

    fn append_null(&mut self) {
        match self {
            Col::Bool(b) => b.append_null(),
            Col::Int(b) => b.append_null(),
            Col::Float(b) => b.append_null(),
            Col::Str(b) => b.append_null(),
            Col::Time(b) => b.append_null(),
            Col::List(l) => {
                l.offsets.push(l.elements as i32);
                l.nulls.append_null();
            }
            Col::Struct(s) => s.append_nulls(1),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            Col::Bool(b) => b.append_nulls(n),
            Col::Int(b) => b.append_nulls(n),
            Col::Float(b) => b.append_nulls(n),
            Col::Str(b) => b.append_nulls(n),
            Col::Time(b) => b.append_nulls(n),
            Col::List(l) => {
                let end = l.elements as i32;
                l.offsets.extend(std::iter::repeat_n(end, n));
                l.nulls.append_n_nulls(n);
            }
            Col::Struct(s) => s.append_nulls(n),
        }
    }

    /// Nulls up to `len` values (see [`StructCol`]).
    fn pad_to(&mut self, len: usize) {
        if let Some(missing) = len.checked_sub(self.len()) {
            self.append_nulls(missing);
        }
    }

    /// Makes an integer column a float column, as the schema pass widens it.
    fn widen_to_float(&mut self, at: &Crumb<'_>, changes: &mut Changes) {
        let Col::Int(ints) = self else {
            return;
        };
        let ints = ints.finish();
        let mut floats = Float64Builder::with_capacity(ints.len());
        for v in ints.iter() {
            floats.append_option(v.map(|i| i as f64));
        }
        changes.push(
            at,
            ChangeKind::Widened {
                from: ColumnType::Int64.to_string(),
                to: ColumnType::Float64.to_string(),
            },
        );
        *self = Col::Float(floats);
    }

    /// The column's type and values.
    fn finish(self) -> (ColumnType, ArrayRef) {
        match self {
            Col::Bool(mut b) => (ColumnType::Bool, Arc::new(b.finish())),
            Col::Int(mut b) => (ColumnType::Int64, Arc::new(b.finish())),
            Col::Float(mut b) => (ColumnType::Float64, Arc::new(b.finish())),
            Col::Str(mut b) => (ColumnType::String, Arc::new(b.finish())),
            Col::Time(mut b) => (ColumnType::Timestamp, Arc::new(b.finish())),
            Col::List(l) => l.finish(),
            Col::Struct(mut s) => {
                s.pad_fields();
                let StructCol {
                    fields,
                    mut nulls,
                    len,
                    ..
                } = *s;
                let (columns, arrays) = finish_fields(fields);
                let t = ColumnType::Struct(columns);
                let array: ArrayRef = match t.to_arrow() {
                    // `{}` only: as the Arrow decoder reads it, nulls.
                    DataType::Struct(fields) => {
                        Arc::new(StructArray::new(fields, arrays, nulls.finish()))
                    }
                    _ => Arc::new(NullArray::new(len)),
                };
                (t, array)
            }
        }
    }
}

impl ListCol {
    fn finish(mut self) -> (ColumnType, ArrayRef) {
        let (element, values) = match self.element {
            Some(col) => col.finish(),
            None => (
                ColumnType::Null,
                Arc::new(NullArray::new(self.elements)) as ArrayRef,
            ),
        };
        let field: FieldRef = Arc::new(Field::new_list_field(element.to_arrow(), true));
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        let array = ListArray::new(field, offsets, values, self.nulls.finish());
        (ColumnType::List(Box::new(element)), Arc::new(array))
    }
}

impl Default for StructCol {
    fn default() -> StructCol {
        StructCol {
            fields: IndexMap::default(),
            nulls: NullBufferBuilder::new(0),
            len: 0,
            next: 0,
        }
    }
}

impl StructCol {
    /// `n` null rows: their fields' nulls come later (see [`StructCol`]).
    fn append_nulls(&mut self, n: usize) {
        self.nulls.append_n_nulls(n);
        self.len += n;
    }

    /// Ends a row whose object was read; the fields it lacked are null,
    /// later (see [`StructCol`]).
    fn end_row(&mut self) {
        self.nulls.append_non_null();
        self.len += 1;
        self.next = 0;
    }

    /// Gives every field its nulls up to the struct's rows.
    fn pad_fields(&mut self) {
        for col in self.fields.values_mut() {
            col.pad_to(self.len);
        }
    }
}

/// The fields' types and values.
fn finish_fields(
    fields: IndexMap<String, Col, foldhash::fast::RandomState>,
) -> (Columns, Vec<ArrayRef>) {
    let mut columns = Columns::default();
    let mut arrays = Vec::with_capacity(fields.len());
    for (name, col) in fields {
        let (t, array) = col.finish();
        columns.insert(name, t);
        arrays.push(array);
    }
    (columns, arrays)
}

/// `batch` (an hour's, from [`HourColumns`]) made to fit the Arrow schema
/// `to` (the table's, which the hour's schema was joined into): columns and
/// struct fields the hour lacks are null, integers the table has as floats
/// are floats. `None` when a value would have to become text (or a `{}`
/// a struct), which the two-pass way does.
pub(crate) fn fit_batch(batch: &RecordBatch, to: &SchemaRef) -> Option<RecordBatch> {
    let from = batch.schema();
    let rows = batch.num_rows();
    let columns = to
        .fields()
        .iter()
        .map(|field| match from.index_of(field.name()) {
            Ok(i) => fit(batch.column(i), field.data_type()),
            Err(_) => Some(new_null_array(field.data_type(), rows)),
        })
        .collect::<Option<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(to.clone(), columns, &options).ok()
}

fn fit(array: &ArrayRef, to: &DataType) -> Option<ArrayRef> {
    if array.data_type() == to {
        return Some(array.clone());
    }
    match (array.data_type(), to) {
        // Only `{}` (a struct of no fields) is `null` here, which the
        // Arrow decoder makes a struct of nulls, not a null struct.
        (DataType::Null, DataType::Struct(_)) => None,
        (DataType::Null, _) => Some(new_null_array(to, array.len())),
        (DataType::Int64, DataType::Float64) => cast(array, to).ok(),
        (DataType::Struct(_), DataType::Struct(fields)) => {
            let s = array.as_struct();
            let columns = fields
                .iter()
                .map(|f| match s.column_by_name(f.name()) {
                    Some(c) => fit(c, f.data_type()),
                    None => Some(new_null_array(f.data_type(), s.len())),
                })
                .collect::<Option<Vec<_>>>()?;
            let fitted = StructArray::try_new(fields.clone(), columns, s.nulls().cloned()).ok()?;
            Some(Arc::new(fitted))
        }
        (DataType::List(_), DataType::List(field)) => {
            let l = array.as_list::<i32>();
            let values = fit(l.values(), field.data_type())?;
            let fitted = ListArray::try_new(
                field.clone(),
                l.offsets().clone(),
                values,
                l.nulls().cloned(),
            )
            .ok()?;
            Some(Arc::new(fitted))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use arrow_json::ReaderBuilder;

    use super::*;

    /// The two reads: the schema pass, then the Arrow JSON decoder with
    /// its schema.
    pub(super) fn two_reads(
        lines: &[String],
        time_field: Option<&str>,
    ) -> (TableSchema, Option<RecordBatch>) {
        let mut schema = TableSchema::default();
        let mut changes = Changes::default();
        for line in lines {
            schema
                .absorb_json(line.as_bytes(), time_field, &mut changes)
                .unwrap();
        }
        let arrow_schema = schema.to_arrow();
        if arrow_schema.fields().is_empty() {
            return (schema, None);
        }
        let mut decoder = ReaderBuilder::new(arrow_schema)
            .with_batch_size(1 << 20)
            .with_coerce_primitive(true)
            .build_decoder()
            .unwrap();
        let text = lines.join("\n");
        // As `decode` does: the lines as they are, or if the decoder
        // refuses them, as records made to fit the schema.
        let plain = decoder.decode(text.as_bytes()).and_then(|read| {
            assert_eq!(read, text.len());
            decoder.flush()
        });
        if let Ok(batch) = plain {
            return (schema, batch);
        }
        let records: Vec<levee_event::Record> = lines
            .iter()
            .map(|line| {
                let mut record = serde_json::from_str(line).unwrap();
                crate::schema::prepare_record(&mut record, time_field);
                schema.conform(&mut record);
                record
            })
            .collect();
        let mut decoder = ReaderBuilder::new(schema.to_arrow())
            .with_batch_size(1 << 20)
            .with_coerce_primitive(true)
            .build_decoder()
            .unwrap();
        decoder.serialize(&records).unwrap();
        (schema, decoder.flush().unwrap())
    }

    pub(super) fn one_read(lines: &[String], time_field: Option<&str>) -> Result<Built, Refused> {
        let mut columns = HourColumns::new(time_field);
        for line in lines {
            columns.push_line(line)?;
        }
        Ok(columns.finish().unwrap())
    }

    /// Numbers below `n`, the same ones for the same `seed` (xorshift).
    pub(super) fn random(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    pub(super) fn assert_same(lines: &[String], time_field: Option<&str>) {
        let built = one_read(lines, time_field).unwrap();
        let (schema, batch) = two_reads(lines, time_field);
        assert_eq!(built.schema, schema, "{lines:#?}");
        assert_eq!(built.batch, batch, "{lines:#?}");
    }

    #[test]
    fn one_read_gives_the_schema_and_columns_of_two() {
        let lines: Vec<String> = [
            r#"{"time":"2026-12-05T01:02:03.123Z","b":1,"a":"x","n":{"z":true,"f":1.5},"l":[1,2],"e":[],"o":{},"nul":null}"#,
            r#"{"b":2.5,"time":null,"n":{"z":false,"new":[{"k":1}]},"l":[1.5,null],"big":18446744073709551615}"#,
            r#"{"b":null,"n":null,"e":[null,[1]],"o":{"p":{"q":null}},"esc\"aped":"\u00e9","nested":{"esc\"aped":1}}"#,
            r#"{"n":{"x":1,"z":null},"l":null,"late":[[],[{"a":[1.5]}]],"time":"2026-12-05 01:02:04+01:00"}"#,
            r#"{}"#,
            r#"{"x":{"dt":1,"hour":2,"Time":3}}"#,
        ]
        .map(str::to_owned)
        .to_vec();
        for n in 1..=lines.len() {
            assert_same(&lines[..n], Some("time"));
            assert_same(&lines[..n], None);
        }
        let built = one_read(&lines, Some("time")).unwrap();
        let widened: Vec<_> = built.changes.list.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(widened, ["b", "l[]"]);
    }

    /// Lines that need what only the two reads do are refused.
    #[test]
    fn lines_for_the_two_reads_are_refused() {
        for (first, second) in [
            (r#"{"a":1}"#, r#"{"a":"x"}"#),
            (r#"{"a":{"b":1}}"#, r#"{"a":[1]}"#),
            (r#"{"a":[1]}"#, r#"{"a":["x"]}"#),
            (r#"{"a":{}}"#, r#"{"a":1}"#),
            (r#"{"a":1}"#, r#"{"dt":1}"#),
            (r#"{"a":1}"#, r#"{"Time":"2026-12-05T01:02:03Z"}"#),
            (r#"{"a":1}"#, r#"{"time":"yesterday"}"#),
            (r#"{"a":1}"#, r#"{"time":1764896525}"#),
            (r#"{"a":1}"#, r#"{"a":2,"a":3}"#),
            (r#"{"a":1}"#, r#"{"b":2,"b":null}"#),
            (r#"{"a":1}"#, r#"{"s":{"b":2,"b":3}}"#),
            (
                r#"{"a":1}"#,
                r#"{"time":"2026-12-05T01:02:03Z","time":null}"#,
            ),
            (r#"{"a":1}"#, r#"[1]"#),
            (r#"{"a":1}"#, r#"{"a":1} x"#),
            (r#"{"a":1}"#, r#"{"a":"#),
        ] {
            let lines = [first.to_owned(), second.to_owned()];
            assert!(
                one_read(&lines, Some("time")).is_err(),
                "{second} taken after {first}"
            );
        }
    }

    #[test]
    fn a_batch_fits_a_wider_table_or_says_it_cannot() {
        let lines = [
            r#"{"i":1,"s":{"a":1},"l":[1]}"#.to_owned(),
            r#"{"i":2,"l":[]}"#.to_owned(),
        ];
        let built = one_read(&lines, None).unwrap();
        let batch = built.batch.unwrap();
        let wide = [
            r#"{"x":true,"i":1.5,"s":{"b":"t","a":2.5},"l":[1.5]}"#.to_owned(),
            lines[0].clone(),
            lines[1].clone(),
        ];
        let (mut table, _) = two_reads(&wide, None);
        let fitted = fit_batch(&batch, &table.to_arrow()).unwrap();
        let (_, expected) = two_reads(&wide, None);
        assert_eq!(fitted, expected.unwrap().slice(1, 2));
        // A column the table has as text: the two reads write it.
        table.columns.insert("i".to_owned(), ColumnType::String);
        assert!(fit_batch(&batch, &table.to_arrow()).is_none());
    }

    /// Lines of random shape (fields that come and go, nulls, nesting,
    /// integers and floats mixed) read once give what two reads give.
    #[test]
    fn random_lines_read_once_match_two_reads() {
        let mut next = random(0x9e37_79b9_7f4a_7c15);
        fn value(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> String {
            match next(if depth > 2 { 5 } else { 7 }) {
                0 => "null".to_owned(),
                1 => next(1000).to_string(),
                2 => format!("{}.{}", next(100), next(10)),
                3 => format!("\"s{}\"", next(5)),
                4 => ["true", "false"][next(2) as usize].to_owned(),
                5 => {
                    let items: Vec<String> = (0..next(3)).map(|_| value(next, depth + 1)).collect();
                    format!("[{}]", items.join(","))
                }
                _ => object(next, depth + 1),
            }
        }
        fn object(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> String {
            let mut fields: Vec<String> = Vec::new();
            for name in ["a", "b", "c", "d"] {
                if next(3) > 0 {
                    fields.push(format!("\"{name}\":{}", value(next, depth)));
                }
            }
            // Now and then in another order.
            if next(4) == 0 {
                fields.reverse();
            }
            format!("{{{}}}", fields.join(","))
        }
        let mut compared = 0;
        for _ in 0..3000 {
            let lines: Vec<String> = (0..1 + next(4)).map(|_| object(&mut next, 0)).collect();
            if one_read(&lines, None).is_ok() {
                assert_same(&lines, None);
                compared += 1;
            }
        }
        assert!(compared > 300, "only {compared} compared");
    }
}
