-- glue-data-lake-usw2-prd.eventlog: the Parquet `levee compact` writes, trino DDL made by `levee tables --ddl trino`.
-- Files a compaction replaced stay in their folder for the grace period (`levee compact --grace`),
-- and an engine that lists folders reads them too until then: compact with `--grace 0s` for it.
-- `hive` is the Hive connector's catalog; name yours.
CREATE TABLE IF NOT EXISTS hive."glue-data-lake-usw2-prd"."eventlog" (
  "time" timestamp
  , "type" varchar
  , "customer_id" bigint
  , "num_retries" double
  , "dt_" varchar
  , "is_test" boolean
  , "tags" array(varchar)
  , "empty" array(varchar)
  , "geo_ip" row("country" varchar, "latitude" double, "hits" array(bigint))
  , "user-agent" varchar
  , "odd`name""" bigint
  , "dt" varchar
)
WITH (
  external_location = 's3://example-lake/levee/glue-data-lake-usw2-prd/eventlog/parquet',
  format = 'PARQUET',
  partitioned_by = ARRAY['dt']
);
-- Registers the hours found; run it again as hours arrive.
CALL hive.system.sync_partition_metadata('glue-data-lake-usw2-prd', 'eventlog', 'FULL');
