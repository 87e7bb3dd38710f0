//! Athena's functions that DataFusion lacks, registered in one list.
//!
//! DataFusion already has `approx_distinct`, `date_trunc`, `regexp_like`,
//! `from_unixtime` and most string functions under Athena's names; what is
//! here fills the gaps: `count_if`, `date_parse`, `date_format`,
//! `from_iso8601_timestamp`, `regexp_extract`, `url_extract_path`, and
//! `approx_percentile` as another name for `approx_percentile_cont`.
//! Adding a function is a module and a line in [`scalar_functions`] or
//! [`aggregate_functions`].

mod count_if;
mod date_format;
mod date_parse;
mod from_iso8601;
pub mod mysql_format;
mod regexp_extract;
mod url_extract;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::functions_aggregate::approx_percentile_cont::approx_percentile_cont_udaf;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use count_if::CountIf;
pub use date_format::DateFormat;
pub use date_parse::DateParse;
pub use from_iso8601::FromIso8601Timestamp;
pub use regexp_extract::RegexpExtract;
pub use url_extract::UrlExtractPath;

/// Every scalar function levee adds.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(DateFormat::default()),
        ScalarUDF::from(DateParse::default()),
        ScalarUDF::from(FromIso8601Timestamp::default()),
        ScalarUDF::from(RegexpExtract::default()),
        ScalarUDF::from(UrlExtractPath::default()),
    ]
}

/// Every aggregate function levee adds, and DataFusion's own under Athena's
/// other names.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(CountIf::default()),
        // Athena's `approx_percentile(x, 0.99)` is DataFusion's
        // `approx_percentile_cont(x, 0.99)`, arguments in the same order.
        approx_percentile_cont_udaf()
            .as_ref()
            .clone()
            .with_aliases(["approx_percentile"]),
    ]
}

/// Registers all of them with a session.
pub fn register(ctx: &SessionContext) {
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f);
    }
}

/// The strings of an argument, whichever of Arrow's string types it came as
/// (Parquet columns arrive as views, JSON ones as plain `Utf8`).
fn strings(array: &ArrayRef) -> Result<Box<dyn Iterator<Item = Option<&str>> + '_>> {
    Ok(match array.data_type() {
        DataType::Utf8 => Box::new(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => Box::new(array.as_string::<i64>().iter()),
        DataType::Utf8View => Box::new(array.as_string_view().iter()),
        DataType::Null => Box::new((0..array.len()).map(|_| None)),
        other => return exec_err!("expected a string, got {other}"),
    })
}
