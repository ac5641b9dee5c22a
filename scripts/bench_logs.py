#!/usr/bin/env python3
"""Local-log benchmarks on a corpus with real shapes, side by side with ccusage.

The corpus is Claude Code transcripts as they are on a real machine: about 1 GB in 7,611 files,
the size and count of the real-world corpus ccusage was measured on
(../shared/reference/landscape-2026-12.md). That reference gives no size distribution, so the
sizes are an assumption, stated here: log-normal (sigma 1.9) scaled to the total, none under
2 KB, since most sessions are small and a few run to tens of megabytes (seed 1 gives a median of
45 KB, p90 279 KB, p99 1.8 MB, the largest 25 MB). Inside them, the shapes of
`tests/fixtures/logs/claude`: each call streamed as 2 or 3 copies of one message (same `message.id`
and `requestId`, output growing), tool use and tool results (most of the bytes), several models,
subagent transcripts (`<session>/subagents/agent-*.jsonl`, a `journal.jsonl` beside them), their calls
also nested in the parent's `agent_progress` lines (`data.message.message.usage`, some with no
subagent file), `/btw` sidechain replays, summaries and file-history snapshots.

    scripts/bench_logs.py [--quick]   (expects target/release to be built; prints its rows)

`bench.py` runs the same rows through `log_rows`.
"""
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, QUICK, M, env_for, make_home, spread  # noqa: E402

CCUSAGE_VERSION = "20.0.24"
FILES = 7_611
MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5-20251001"]
FILLER = "".join(random.Random(7).choice("abcdefghijklmnopqrstuvwxyz     .,;:()[]{}=_-0123456789\\n")
                 for _ in range(1 << 20))


def file_sizes(total, files, rng):
    """`files` sizes summing to about `total`: log-normal (sigma 1.9: median a seventh of the
    mean, the largest files tens of megabytes), none under 2 KB."""
    raw = [rng.lognormvariate(0, 1.9) for _ in range(files)]
    scale = total / sum(raw)
    return [max(2048, int(r * scale)) for r in raw]


def stamp(day, second):
    d = 1 + day % 92
    month, dom = (8, d) if d <= 31 else (9, d - 31) if d <= 61 else (10, d - 61)
    second %= 86_400
    return f"2026-{month:02d}-{dom:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{second % 1000:03d}Z"


def usage(rng, out):
    w5, w1 = rng.choice((0, 0, 120, 900)), rng.choice((0, 0, 0, 2000))
    return {"input_tokens": rng.randint(1, 40), "cache_creation_input_tokens": w5 + w1,
            "cache_read_input_tokens": rng.randint(5_000, 120_000),
            "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1},
            "output_tokens": out, "service_tier": "standard"}


