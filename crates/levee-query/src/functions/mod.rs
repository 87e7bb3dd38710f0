//! Athena's functions that DataFusion lacks, registered in one list.
//!
//! DataFusion already has `approx_distinct`, `date_trunc`, `regexp_like`,
//! and most string functions under Athena's names; what is here fills the
//! gaps: `count_if`, `arbitrary`, `date_parse`, `date_format`, `date_add`,
//! `date_diff`, `from_iso8601_timestamp`, `regexp_extract`,
//! `json_extract`, `json_extract_scalar`, `url_extract_host`,
//! `url_extract_path`, `url_extract_parameter`, `url_decode`, `url_encode`,
//! `typeof`, and `approx_percentile` as another name for
//! `approx_percentile_cont`. Some of DataFusion's functions share a name
//! with Trino's but answer differently (`split_part` past the last field,
//! `cardinality` of a nested array, `element_at` on an array,
//! `to_unixtime` and `from_unixtime` without fractions): those are replaced
//! here by Trino's, each module saying how they differ. `date_trunc` is
//! DataFusion's, given UTC timestamps by a faster way. Adding a function
//! is a module and a line in [`scalar_functions`] or
//! [`aggregate_functions`].

mod cardinality;
mod count_if;
mod date_add;
mod date_diff;
mod date_format;
mod date_parse;
mod date_trunc;
mod element_at;
mod from_iso8601;
mod from_unixtime;
mod json_extract;
mod json_path;
pub mod mysql_format;
mod regexp_extract;
mod split_part;
mod time_unit;
mod to_unixtime;
mod type_of;
mod url_decode;
mod url_extract;
mod url_extract_parameter;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::functions_aggregate::any_value::any_value_udaf;
use datafusion::functions_aggregate::approx_percentile_cont::approx_percentile_cont_udaf;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use cardinality::Cardinality;
pub use count_if::CountIf;
pub use date_add::DateAdd;
pub use date_diff::DateDiff;
pub use date_format::DateFormat;
pub use date_parse::DateParse;
pub use date_trunc::DateTrunc;
pub use element_at::ElementAt;
pub use from_iso8601::FromIso8601Timestamp;
pub use from_unixtime::FromUnixtime;
pub use json_extract::JsonExtract;
pub use regexp_extract::RegexpExtract;
pub use split_part::SplitPart;
pub use to_unixtime::ToUnixtime;
pub use type_of::{TypeOf, trino_name};
pub use url_decode::UrlCodec;
pub use url_extract::UrlExtract;
pub use url_extract_parameter::UrlExtractParameter;

/// Every scalar function levee adds, and those that replace DataFusion's
/// own where Trino's answer differs (`split_part`, `cardinality`,
/// `element_at`): registered later, a function of the same name wins.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(Cardinality::default()),
        ScalarUDF::from(DateAdd::default()),
        ScalarUDF::from(DateDiff::default()),
        ScalarUDF::from(DateFormat::default()),
        ScalarUDF::from(DateParse::default()),
        ScalarUDF::from(DateTrunc::default()),
        ScalarUDF::from(ElementAt::default()),
        ScalarUDF::from(FromIso8601Timestamp::default()),
        ScalarUDF::from(FromUnixtime::default()),
        ScalarUDF::from(JsonExtract::json()),
        ScalarUDF::from(JsonExtract::scalar()),
        ScalarUDF::from(RegexpExtract::default()),
        ScalarUDF::from(SplitPart::default()),
        ScalarUDF::from(ToUnixtime::default()),
        ScalarUDF::from(TypeOf::default()),
        ScalarUDF::from(UrlCodec::decode()),
        ScalarUDF::from(UrlCodec::encode()),
        ScalarUDF::from(UrlExtract::host()),
        ScalarUDF::from(UrlExtractParameter::default()),
        ScalarUDF::from(UrlExtract::path()),
    ]
}

/// Every aggregate function levee adds, and DataFusion's own under Athena's
/// other names.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(CountIf::default()),
        // Athena's `arbitrary(x)` is DataFusion's `any_value(x)`: some
        // non-null value of the group, NULL when there is none.
        any_value_udaf()
            .as_ref()
            .clone()
            .with_aliases(["arbitrary"]),
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
