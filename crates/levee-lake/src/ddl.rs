//! The DDL that makes another engine read a table's Parquet as it lies:
//! `<root>/<db>/<table>/parquet/dt=YYYY-MM-DD/hour=HH/part-NNNNN.parquet`,
//! every file with the table's schema or an older, narrower one (columns
//! a file lacks read as NULL).
//!
//! The columns come from the catalog (`schema.json`), the partition columns
//! from the folders: `dt` as text (Athena, Trino) or a date (Spark, DuckDB,
//! which is how each reads such folders by itself) and `hour` as an int.
//! Athena gets partition projection, so no crawler and no `MSCK REPAIR
//! TABLE` are needed as hours arrive; Trino and Spark register the
//! partitions found, and must do it again for new hours.
//!
//! A `partition_by = "day"` table lies in `parquet/dt=YYYY-MM-DD/` and has
//! `dt` as its only partition column.

use std::fmt::{self, Write as _};

use crate::catalog;
use crate::properties::read_properties;
use crate::schema::{ColumnType, Columns};
use crate::{Lake, LakeError, PartitionBy, TableRef};

/// An engine to write DDL for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Amazon Athena (Hive DDL, partition projection).
    Athena,
    /// Trino's Hive connector.
    Trino,
    /// Spark SQL, a data-source table.
    Spark,
    /// DuckDB, a view over `read_parquet`.
    Duckdb,
}

