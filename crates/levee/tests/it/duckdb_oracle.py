"""Runs SQL in DuckDB (several statements: the last one's rows) and prints
the result as CSV.

The end-to-end tests use DuckDB as an engine that is not ours: it reads
the lake's Parquet (and zstd JSON) as any user's tool would.
"""

import csv
import sys

import duckdb


def main() -> None:
    sql = sys.argv[1]
    con = duckdb.connect()
    # Timestamps with a time zone print in UTC, as levee's do; as text,
    # because Python's datetimes with a zone would need pytz.
    con.execute("set TimeZone = 'UTC'")
    rel = con.sql(sql)
    if rel is None:
        return
    columns = []
    for name, kind in zip(rel.columns, rel.types):
        quoted = '"' + name.replace('"', '""') + '"'
        if str(kind) == "TIMESTAMP WITH TIME ZONE":
            columns.append(f"cast({quoted} as varchar) as {quoted}")
        else:
            columns.append(quoted)
    rel = rel.select(", ".join(columns))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(rel.columns)
    for row in rel.fetchall():
        writer.writerow(["" if v is None else v for v in row])


if __name__ == "__main__":
    main()
