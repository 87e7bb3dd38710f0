-- The queries of `levee bench query`, and of the oracle test that checks
-- levee's answers against DuckDB's (crates/levee/tests/it/query_oracle.rs).
--
-- Each query starts with a `-- name:` line; a `-- approximate` line marks
-- one whose answer is an estimate (the oracle leaves it out: two engines'
-- sketches differ); `-- ties: N` one whose `limit` may cut through rows
-- that tie on its order, column N (the oracle then checks that the rows
-- kept are right and that column N is, not which of the tied rows). The SQL is Athena's, as a user writes it; DuckDB runs it
-- as it is, after a prelude that names the table as Glue did and lends it
-- Athena's `approx_distinct` and `count_if`.

-- name: user_domains
-- The user's first query from issue 19, exactly as written.
select dt, count_if(routing_domain='gmail.com') as google, count_if(routing_domain='yahoo.com') as yahoo,
       count_if(routing_domain='hotmail.com') as hotmail
from "glue-data-lake-usw2-prd".eventlog_parquet where bounce_class=21 and dt >= '2018-09-01' group by 1;

-- name: user_reasons
-- ties: 1
-- The user's second query from issue 19, exactly as written. (Its `order by
-- count(dt) limit 10` cuts through ties.)
select count(dt), raw_reason from "glue-data-lake-usw2-prd".eventlog_parquet
where bounce_class=21 and dt between '2018-10-01' and '2018-10-21' group by raw_reason order by count(dt) limit 10;

-- name: top_domains
-- Top-N by a field.
select routing_domain, count(*) as events
from "glue-data-lake-usw2-prd".eventlog_parquet
group by routing_domain order by events desc, routing_domain limit 10;

-- name: hourly
-- A time histogram of one day.
select date_trunc('hour', "time") as hour_start, count(*) as events
from "glue-data-lake-usw2-prd".eventlog_parquet
where dt = '2018-10-01' group by 1 order by 1;

-- name: bounce_breakdown
-- A count_if breakdown by event type.
select type, count(*) as events, count_if(bounce_class is not null) as bounces,
       count_if(bounce_class = 10) as invalid_recipient, count_if(bounce_class = 21) as dns_failure
from "glue-data-lake-usw2-prd".eventlog_parquet
group by type order by type;

-- name: like_filter
-- A `like` filter over the bounces' reply texts.
select routing_domain, count(*) as bounces
from "glue-data-lake-usw2-prd".eventlog_parquet
where raw_reason like '%mailbox%' group by routing_domain order by bounces desc, routing_domain limit 10;

-- name: distinct_recipients
-- approximate
-- An approximate distinct count per day.
select dt, approx_distinct(rcpt_to) as recipients
from "glue-data-lake-usw2-prd".eventlog_parquet
group by dt order by dt;

-- name: with_join
-- Deliveries against bounces by domain: `with`, and a join.
with delivered as (
  select routing_domain, count(*) as n from "glue-data-lake-usw2-prd".eventlog_parquet
  where type = 'delivery' group by routing_domain
), bounced as (
  select routing_domain, count(*) as n from "glue-data-lake-usw2-prd".eventlog_parquet
  where type = 'bounce' group by routing_domain
)
select d.routing_domain, d.n as delivered, b.n as bounced
from delivered d join bounced b on b.routing_domain = d.routing_domain
order by bounced desc, d.routing_domain limit 10;

-- name: running_total
-- A window function: bounces per day and their running total.
select dt, bounces, sum(bounces) over (order by dt) as running
from (select dt, count(*) as bounces from "glue-data-lake-usw2-prd".eventlog_parquet
      where type = 'bounce' group by dt) as daily
order by dt;