impl Dialect {
    /// Every dialect, in the order the CLI lists them.
    pub const ALL: [Dialect; 4] = [
        Dialect::Athena,
        Dialect::Trino,
        Dialect::Spark,
        Dialect::Duckdb,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Athena => "athena",
            Dialect::Trino => "trino",
            Dialect::Spark => "spark",
            Dialect::Duckdb => "duckdb",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The DDL for `table` in `dialect`, with the lake's root at `root`: the
/// lake's own URL, or where another engine finds the same files
/// (`s3://bucket/prefix/`). Fails before the table's first compaction, as
/// there is no schema (and no Parquet) yet.
pub async fn table_ddl(
    lake: &Lake,
    table: &TableRef,
    dialect: Dialect,
    root: &str,
) -> Result<String, LakeError> {
    let Some(schema) = catalog::read_schema(lake, table).await? else {
        return Err(LakeError::Other(format!(
            "{table} has no schema yet: compact it first (levee compact --table {})",
            table.table
        )));
    };
    // Athena's projection starts at the first day; a table with no
    // manifest (compacted by an older levee) starts at the first JSON.
    let first_dt = match catalog::list_manifests(lake, table).await?.first() {
        Some(p) => Some(p.dt.clone()),
        None => lake
            .list_chunk_hours(table)
            .await?
            .keys()
            .next()
            .map(|p| p.dt.clone()),
    };
    let by = read_properties(lake, table)
        .await?
        .map(|p| p.parquet.partition_by)
        .unwrap_or_default();
    Ok(render(
        dialect,
        table,
        &schema.columns,
        root,
        first_dt.as_deref(),
        by,
    ))
}

/// The DDL itself, from the table's columns.
pub(crate) fn render(
    dialect: Dialect,
    table: &TableRef,
    columns: &Columns,
    root: &str,
    first_dt: Option<&str>,
    by: PartitionBy,
) -> String {
    let day = by == PartitionBy::Day;
    let location = format!(
        "{}/{}/{}/parquet",
        root.trim_end_matches('/'),
        table.database,
        table.table
    );
    let mut out = format!(
        "-- {table}: the Parquet `levee compact` writes, {dialect} DDL made by `levee tables --ddl {dialect}`.\n\
         -- Files a compaction replaced stay in their folder for the grace period (`levee compact --grace`),\n\
         -- and an engine that lists folders reads them too until then: compact with `--grace 0s` for it.\n"
    );
    match dialect {
        Dialect::Athena => athena(&mut out, table, columns, &location, first_dt, day),
        Dialect::Trino => trino(&mut out, table, columns, &location, day),
        Dialect::Spark => spark(&mut out, table, columns, &location, day),
        Dialect::Duckdb => duckdb(&mut out, table, &location, day),
    }
    out
}

fn athena(
    out: &mut String,
    table: &TableRef,
    columns: &Columns,
    location: &str,
    first_dt: Option<&str>,
    day: bool,
) {
    let name = format!("{}.{}", backquote(&table.database), backquote(&table.table));
    let _ = writeln!(
        out,
        "-- Partition projection: Athena computes the hours, no crawler and no MSCK REPAIR TABLE.\n\
         CREATE EXTERNAL TABLE IF NOT EXISTS {name} ("
    );
    column_list(out, columns, backquote, hive_type);
    let first_dt = first_dt.unwrap_or("2000-01-01");
    let (columns, hour, folders) = if day {
        ("`dt` string", "", "dt=${dt}/")
    } else {
        (
            "`dt` string, `hour` int",
            "'projection.hour.type' = 'integer',\n  \
             'projection.hour.range' = '0,23',\n  \
             'projection.hour.digits' = '2',\n  ",
            "dt=${dt}/hour=${hour}/",
        )
    };
    let _ = write!(
        out,
        ")\n\
         PARTITIONED BY ({columns})\n\
         STORED AS PARQUET\n\
         LOCATION {location}\n\
         TBLPROPERTIES (\n  \
         'projection.enabled' = 'true',\n  \
         'projection.dt.type' = 'date',\n  \
         'projection.dt.format' = 'yyyy-MM-dd',\n  \
         'projection.dt.range' = '{first_dt},NOW',\n  \
         'projection.dt.interval' = '1',\n  \
         'projection.dt.interval.unit' = 'DAYS',\n  \
         {hour}'storage.location.template' = {template}\n\
         );\n",
        location = literal(&format!("{location}/")),
        template = literal(&format!("{location}/{folders}")),
    );
}

fn trino(out: &mut String, table: &TableRef, columns: &Columns, location: &str, day: bool) {
    let _ = writeln!(
        out,
        "-- `hive` is the Hive connector's catalog; name yours.\n\
         CREATE TABLE IF NOT EXISTS hive.{}.{} (",
        quote(&table.database),
        quote(&table.table)
    );
    column_list(out, columns, quote, trino_type);
    let (hour, partitioned_by) = if day {
        ("", "'dt'")
    } else {
        ("  , \"hour\" integer\n", "'dt', 'hour'")
    };
    let _ = write!(
        out,
        "  , \"dt\" varchar\n{hour})\n\
         WITH (\n  \
         external_location = {location},\n  \
         format = 'PARQUET',\n  \
         partitioned_by = ARRAY[{partitioned_by}]\n\
         );\n\
         -- Registers the hours found; run it again as hours arrive.\n\
         CALL hive.system.sync_partition_metadata({db}, {t}, 'FULL');\n",
        location = literal(location),
        db = literal(&table.database),
        t = literal(&table.table),
    );
}

fn spark(out: &mut String, table: &TableRef, columns: &Columns, location: &str, day: bool) {
    let (db, t) = (spark_name(&table.database), spark_name(&table.table));
    if (&db, &t) != (&table.database, &table.table) {
        let _ = writeln!(
            out,
            "-- Spark's names hold only letters, digits and `_`: here the table is {db}.{t}."
        );
    }
    let name = format!("{}.{}", backquote(&db), backquote(&t));
    let _ = writeln!(
        out,
        "CREATE DATABASE IF NOT EXISTS {};\n\
         CREATE TABLE IF NOT EXISTS {name} (",
        backquote(&db)
    );
    column_list(out, columns, backquote, spark_type);
    let (hour, partitioned_by) = if day {
        ("", "`dt`")
    } else {
        ("  , `hour` INT\n", "`dt`, `hour`")
    };
    let _ = write!(
        out,
        "  , `dt` DATE\n{hour})\n\
         USING parquet\n\
         PARTITIONED BY ({partitioned_by})\n\
         LOCATION {location};\n\
         -- Registers the hours found; run it again as hours arrive.\n\
         MSCK REPAIR TABLE {name};\n",
        location = literal(location),
    );
}

fn duckdb(out: &mut String, table: &TableRef, location: &str, day: bool) {
    // DuckDB reads local files by path; `file://` is what the lake's URL says.
    let location = location.strip_prefix("file://").unwrap_or(location);
    let (files, types) = if day {
        (format!("{location}/dt=*/part-*.parquet"), "{'dt': DATE}")
    } else {
        (
            format!("{location}/dt=*/hour=*/part-*.parquet"),
            "{'dt': DATE, 'hour': INTEGER}",
        )
    };
    let _ = write!(
        out,
        "-- union_by_name: an hour written before a column was added reads NULL there.\n\
         CREATE SCHEMA IF NOT EXISTS {db};\n\
         CREATE OR REPLACE VIEW {db}.{t} AS\n\
         SELECT * FROM read_parquet(\n  \
         {files},\n  \
         hive_partitioning = true,\n  \
         hive_types = {types},\n  \
         union_by_name = true\n\
         );\n",
        db = quote(&table.database),
        t = quote(&table.table),
        files = literal(&files),
    );
}

/// `  name type\n  , name type\n`: one column a line, commas leading, so a
/// diff of two tables' DDL shows the columns that differ.
fn column_list(
    out: &mut String,
    columns: &Columns,
    ident: fn(&str) -> String,
    ty: fn(&ColumnType) -> String,
) {
    for (i, (name, t)) in columns.iter().enumerate() {
        let lead = if i == 0 { "  " } else { "  , " };
        let _ = writeln!(out, "{lead}{} {}", ident(name), ty(t));
    }
}

/// Hive's types, which Athena's DDL uses. A column only ever null (an
/// always-empty list's element, an empty struct) has no type of its own in
/// these engines, so it is `string`: all its values are NULL anyway.
fn hive_type(t: &ColumnType) -> String {
    match t {
        ColumnType::Null => "string".to_owned(),
        ColumnType::Bool => "boolean".to_owned(),
        ColumnType::Int64 => "bigint".to_owned(),
        ColumnType::Float64 => "double".to_owned(),
        ColumnType::String => "string".to_owned(),
        ColumnType::Timestamp => "timestamp".to_owned(),
        ColumnType::List(e) => format!("array<{}>", hive_type(e)),
        ColumnType::Struct(c) if c.is_empty() => "string".to_owned(),
        ColumnType::Struct(c) => {
            let fields: Vec<String> = c
                .iter()
                .map(|(n, t)| format!("{}:{}", backquote(n), hive_type(t)))
                .collect();
            format!("struct<{}>", fields.join(","))
        }
    }
}

/// Spark SQL's types: Hive's, in Spark's spelling.
fn spark_type(t: &ColumnType) -> String {
    match t {
        ColumnType::Null | ColumnType::String => "STRING".to_owned(),
        ColumnType::Bool => "BOOLEAN".to_owned(),
        ColumnType::Int64 => "BIGINT".to_owned(),
        ColumnType::Float64 => "DOUBLE".to_owned(),
        ColumnType::Timestamp => "TIMESTAMP".to_owned(),
        ColumnType::List(e) => format!("ARRAY<{}>", spark_type(e)),
        ColumnType::Struct(c) if c.is_empty() => "STRING".to_owned(),
        ColumnType::Struct(c) => {
            let fields: Vec<String> = c
                .iter()
                .map(|(n, t)| format!("{}: {}", backquote(n), spark_type(t)))
                .collect();
            format!("STRUCT<{}>", fields.join(", "))
        }
    }
}

/// Trino's types. Its Hive connector keeps timestamps without a zone, at
/// the precision its config sets; Parquet's UTC instants read as UTC.
fn trino_type(t: &ColumnType) -> String {
    match t {
        ColumnType::Null | ColumnType::String => "varchar".to_owned(),
        ColumnType::Bool => "boolean".to_owned(),
        ColumnType::Int64 => "bigint".to_owned(),
        ColumnType::Float64 => "double".to_owned(),
        ColumnType::Timestamp => "timestamp".to_owned(),
        ColumnType::List(e) => format!("array({})", trino_type(e)),
        ColumnType::Struct(c) if c.is_empty() => "varchar".to_owned(),
        ColumnType::Struct(c) => {
            let fields: Vec<String> = c
                .iter()
                .map(|(n, t)| format!("{} {}", quote(n), trino_type(t)))
                .collect();
            format!("row({})", fields.join(", "))
        }
    }
}

/// A lake name as Spark's catalog takes it: `-` and `.` become `_`.
pub fn spark_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A Hive or Spark identifier: backquoted, backquotes doubled.
fn backquote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A standard SQL identifier (Trino, DuckDB): double-quoted, quotes doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal, quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table with every kind of column: the event time, a renamed `dt`,
    /// nested structs and lists, a widened column, names that need quotes.
    const COLUMNS: &str = r#"{
        "time": "timestamp",
        "type": "string",
        "customer_id": "int64",
        "num_retries": "float64",
        "dt_": "string",
        "is_test": "bool",
        "tags": {"list": "string"},
        "empty": {"list": "null"},
        "geo_ip": {"struct": {"country": "string", "latitude": "float64", "hits": {"list": "int64"}}},
        "user-agent": "string",
        "odd`name\"": "int64"
    }"#;

