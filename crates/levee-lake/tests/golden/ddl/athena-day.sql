-- glue-data-lake-usw2-prd.eventlog: the Parquet `levee compact` writes, athena DDL made by `levee tables --ddl athena`.
-- Files a compaction replaced stay in their folder for the grace period (`levee compact --grace`),
-- and an engine that lists folders reads them too until then: compact with `--grace 0s` for it.
-- Partition projection: Athena computes the hours, no crawler and no MSCK REPAIR TABLE.
CREATE EXTERNAL TABLE IF NOT EXISTS `glue-data-lake-usw2-prd`.`eventlog` (
  `time` timestamp
  , `type` string
  , `customer_id` bigint
  , `num_retries` double
  , `dt_` string
  , `is_test` boolean
  , `tags` array<string>
  , `empty` array<string>
  , `geo_ip` struct<`country`:string,`latitude`:double,`hits`:array<bigint>>
  , `user-agent` string
  , `odd``name"` bigint
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://example-lake/levee/glue-data-lake-usw2-prd/eventlog/parquet/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2018-09-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://example-lake/levee/glue-data-lake-usw2-prd/eventlog/parquet/dt=${dt}/'
);