class Session:
    """One transcript being written: the fields every line carries and a clock."""

    def __init__(self, rng, sid, cwd, day, agent=None):
        self.rng, self.sid, self.cwd, self.day, self.agent = rng, sid, cwd, day, agent
        self.clock, self.n, self.parent = rng.randint(0, 80_000), 0, None

    def head(self, kind, sidechain=False):
        self.n += 1
        self.clock += self.rng.randint(1, 40)
        uuid = f"{self.sid[:8]}-{self.agent or 'main'}-{self.n:06d}"
        head = {"parentUuid": self.parent, "isSidechain": sidechain or self.agent is not None,
                "userType": "external", "cwd": self.cwd, "sessionId": self.sid, "version": "2.1.38",
                "gitBranch": "main"}
        if self.agent:
            head["agentId"] = self.agent
        head.update({"type": kind, "uuid": uuid, "timestamp": stamp(self.day, self.clock)})
        self.parent = uuid
        return head

    def text(self, lo, hi):
        n = int(math.exp(self.rng.uniform(math.log(lo), math.log(hi))))
        at = self.rng.randrange(0, len(FILLER) - n)
        return FILLER[at:at + n]

    def prompt(self):
        line = self.head("user")
        line["message"] = {"role": "user", "content": self.text(20, 600)}
        return [line]

    def call(self, ids, model, sidechain=False):
        """The streamed copies of one call (2 or 3, output growing; the last one complete)."""
        mid, rid = ids
        final = self.rng.randint(20, 3000)
        base = usage(self.rng, final)
        lines = []
        copies = self.rng.choice((2, 2, 3))
        tool = f"toolu_{mid[4:]}"
        for k in range(copies):
            line = self.head("assistant", sidechain)
            u = dict(base, output_tokens=max(1, final * (k + 1) // copies))
            last = k == copies - 1
            content = ([{"type": "tool_use", "id": tool, "name": self.rng.choice(("Read", "Bash", "Edit", "Grep")),
                         "input": {"command": self.text(10, 300)}}] if last else
                       [{"type": "text", "text": self.text(10, 400)}])
            line["requestId"] = rid
            line["message"] = {"id": mid, "type": "message", "role": "assistant", "model": model,
                               "content": content, "stop_reason": "tool_use" if last else None,
                               "stop_sequence": None, "usage": u}
            lines.append(line)
        result = self.head("user")
        body = self.text(200, 40_000)
        result["message"] = {"role": "user", "content": [{"tool_use_id": tool, "type": "tool_result",
                                                          "content": body}]}
        result["toolUseResult"] = {"stdout": body[: len(body) // 2], "stderr": "", "interrupted": False}
        lines.append(result)
        return lines, (mid, rid, model, base, lines[-2]["timestamp"])

    def progress(self, nested):
        """An `agent_progress` line nesting a subagent's call."""
        mid, rid, model, u, ts = nested
        line = self.head("progress")
        line["data"] = {"type": "agent_progress", "message": {
            "type": "assistant", "timestamp": ts, "requestId": rid, "uuid": f"nested-{mid}",
            "message": {"model": model, "id": mid, "type": "message", "role": "assistant",
                        "content": [], "usage": u}}}
        return [line]

    def extra(self):
        """A line without a call: a summary or a file-history snapshot."""
        if self.rng.random() < 0.5:
            return [{"type": "summary", "summary": self.text(20, 120), "leafUuid": self.parent}]
        return [{"type": "file-history-snapshot", "messageId": self.parent,
                 "snapshot": {"trackedFileBackups": {"src/lib.rs": self.text(200, 6000)}}}]


def write_session(path, sess, size, model, nested=(), replay=True):
    """Writes turns until the file reaches `size`; returns the calls it made (for progress lines
    elsewhere) and how many."""
    rng, written, calls, made, chunks = sess.rng, 0, 0, [], []
    nested = list(nested)
    while written < size or calls == 0:
        lines = sess.prompt() if rng.random() < 0.3 else []
        ids = (f"msg_{sess.sid[:8]}{sess.agent or ''}{calls:05d}", f"req_{sess.sid[:8]}{sess.agent or ''}{calls:05d}")
        turn, info = sess.call(ids, model if rng.random() < 0.85 else rng.choice(MODELS))
        lines += turn
        made.append(info)
        calls += 1
        if nested and rng.random() < 0.5:
            lines += sess.progress(nested.pop(0))
        if rng.random() < 0.03:
            lines += sess.extra()
        if replay and calls > 3 and rng.random() < 0.02:
            # A `/btw` sidechain replay: an earlier message id, a new request id.
            old = made[rng.randrange(len(made))]
            again, _ = sess.call((old[0], old[1] + "X"), old[2], sidechain=True)
            lines += again[:-1]
        text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        chunks.append(text)
        written += len(text)
    for rest in nested:
        chunks.append(json.dumps(sess.progress(rest)[0], separators=(",", ":")) + "\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as fh:
        fh.write("".join(chunks))
    return made


def write_corpus(root, total_bytes, files=FILES, seed=1):
    """The corpus under `root/projects`: about a quarter of the files subagent transcripts of
    a session in the same project, whose first calls the session also nests in progress lines
    (one subagent in ten left without its file: its calls exist only nested). Returns
    (bytes, files, sessions as (path, Session, model) for appending later)."""
    rng = random.Random(seed)
    sizes = file_sizes(total_bytes, files, rng)
    subagents = files // 4
    mains = files - subagents
    sessions = []
    for i in range(mains):
        project = f"-home-dev-src-project{i % 57:02d}"
        sid = f"{rng.getrandbits(32):08x}-{i:04x}-4000-8000-{rng.getrandbits(48):012x}"
        sessions.append((os.path.join(root, "projects", project), sid, f"/home/dev/src/project{i % 57:02d}",
                         rng.randrange(92)))
    nested = {i: [] for i in range(mains)}
    for j in range(subagents):
        parent = rng.randrange(mains)
        folder, sid, cwd, day = sessions[parent]
        agent = f"a{j:07x}"
        sess = Session(rng, sid, cwd, day, agent)
        path = os.path.join(folder, sid, "subagents", f"agent-{agent}.jsonl")
        made = write_session(path, sess, sizes[mains + j], MODELS[3], replay=False)
        nested[parent] += made[: rng.randint(1, 4)]
        if j % 10 == 0:
            os.remove(path)
            # Only in progress lines now; the file is still written, elsewhere, to keep the count.
            write_session(os.path.join(folder, sid, "subagents", f"agent-{agent}b.jsonl"),
                          Session(rng, sid, cwd, day, agent + "b"), sizes[mains + j], MODELS[3], replay=False)
        journal = os.path.join(folder, sid, "subagents", "journal.jsonl")
        with open(journal, "a") as fh:
            fh.write(json.dumps({"type": "agent_started", "agentId": agent}) + "\n")
    out = []
    for i, (folder, sid, cwd, day) in enumerate(sessions):
        model = MODELS[i % 3]
        sess = Session(rng, sid, cwd, day)
        path = os.path.join(folder, f"{sid}.jsonl")
        write_session(path, sess, sizes[i], model, nested[i])
        out.append((path, sess, model))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs
                if f.endswith(".jsonl") and f != "journal.jsonl")
    count = sum(1 for _, _, fs in os.walk(root) for f in fs if f.endswith(".jsonl") and f != "journal.jsonl")
    return total, count, out


def append_day(sessions, rng, total=1 << 20):
    """A day's work on top: about `total` bytes of new turns appended to a few recent sessions."""
    picked = rng.sample(sessions, 8)
    for path, sess, model in picked:
        sess.day = 92
        write_session(path, sess, total // len(picked), model, replay=False)


def measured(cmd, env, cwd=None):
    """Runs `cmd`: (wall s, CPU s of it and its reaped children, peak PSS MiB of it and every
    descendant, sampled every 20 ms). A failure measures nothing."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, tree_pss_kib(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.read()[-2000:]!r}")
    return wall, ru.ru_utime + ru.ru_stime, peak / 1024


def tree_pss_kib(root):
    parents, pss = {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                rollup = f.read()
        except (OSError, ValueError, IndexError):
            continue
        parents[int(pid)] = ppid
        line = next((l for l in rollup.splitlines() if l.startswith("Pss:")), "Pss: 0 kB")
        pss[int(pid)] = int(line.split()[1])
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(pss.get(p, 0) for p in tree)


def ccusage_cmd():
    """ccusage 20.0.24 from npm, installed once into a cache folder."""
    cache = os.environ.get("BENCH_CCUSAGE_DIR", os.path.expanduser("~/.cache/agent-host-bench/ccusage"))
    bin_js = os.path.join(cache, "node_modules", "ccusage", "package.json")
    if not os.path.exists(bin_js) or json.load(open(bin_js)).get("version") != CCUSAGE_VERSION:
        os.makedirs(cache, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", cache,
                        f"ccusage@{CCUSAGE_VERSION}"], check=True, stdout=subprocess.DEVNULL)
    return [os.path.join(cache, "node_modules", ".bin", "ccusage"), "claude", "daily", "--offline", "--json"]


def bench_real_logs(total_mb=1024, runs=3, nights=5):
    """First import and nightly run of `claude_code_logs` against ccusage on the same corpus,
    alternating which goes first. agent-host's first import starts from an empty home each
    time; ccusage keeps nothing, so each of its runs is a first import (and its nightly run
    reads everything again)."""
    logs = tempfile.mkdtemp(prefix="agent-bench-real-")
    homes = []
    try:
        size, files, sessions = write_corpus(logs, total_mb << 20)
        ours_env = lambda home: env_for(home, {"CLAUDE_CONFIG_DIR": logs, "HOME": logs, "AGENT_TODAY": "2026-11-01"})
        theirs_env = {"PATH": os.environ.get("PATH", ""), "HOME": logs, "CLAUDE_CONFIG_DIR": logs,
                      "TZ": "UTC", "NO_COLOR": "1"}
        ours_cmd, theirs_cmd = [BIN, "run", "--plugin", "claude_code_logs"], ccusage_cmd()
        subprocess.run(["cat"] + [p for p, _, _ in sessions], stdout=subprocess.DEVNULL)  # page cache
        first = {"ours": [], "theirs": []}

        def ours_first():
            home = make_home(["claude_code_logs"])
            homes.append(home)
            first["ours"].append(measured(ours_cmd, ours_env(home)))

        for i in range(runs):
            pair = [ours_first, lambda: first["theirs"].append(measured(theirs_cmd, theirs_env))]
            for run in (pair if i % 2 == 0 else pair[::-1]):
                run()
        home = homes[-1]
        calls = stored_calls(home)
        night = {"ours": [], "theirs": []}
        rng = random.Random(99)
        for i in range(nights):
            append_day(sessions, rng)
            pair = [lambda: night["ours"].append(measured(ours_cmd, ours_env(home))),
                    lambda: night["theirs"].append(measured(theirs_cmd, theirs_env))]
            for run in (pair if i % 2 == 0 else pair[::-1]):
                run()
        return size, files, calls, first, night
    finally:
        shutil.rmtree(logs)
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)


def stored_calls(home):
    import sqlite3
    with sqlite3.connect(os.path.join(home, "agent_os.db")) as db:
        return db.execute("SELECT count(*) FROM calls").fetchone()[0]


def log_rows(row):
    """The rows, through bench.py's `row(name, value, target, ok, *samples)`."""
    size, files, calls, first, night = bench_real_logs(256 if QUICK else 1024, runs=2 if QUICK else 3)
    mb = size / 1e6
    part = lambda side, i: M([s[i] for s in side])
    ow, oc, om = (part(first["ours"], i) for i in range(3))
    tw, tc, tm = (part(first["theirs"], i) for i in range(3))
    what = (f"{mb:,.0f} MB of real-shaped Claude Code logs in {files:,} files ({calls:,} calls stored)")
    row(f"first import of {what}: CPU, agent-host vs ccusage {CCUSAGE_VERSION} `--offline` "
        "(same run, order alternating)", f"{oc:.1f} s vs {tc:.1f} s ({oc / tc:.2f}x)", "<= ccusage",
        oc <= tc, oc, tc)
    row("same first import: wall time, agent-host vs ccusage", f"{ow:.1f} s vs {tw:.1f} s ({ow / tw:.2f}x)",
        "", None, ow, tw)
    row("same first import: peak memory (PSS) of the whole process tree, agent-host vs ccusage",
        f"{om:.1f} MiB vs {tm:.1f} MiB", "<= 64 MB", om * 1.048576 <= 64, om, tm)
    nw, nc, nm = (part(night["ours"], i) for i in range(3))
    cw, cc, cm = (part(night["theirs"], i) for i in range(3))
    row("nightly run after 1 MB appended to 8 sessions of that corpus: wall, agent-host vs ccusage "
        "(which reads everything again)", f"{nw * 1000:.0f} ms vs {cw:.1f} s", "< 1 s", nw < 1, nw, cw)
    row("same nightly run: CPU; peak memory (PSS), agent-host vs ccusage",
        f"{nc * 1000:.0f} ms vs {cc:.1f} s; {nm:.1f} MiB vs {cm:.1f} MiB", "", None, nc, cc, nm, cm)


if __name__ == "__main__":
    rows = []
    log_rows(lambda name, value, target="", ok=None, *samples:
             rows.append((name, value, spread(*samples) if samples else "", target, ok)))
    for name, value, samples, target, ok in rows:
        met = "" if ok is None else ("yes" if ok else "**no**")
        print(f"| {name} | {value} | {samples} | {target} | {met} |")
