#!/usr/bin/env python3
"""The shared store's benchmarks (issue 21): PostgreSQL beside SQLite in one
run, on the same data, order alternating.

    scripts/bench_pg.py [--quick]    (expects target/release to be built)

Needs a PostgreSQL server on this machine: AGENT_BENCH_PG_URL (a
superuser's URL, e.g. postgres://postgres@127.0.0.1:55432/postgres), and
`psql` and `sqlite3` for loading the generated rows. scripts/bench.py
calls `store_rows(row)` when AGENT_BENCH_PG_URL is set.
"""
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import BIN, M, env_for, make_home, spread, start_sim, timed  # noqa: E402

SERVER = os.environ.get("AGENT_BENCH_PG_URL")
QUICK = "--quick" in sys.argv
FROM, TO = "2025-01-01", "2025-12-31"


def psql(url, sql, stdin=None):
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url, "-c", sql], input=stdin,
                          capture_output=True, text=True, check=True).stdout.strip()


def new_db():
    name = "bench_" + uuid.uuid4().hex[:12]
    psql(SERVER, f"CREATE DATABASE {name}")
    return SERVER.rsplit("/", 1)[0] + "/" + name, name


def drop_db(name):
    psql(SERVER, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


COPIED = {
    "cost_rows": "provider, account, day, project, api_key, line_item, model, token_type, cost_type, service_tier,"
                 " context_window, amount, currency, quantity, quantity_unit, plugin_name, run_id, collected_at",
    "usage_rows": "provider, account, day, source, model, project, api_key, user_id, service_tier, dims, metric,"
                  " quantity, counts_as_tokens, plugin_name, run_id, collected_at",
    "daily_totals": "provider, day, dim, key, cost, tokens",
    "results": "provider, date, tokens, cost, collected_at",
}


def year_by_model(rows):
    """`summary --by model` for a year over `rows` detailed cost rows, on
    SQLite and on PostgreSQL holding the same rows (loaded with COPY: the
    benchmark measures the read, and row-by-row loading would take hours)."""
    home, count = bench.make_million(rows)
    env = env_for(home, {"AGENT_TODAY": "2026-01-15"})
    url, name = new_db()
    pg_env = dict(env, AGENT_STORE_URL=url)
    try:
        subprocess.run([BIN, "runs"], env=pg_env, check=True, stdout=subprocess.DEVNULL)  # the schema
        db = os.path.join(home, "agent_os.db")
        for table, cols in COPIED.items():
            dump = subprocess.run(["sqlite3", "-csv", db, f"SELECT {cols} FROM {table}"], capture_output=True,
                                  text=True, check=True).stdout
            psql(url, f"\\copy {table} ({cols}) FROM STDIN WITH (FORMAT csv)", stdin=dump)
        psql(url, "VACUUM ANALYZE")
        held = int(psql(url, "SELECT count(*) FROM cost_rows"))
        assert held == count, (held, count)
        cmd = [BIN, "summary", "--from", FROM, "--to", TO, "--by", "model", "--json"]
        same = [subprocess.run(cmd, env=e, capture_output=True, text=True, check=True).stdout
                for e in (env, pg_env)]
        assert same[0] == same[1], "the two stores disagree"
        lite, pg = [], []
        for i in range(5 if QUICK else 11):
            for which in ((env, lite), (pg_env, pg)) if i % 2 == 0 else ((pg_env, pg), (env, lite)):
                which[1].append(float(timed(cmd, which[0], 1)))
        return count, M(lite), M(pg)
    finally:
        drop_db(name)
        subprocess.run(["rm", "-rf", home], check=True)


def backfill(store_url=None, latency_ms=50):
    """A year's backfill of both collectors against the simulator: wall time."""
    proc, urls = start_sim(latency_ms)
    try:
        home = make_home(["openai_collector", "anthropic_collector"])
        extra = {**urls, "OPENAI_ADMIN_KEY": bench.OPENAI_KEY, "ANTHROPIC_ADMIN_KEY": bench.ANTHROPIC_KEY,
                 "AGENT_TODAY": "2026-01-15"}
        if store_url:
            extra["AGENT_STORE_URL"] = store_url
        env = env_for(home, extra)
        t0 = time.perf_counter()
        subprocess.run([BIN, "run-all", "--from", FROM, "--to", TO], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        subprocess.run(["rm", "-rf", home], check=True)
        return wall
    finally:
        proc.kill()
        proc.wait()


def backfills():
    lite, pg = [], []
    for i in range(3 if QUICK else 5):
        order = ("lite", "pg") if i % 2 == 0 else ("pg", "lite")
        for which in order:
            if which == "lite":
                lite.append(backfill())
            else:
                url, name = new_db()
                try:
                    pg.append(backfill(url))
                finally:
                    drop_db(name)
    return M(lite), M(pg)


def machines(n=8, latency_ms=50):
    """`n` homes (machines) running `run-all` for the same year at once into
    one PostgreSQL database: wall time of the slowest, every day exact."""
    proc, urls = start_sim(latency_ms)
    url, name = new_db()
    homes = []
    try:
        for i in range(n):
            home = make_home(["openai_collector", "anthropic_collector"])
            homes.append((home, env_for(home, {
                **urls, "OPENAI_ADMIN_KEY": bench.OPENAI_KEY, "ANTHROPIC_ADMIN_KEY": bench.ANTHROPIC_KEY,
                "AGENT_TODAY": "2026-01-15", "AGENT_STORE_URL": url, "AGENT_MACHINE": f"machine-{i}"})))
        subprocess.run([BIN, "runs"], env=homes[0][1], check=True, stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([BIN, "run-all", "--from", FROM, "--to", TO], env=e, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True) for _, e in homes]
        outs = [(p.communicate()[0], p.returncode) for p in procs]
        wall = time.perf_counter() - t0
        failed = [o for o, rc in outs if rc != 0]
        # Every day once: each job's 365 days complete, one results row per
        # provider and day, and the same totals a single SQLite home stores.
        covered = int(psql(url, "SELECT count(*) FROM coverage"))
        days = int(psql(url, "SELECT count(*) FROM results"))
        skipped = sum(o.count(" skipped ") for o, _ in outs)
        totals = psql(url, "SELECT sum(tokens), sum(cost) FROM results")
        return {"wall_s": wall, "failed": len(failed), "covered": covered, "results": days,
                "skipped": skipped, "totals": totals}
    finally:
        proc.kill()
        proc.wait()
        for home, _ in homes:
            subprocess.run(["rm", "-rf", home], check=True)
        drop_db(name)


def single_home_totals(latency_ms=50):
    """The year's totals one SQLite home stores, to check the machines' against."""
    proc, urls = start_sim(latency_ms)
    try:
        home = make_home(["openai_collector", "anthropic_collector"])
        env = env_for(home, {**urls, "OPENAI_ADMIN_KEY": bench.OPENAI_KEY,
                             "ANTHROPIC_ADMIN_KEY": bench.ANTHROPIC_KEY, "AGENT_TODAY": "2026-01-15"})
        subprocess.run([BIN, "run-all", "--from", FROM, "--to", TO], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db = sqlite3.connect(os.path.join(home, "agent_os.db"))
        tokens, costs = 0, Decimal(0)
        for t, c in db.execute("SELECT tokens, cost FROM results"):
            tokens += t
            costs += Decimal(c)
        db.close()
        subprocess.run(["rm", "-rf", home], check=True)
        return tokens, costs
    finally:
        proc.kill()
        proc.wait()


def store_rows(row):
    """Adds the store's rows through `row(name, value, target, ok, *samples)`."""
    rows = 1_000_000 if QUICK else 10_000_000
    count, lite, pg = year_by_model(rows)
    ratio = pg / lite
    row(f"`summary --by model`, a year over {count:,} cost rows: PostgreSQL (SQLite beside it)",
        f"{pg:.1f} ms ({lite:.1f} ms; {ratio:.2f}x)", "PG < 300 ms and <= 2x SQLite",
        pg < 300 and ratio <= 2, pg, lite)
    lite_b, pg_b = backfills()
    ratio = pg_b / lite_b
    row("year backfill (2 collectors, 50 ms simulated RTT) into PostgreSQL (SQLite beside it)",
        f"{pg_b:.2f} s ({lite_b:.2f} s; {ratio:.2f}x)", "<= 1.3x SQLite", ratio <= 1.3, pg_b, lite_b)
    m = machines()
    tokens, costs = single_home_totals()
    t, c = m["totals"].split("|")
    exact = int(t) == tokens and Decimal(c) == costs
    ok = m["failed"] == 0 and m["covered"] == 2 * 365 and m["results"] == 2 * 365 and exact
    row("8 machines running `run-all` for the same year at once, one PostgreSQL store (wall time)",
        f"{m['wall_s']:.2f} s ({m['skipped']} job runs found taken and skipped; {m['covered']} job-days "
        f"complete, totals {'equal' if exact else 'DIFFER from'} one SQLite home's)",
        "every day exact, no error", ok, M([m["wall_s"]]))


if __name__ == "__main__":
    if not SERVER:
        raise SystemExit("set AGENT_BENCH_PG_URL to a superuser URL of a PostgreSQL server on this machine")
    out = []
    store_rows(lambda name, value, target="", ok=None, *s: out.append((name, value, spread(*s), target, ok)))
    for r in out:
        print(" | ".join(str(x) for x in r))
