-- glue-data-lake-usw2-prd.eventlog: the Parquet `levee compact` writes, duckdb DDL made by `levee tables --ddl duckdb`.
-- Files a compaction replaced stay in their folder for the grace period (`levee compact --grace`),
-- and an engine that lists folders reads them too until then: compact with `--grace 0s` for it.
-- union_by_name: an hour written before a column was added reads NULL there.
CREATE SCHEMA IF NOT EXISTS "glue-data-lake-usw2-prd";
CREATE OR REPLACE VIEW "glue-data-lake-usw2-prd"."eventlog" AS
SELECT * FROM read_parquet(
  's3://example-lake/levee/glue-data-lake-usw2-prd/eventlog/parquet/dt=*/part-*.parquet',
  hive_partitioning = true,
  hive_types = {'dt': DATE},
  union_by_name = true
);
