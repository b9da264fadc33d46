"""dockerkernel load test: many kernels, many cells, some misbehaving; nothing lost, nothing leaked.

    .venv/bin/python bench/load.py                       # 16 kernels x 50 cells (by hand)
    .venv/bin/python bench/load.py --quick               # 4 kernels x 10 cells (CI report run)
    .venv/bin/python bench/load.py --kernels 8 --cells 20 --seed 7 --bad 0.2 --runtime runsc

Kernels of four languages (python, bash, javascript, c; round robin) run their cells
concurrently, one thread per kernel. Each *good* cell prints five lines carrying a token unique
to it; a fraction of the cells (``--bad``, chosen with a fixed seed) misbehave instead: output
floods, fork bombs, ``%timeout 2`` + sleeping, memory hogs. Every other cell starts with
``%timeout 30`` (a magic's limit persists in the kernel, so ``%timeout 2`` must not leak on).

Reported (Markdown table on stdout, JSON + .md under ``--out``, default bench/results/):
cells per second; p50/p99 latency (execute_request → idle) of the good cells; output lines
lost or misattributed (a token missing from its cell, or seen in any other cell: must be 0);
how the bad cells ended; containers and volumes of the kernels left after shutdown (must be 0);
resident memory of the kernel processes after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import docker
import psutil
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dockerkernel.cli import main as cli_main  # noqa: E402
from dockerkernel.sandbox import LABEL_KERNEL, LABEL_PID  # noqa: E402

LANGS = ("python", "bash", "javascript", "c")
LINES = 5

GOOD = {
    "python": "%timeout 30\nfor i in range({n}):\n    print('{tok}', i)\n",
    "bash": "%timeout 30\nfor i in $(seq 0 {last}); do echo {tok} $i; done\n",
    "javascript": "%timeout 30\nfor (let i = 0; i < {n}; i++) console.log('{tok}', i);\n",
    "c": '%timeout 30\nfor (int i = 0; i < {n}; i++) printf("%s %d\\n", "{tok}", i);\n',
}

BAD = {
    "flood": {
        "python": "while True:\n    print('y' * 100)\n",
        "bash": "yes\n",
        "javascript": "for (;;) process.stdout.write('y'.repeat(100) + '\\n');\n",
        "c": "for (;;) puts(\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\");\n",
    },
    "fork-bomb": {
        "python": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "bash": ":(){ :|:& };:\nsleep 60\n",  # the launcher stays until the limit ends the cell
        "javascript": "const cp = require('child_process');\nfor (;;) { try { cp.spawn('sleep', ['600']); } catch (e) {} }\n",
        "c": "#include <unistd.h>\nfor (;;) fork();\n",
    },
    "timeout": {
        "python": "%timeout 2\nimport time\ntime.sleep(60)\n",
        "bash": "%timeout 2\nsleep 60\n",
        "javascript": "%timeout 2\nsetTimeout(() => {}, 60000);\n",
        "c": "%timeout 2\n#include <unistd.h>\nsleep(60);\n",
    },
    "memory-hog": {
        "python": "hog = []\nwhile True:\n    hog.append(b'x' * (64 << 20))\n",
        "bash": "hog=$(head -c 2000M /dev/zero | tr '\\0' x)\n",
        "javascript": "const hog = [];\nfor (;;) hog.push(Buffer.alloc(64 << 20, 1));\n",
        "c": "for (;;) { char *p = malloc(1 << 20); if (!p) break; memset(p, 1, 1 << 20); }\n",
    },
}
EXPECTED = {
    # node queues writes to a pipe in its heap while a loop never yields: the flood then ends as
    # a V8 heap-exhaustion abort (SIGABRT) inside the memory limit, not at the output cap
    "flood": {"OutputLimitExceeded", "SIGABRT"},
    "fork-bomb": {"PidsLimitExceeded"},
    "timeout": {"CellTimeout"},
    "memory-hog": {"OutOfMemory", "MemoryError", "RangeError"},
}
TOKEN_RE = re.compile(r"tok-[0-9a-f]{16}")


def install_kernelspecs() -> None:
    """Make this checkout's kernelspecs visible to jupyter_client (private prefix)."""
    prefix = tempfile.mkdtemp(prefix="dk-load-")
    with contextlib.redirect_stdout(io.StringIO()):
        cli_main(["install", "--prefix", prefix])
    os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def plan(kernels: int, cells: int, seed: int, bad_fraction: float) -> list[list[dict]]:
    """The cells of every kernel, fixed by the seed."""
    rng = random.Random(seed)
    schedule = []
    for k in range(kernels):
        lang = LANGS[k % len(LANGS)]
        row = []
        for c in range(cells):
            # the first cell of a kernel is always good (warm-up, RSS baseline)
            if c > 0 and rng.random() < bad_fraction:
                kind = rng.choice(sorted(BAD))
                code = BAD[kind][lang] if kind == "timeout" else "%timeout 30\n" + BAD[kind][lang]
                row.append({"lang": lang, "kind": kind, "code": code, "token": None})
            else:
                token = "tok-" + "%016x" % rng.getrandbits(64)
                row.append({"lang": lang, "kind": "good", "token": token,
                            "code": GOOD[lang].format(tok=token, n=LINES, last=LINES - 1)})
        schedule.append(row)
    return schedule


