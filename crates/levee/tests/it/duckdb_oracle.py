"""Runs one SQL statement in DuckDB and prints the result as CSV.

The end-to-end tests use DuckDB as an engine that is not ours: it reads
the lake's Parquet (and zstd JSON) as any user's tool would.
"""

import csv
import sys

import duckdb


def main() -> None:
    sql = sys.argv[1]
    con = duckdb.connect()
    cur = con.execute(sql)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([d[0] for d in cur.description])
    for row in cur.fetchall():
        writer.writerow(["" if v is None else v for v in row])


if __name__ == "__main__":
    main()
