#!/usr/bin/env python3
"""Warm queries: levee's query API against chdb and DuckDB, each in process.

`levee bench query` times whole processes, as a user at a shell sees them.
This times what a warm engine answers once the process is up: levee as
`levee serve` (each query an HTTP request on loopback, the answer's JSON
read whole), chdb (embedded ClickHouse) and DuckDB as Python modules in
this process, on the same Parquet files of a lake that
`levee bench query --keep` left.

    scripts/bench-deps
    target/release/levee bench query --events 2000000 --runs 1 --keep
    .venv/bin/python scripts/bench-warm.py --levee target/release/levee \
        --lake levee-bench/lake --runs 7

Each query of crates/levee/src/commands/bench/queries.sql is answered once
by every engine to warm it, then `--runs` times each, the engines taking
turns in an order that turns by one each run. The table gives the medians
and the ratios levee/chdb and levee/DuckDB (below 1: levee is faster). The
engines must return as many rows, or the query is marked.

chdb reads the table as `file('<table>/parquet/*/*/*.parquet', Parquet)`
with Hive partitioning (`parquet/*/*.parquet` for a `partition_by = "day"`
table, whose folders name only `dt`); the SQL is rewritten only where ClickHouse names a
function otherwise (count_if -> countIf, approx_distinct -> uniq). DuckDB
gets the view and macros that `levee bench query` gives its CLI.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

DATABASE = "glue-data-lake-usw2-prd"
TABLE = "eventlog"
QUERIES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "crates", "levee", "src", "commands", "bench", "queries.sql",
)


def parse_queries(text):
    """The `-- name:` blocks of queries.sql, as (name, sql) pairs."""
    queries, name, lines = [], None, []
    for line in text.splitlines():
        m = re.match(r"--\s*name:\s*(\S+)", line)
        if m:
            if name:
                queries.append((name, "\n".join(lines).strip().rstrip(";")))
            name, lines = m.group(1), []
        elif name and not line.lstrip().startswith("--"):
            lines.append(line)
    if name:
        queries.append((name, "\n".join(lines).strip().rstrip(";")))
    return queries


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Levee:
    name = "levee serve"

    def __init__(self, exe, lake):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "serve", "--lake", lake, "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.query("select 1")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None:
                    sys.exit("levee serve exited: " + self.proc.stderr.read().decode())
                if time.monotonic() > deadline:
                    sys.exit("levee serve did not answer within 60 s")
                time.sleep(0.05)

    def query(self, sql):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/query",
            data=sql.encode(),
            headers={"Content-Type": "text/plain"},
        )
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"levee: {e.code} {e.read().decode()}") from None
        return len(json.loads(body)["rows"])

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def table_partitions(table):
    """The table's partition columns, as its `_levee/table.json` lays it out."""
    with open(os.path.join(table, "_levee", "table.json")) as f:
        props = json.load(f)
    by = props.get("parquet", {}).get("partition_by", "hour")
    return ["dt"] if by == "day" else ["dt", "hour"]


class Chdb:
    name = "chdb"

    def __init__(self, glob):
        import chdb
        from chdb import session

        self.version = chdb.__version__
        self.sess = session.Session()
        self.source = f"file('{glob}', Parquet)"

    def rewrite(self, sql):
        sql = sql.replace(f'"{DATABASE}".{TABLE}_parquet', self.source)
        sql = re.sub(r"\bcount_if\(", "countIf(", sql)
        sql = re.sub(r"\bapprox_distinct\(", "uniq(", sql)
        return sql + " SETTINGS use_hive_partitioning = 1"

    def query(self, sql):
        out = self.sess.query(self.rewrite(sql), "CSV")
        text = out.bytes().decode() if hasattr(out, "bytes") else str(out)
        return len([line for line in text.splitlines() if line])

    def close(self):
        self.sess.close()


class Duck:
    name = "duckdb"

    def __init__(self, glob, partitions):
        import duckdb

        self.version = duckdb.__version__
        types = ", ".join(f"'{p}': varchar" for p in partitions)
        self.con = duckdb.connect()
        self.con.execute(
            f'create schema "{DATABASE}"; '
            f'create view "{DATABASE}".{TABLE}_parquet as select * from read_parquet('
            f"'{glob}', hive_partitioning = true, "
            f"hive_types = {{{types}}}); "
            "create macro approx_distinct(x) as approx_count_distinct(x); "
            "create macro count_if(x) as count(*) filter (where x);"
        )

    def query(self, sql):
        return len(self.con.execute(sql).fetchall())

    def close(self):
        self.con.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levee", required=True, help="the levee binary")
    ap.add_argument("--lake", required=True, help="a lake `levee bench query --keep` left")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--only", help="only the queries whose names contain this")
    args = ap.parse_args()

    lake = os.path.abspath(args.lake)
    table = os.path.join(lake, DATABASE, TABLE)
    partitions = table_partitions(table)
    glob = os.path.join(table, "parquet", *["*"] * len(partitions), "*.parquet")
    with open(QUERIES) as f:
        queries = [q for q in parse_queries(f.read()) if not args.only or args.only in q[0]]

    engines = [Levee(args.levee, lake), Chdb(glob), Duck(glob, partitions)]
    try:
        print(f"chdb {engines[1].version}, duckdb {engines[2].version}, {args.runs} runs, warm")
        print("| query | levee s | chdb s | duckdb s | levee/chdb | levee/duckdb | rows |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, sql in queries:
            rows = {e.name: e.query(sql) for e in engines}  # warm-up, unmeasured
            times = {e.name: [] for e in engines}
            for run in range(args.runs):
                for i in range(len(engines)):
                    e = engines[(run + i) % len(engines)]
                    start = time.perf_counter()
                    e.query(sql)
                    times[e.name].append(time.perf_counter() - start)
            med = {k: statistics.median(v) for k, v in times.items()}
            same = len(set(rows.values())) == 1
            print(
                f"| {name} | {med['levee serve']:.4f} | {med['chdb']:.4f} | {med['duckdb']:.4f} "
                f"| {med['levee serve'] / med['chdb']:.2f} | {med['levee serve'] / med['duckdb']:.2f} "
                f"| {rows['levee serve'] if same else 'DIFFER ' + str(rows)} |",
                flush=True,
            )
    finally:
        for e in engines:
            e.close()


if __name__ == "__main__":
    main()
