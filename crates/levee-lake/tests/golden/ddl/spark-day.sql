-- glue-data-lake-usw2-prd.eventlog: the Parquet `levee compact` writes, spark DDL made by `levee tables --ddl spark`.
-- Files a compaction replaced stay in their folder for the grace period (`levee compact --grace`),
-- and an engine that lists folders reads them too until then: compact with `--grace 0s` for it.
-- Spark's names hold only letters, digits and `_`: here the table is glue_data_lake_usw2_prd.eventlog.
CREATE DATABASE IF NOT EXISTS `glue_data_lake_usw2_prd`;
CREATE TABLE IF NOT EXISTS `glue_data_lake_usw2_prd`.`eventlog` (
  `time` TIMESTAMP
  , `type` STRING
  , `customer_id` BIGINT
  , `num_retries` DOUBLE
  , `dt_` STRING
  , `is_test` BOOLEAN
  , `tags` ARRAY<STRING>
  , `empty` ARRAY<STRING>
  , `geo_ip` STRUCT<`country`: STRING, `latitude`: DOUBLE, `hits`: ARRAY<BIGINT>>
  , `user-agent` STRING
  , `odd``name"` BIGINT
  , `dt` DATE
)
USING parquet
PARTITIONED BY (`dt`)
LOCATION 's3://example-lake/levee/glue-data-lake-usw2-prd/eventlog/parquet';
-- Registers the hours found; run it again as hours arrive.
MSCK REPAIR TABLE `glue_data_lake_usw2_prd`.`eventlog`;