    /// `tests/golden/ddl/<dialect>.sql`; `LEVEE_BLESS=1` rewrites them.
    #[test]
    fn ddl_for_every_dialect_matches_its_golden_file() {
        let columns: Columns = serde_json::from_str(COLUMNS).unwrap();
        let table = TableRef::new("glue-data-lake-usw2-prd", "eventlog").unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ddl");
        let bless = std::env::var_os("LEVEE_BLESS").is_some();
        let mut wrong = Vec::new();
        let each = Dialect::ALL
            .into_iter()
            .flat_map(|d| [(d, PartitionBy::Hour, ""), (d, PartitionBy::Day, "-day")]);
        for (dialect, by, suffix) in each {
            let got = render(
                dialect,
                &table,
                &columns,
                "s3://example-lake/levee/",
                Some("2018-09-01"),
                by,
            );
            let path = dir.join(format!("{dialect}{suffix}.sql"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if got != want {
                wrong.push(format!("{}:\n{got}", path.display()));
            }
        }
        assert!(
            wrong.is_empty(),
            "DDL differs from its golden file (LEVEE_BLESS=1 rewrites them):\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn quotes_in_names_and_locations_are_doubled() {
        assert_eq!(backquote("a`b"), "`a``b`");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("s3://b/it's"), "'s3://b/it''s'");
    }
}
