"""Runs `levee tables --ddl spark` in PySpark and compares Spark's answers
with `levee query`'s over the same lake. Called by scripts/spark-ddl-check.

usage: spark_ddl_check.py LEVEE LAKE DATABASE TABLE
"""

import csv
import io
import re
import subprocess
import sys

from pyspark.sql import SparkSession


def levee(binary, *args):
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout


def statements(ddl):
    """The DDL's statements, without comment lines."""
    text = "\n".join(l for l in ddl.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def spark_rows(spark, sql):
    return [[("" if v is None else str(v)) for v in row] for row in spark.sql(sql).collect()]


def levee_rows(binary, lake, sql):
    out = levee(binary, "query", "--format", "csv", "--lake", lake, sql)
    return list(csv.reader(io.StringIO(out)))[1:]


def main():
    binary, lake, db, table = sys.argv[1:5]
    ddl = levee(binary, "tables", "--ddl", "spark", "--lake", lake, f"{db}.{table}")
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("levee-ddl-check")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for statement in statements(ddl):
        spark.sql(statement)

    # Spark's names hold only letters, digits and `_` (the DDL says so too).
    name = "`{}`.`{}`".format(*(re.sub(r"[^A-Za-z0-9]", "_", n) for n in (db, table)))
    checks = [
        (
            "rows per hour",
            f"select cast(dt as string), hour, count(*) from {name} group by 1, 2 order by 1, 2",
            f'select dt, cast(hour as int), count(*) from "{db}".{table}_parquet group by 1, 2 order by 1, 2',
        ),
        (
            "the user's first query",
            "select cast(dt as string), count_if(routing_domain = 'gmail.com'), "
            "count_if(routing_domain = 'yahoo.com'), count_if(routing_domain = 'hotmail.com') "
            f"from {name} where bounce_class = 21 and dt >= '2018-09-02' group by 1 order by 1",
            "select dt, count_if(routing_domain = 'gmail.com'), count_if(routing_domain = 'yahoo.com'), "
            f'count_if(routing_domain = \'hotmail.com\') from "{db}".{table}_parquet '
            "where bounce_class = 21 and dt >= '2018-09-02' group by 1 order by 1",
        ),
        (
            "nested and list columns",
            f"select count(geo_ip.country), sum(size(tags)), count(time) from {name}",
            f'select count(geo_ip.country), sum(cardinality(tags)), count(time) from "{db}".{table}_parquet',
        ),
    ]
    failed = 0
    for what, spark_sql, levee_sql in checks:
        theirs = spark_rows(spark, spark_sql)
        ours = levee_rows(binary, lake, levee_sql)
        if theirs == ours:
            print(f"ok    {what}: {len(ours)} rows, the same")
        else:
            failed += 1
            print(f"FAIL  {what}:\n  spark: {theirs}\n  levee: {ours}")
    spark.stop()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