def run_cell(kc, code: str, timeout: float = 300) -> tuple[float, dict, list, list]:
    """Execute one cell: (seconds to idle, reply content, its iopub messages, stray messages)."""
    started = time.perf_counter()
    msg_id = kc.execute(code)
    mine, stray = [], []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            if msg["msg_type"] not in ("status", "execute_input"):
                stray.append(msg)
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            elapsed = time.perf_counter() - started
            break
        mine.append(msg)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    return elapsed, reply["content"], mine, stray


def stdout_of(messages: list) -> str:
    """The stdout text of some iopub messages."""
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


def all_text(messages: list) -> str:
    """Every text a set of messages carries (streams, errors, display data)."""
    parts = []
    for m in messages:
        content = m.get("content", {})
        parts.append(content.get("text", ""))
        parts.extend(str(x) for x in content.get("traceback", []) or [])
        data = content.get("data") or {}
        parts.extend(str(v) for v in data.values())
    return "\n".join(parts)


def rss_mib(pid: int) -> float:
    """Resident memory of one process, MiB."""
    try:
        return psutil.Process(pid).memory_info().rss / (1 << 20)
    except psutil.Error:
        return float("nan")


def kernel_id_of(client, pid: int, timeout: float = 60) -> str:
    """The dockerkernel id of the kernel process ``pid`` (from the labels of its objects)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for info in client.api.containers(all=True, filters={"label": [f"{LABEL_PID}={pid}"]}):
            return info["Labels"][LABEL_KERNEL]
        time.sleep(0.2)
    return ""


def leftovers(client, kernel_ids: list[str]) -> dict:
    """Containers and volumes still labelled with one of ``kernel_ids``."""
    containers = volumes = 0
    for kid in kernel_ids:
        label = f"{LABEL_KERNEL}={kid}"
        containers += len(client.api.containers(all=True, filters={"label": [label]}))
        volumes += len(client.api.volumes(filters={"label": label}).get("Volumes") or [])
    return {"containers": containers, "volumes": volumes}


def main(argv: list[str] | None = None) -> int:
    """Run the load test; exit status 1 when output was lost/misattributed or objects leaked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20251127)
    parser.add_argument("--bad", type=float, default=0.15, help="fraction of misbehaving cells")
    parser.add_argument("--quick", action="store_true", help="a short report run: 4 kernels x 10 cells")
    parser.add_argument("--runtime", default=os.environ.get("DOCKERKERNEL_TEST_RUNTIME", ""), help="OCI runtime (runsc = gVisor)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.kernels, args.cells = 4, 10

    install_kernelspecs()
    client = docker.from_env(timeout=120)
    schedule = plan(args.kernels, args.cells, args.seed, args.bad)
    extra = [f"--DockerKernel.runtime={args.runtime}"] if args.runtime else []

    print(f"load: starting {args.kernels} kernels ({', '.join(LANGS)}) ...", flush=True)
    handles: list = [None] * args.kernels

    def start(index: int) -> None:
        name = f"docker-{schedule[index][0]['lang']}"
        handles[index] = start_new_kernel(kernel_name=name, startup_timeout=300, extra_arguments=extra)

    starters = [threading.Thread(target=start, args=(i,)) for i in range(args.kernels)]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    if any(h is None for h in handles):
        print("load: a kernel did not start", file=sys.stderr)
        return 2

    records: list[list[dict]] = [[] for _ in range(args.kernels)]
    rss_start: dict[int, float] = {}
    kernel_ids: list[str] = [""] * args.kernels
    barrier = threading.Barrier(args.kernels + 1)
    errors: list[str] = []

    def drive(index: int) -> None:
        km, kc = handles[index]
        pid = km.provisioner.process.pid
        try:
            first = schedule[index][0]
            elapsed, reply, mine, stray = run_cell(kc, first["code"])
            records[index].append({**first, "elapsed": elapsed, "reply": reply, "messages": mine, "stray": stray})
            kernel_ids[index] = kernel_id_of(client, pid)
            rss_start[index] = rss_mib(pid)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"kernel {index} warm-up: {exc!r}")
        barrier.wait()
        for cell in schedule[index][1:]:
            try:
                elapsed, reply, mine, stray = run_cell(kc, cell["code"])
            except Exception as exc:  # noqa: BLE001
                errors.append(f"kernel {index}: {exc!r}")
                records[index].append({**cell, "elapsed": float("nan"), "reply": {"status": "lost"}, "messages": [], "stray": []})
                continue
            records[index].append({**cell, "elapsed": elapsed, "reply": reply, "messages": mine, "stray": stray})

    print(f"load: {args.kernels} x {args.cells} cells, seed {args.seed}, {args.bad:.0%} misbehaving ...", flush=True)
    drivers = [threading.Thread(target=drive, args=(i,)) for i in range(args.kernels)]
    for t in drivers:
        t.start()
    barrier.wait()
    phase_start = time.perf_counter()
    for t in drivers:
        t.join()
    wall = time.perf_counter() - phase_start
    rss_end = {i: rss_mib(h[0].provisioner.process.pid) for i, h in enumerate(handles)}

    print("load: shutting the kernels down ...", flush=True)
    for km, kc in handles:
        try:
            kc.stop_channels()
            km.shutdown_kernel(now=False)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"shutdown: {exc!r}")
    deadline = time.monotonic() + 60
    left = leftovers(client, [k for k in kernel_ids if k])
    while (left["containers"] or left["volumes"]) and time.monotonic() < deadline:
        time.sleep(1)
        left = leftovers(client, [k for k in kernel_ids if k])

    # -- analysis -------------------------------------------------------------------------
    measured = [r for row in records for r in row[1:]]  # the warm-up cells are not in the figures
    good = [r for r in measured if r["kind"] == "good"]
    bad = [r for r in measured if r["kind"] != "good"]
    all_tokens = {r["token"]: (k, i) for k, row in enumerate(records) for i, r in enumerate(row) if r["token"]}
    lost_lines = misattributed = failed_good = 0
    for k, row in enumerate(records):
        for i, r in enumerate(row):
            expected = [f"{r['token']} {n}" for n in range(LINES)] if r["token"] else []
            lines = stdout_of(r["messages"]).splitlines()
            if r["token"]:
                if r["reply"].get("status") != "ok":
                    failed_good += 1
                lost_lines += sum(1 for line in expected if lines.count(line) != 1)
                misattributed += sum(1 for line in lines if line not in expected)
            # a token of any *other* cell seen here (stream, error, display, or stray late output)
            for token in set(TOKEN_RE.findall(all_text(r["messages"] + r["stray"]))):
                if token != r["token"] and token in all_tokens:
                    misattributed += 1
    bad_outcomes = Counter((r["kind"], r["reply"].get("ename") or r["reply"].get("status")) for r in bad)
    bad_by_language = Counter(f"{r['kind']}/{r['lang']}: {r['reply'].get('ename') or r['reply'].get('status')}" for r in bad)
    unexpected_bad = sum(n for (kind, ename), n in bad_outcomes.items() if ename not in EXPECTED[kind])
    latencies = [r["elapsed"] for r in good if r["reply"].get("status") == "ok"]
    by_lang = {lang: [r["elapsed"] for r in good if r["lang"] == lang and r["reply"].get("status") == "ok"] for lang in LANGS}

    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "kernels": args.kernels, "cells_per_kernel": args.cells, "seed": args.seed, "bad_fraction": args.bad,
        "runtime": args.runtime or "default",
        "cells_run": len(measured), "good_cells": len(good), "bad_cells": len(bad),
        "wall_seconds": round(wall, 2), "cells_per_second": round(len(measured) / wall, 2) if wall else None,
        "good_latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "good_latency_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "good_latency_p50_ms_by_language": {lang: round(percentile(v, 50) * 1000, 1) for lang, v in by_lang.items() if v},
        "good_cells_failed": failed_good,
        "lost_lines": lost_lines, "misattributed_lines": misattributed,
        "bad_outcomes": {f"{kind}: {ename}": n for (kind, ename), n in sorted(bad_outcomes.items())},
        "bad_cells_unexpected_outcome": unexpected_bad,
        "bad_outcomes_by_language": dict(sorted(bad_by_language.items())),
        "unexpected_bad_cells": [
            {"kernel": k, "cell": i, "lang": r["lang"], "kind": r["kind"], "ename": r["reply"].get("ename"),
             "status": r["reply"].get("status"), "seconds": round(r["elapsed"], 2),
             "stderr_tail": "".join(m["content"].get("text", "") for m in r["messages"]
                                    if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")[-300:]}
            for k, row in enumerate(records) for i, r in enumerate(row)
            if r["kind"] != "good" and (r["reply"].get("ename") or r["reply"].get("status")) not in EXPECTED[r["kind"]]
        ],
        "leftover_containers": left["containers"], "leftover_volumes": left["volumes"],
        "kernel_rss_mib_start": round(statistics.fmean(rss_start.values()), 1) if rss_start else None,
        "kernel_rss_mib_end": round(statistics.fmean(v for v in rss_end.values() if v == v), 1) if rss_end else None,
        "kernel_rss_mib_max_growth": round(max((rss_end[i] - rss_start.get(i, rss_end[i])) for i in rss_end), 1) if rss_end else None,
        "errors": errors[:20],
    }
    report = render(result)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"load-{'quick' if args.quick else f'{args.kernels}x{args.cells}'}-{time.strftime('%Y%m%d-%H%M%S')}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(report + "\n")
    print(f"load: wrote {out / stem}.json and .md")
    ok = not (lost_lines or misattributed or failed_good or left["containers"] or left["volumes"] or errors)
    return 0 if ok else 1


def render(r: dict) -> str:
    """The Markdown report."""
    rows = [
        ("kernels x cells", f"{r['kernels']} x {r['cells_per_kernel']} (seed {r['seed']}, {r['bad_fraction']:.0%} misbehaving, runtime {r['runtime']})"),
        ("cells run (good / bad)", f"{r['cells_run']} ({r['good_cells']} / {r['bad_cells']})"),
        ("wall time", f"{r['wall_seconds']} s"),
        ("throughput", f"{r['cells_per_second']} cells/s"),
        ("good cells: latency p50 / p99", f"{r['good_latency_p50_ms']} ms / {r['good_latency_p99_ms']} ms"),
        ("good cells: p50 by language", ", ".join(f"{k} {v} ms" for k, v in r["good_latency_p50_ms_by_language"].items())),
        ("good cells that failed", f"{r['good_cells_failed']} (must be 0)"),
        ("output lines lost", f"{r['lost_lines']} (must be 0)"),
        ("output lines misattributed", f"{r['misattributed_lines']} (must be 0)"),
        ("bad cells: outcomes", "; ".join(f"{k} x{v}" for k, v in r["bad_outcomes"].items()) or "-"),
        ("bad cells: unexpected outcome", str(r["bad_cells_unexpected_outcome"])),
        ("leftover containers / volumes", f"{r['leftover_containers']} / {r['leftover_volumes']} (must be 0 / 0)"),
        ("kernel RSS start → end (mean)", f"{r['kernel_rss_mib_start']} → {r['kernel_rss_mib_end']} MiB (max growth {r['kernel_rss_mib_max_growth']} MiB)"),
        ("harness errors", str(len(r["errors"]))),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'measure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
