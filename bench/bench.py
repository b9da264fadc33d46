"""dockerkernel benchmark: latency, output flood, throughput and memory, with baselines measured in the same run.

    .venv/bin/python bench/bench.py                 # full run (≥100 cells per latency row)
    .venv/bin/python bench/bench.py --quick         # a short report run (CI)
    .venv/bin/python bench/bench.py --out DIR       # where the .md/.json go (default bench/results)

Rows (issue 3): A trivial-cell latency (execute_request → status idle) for docker-python with the
pool (one cell per second, as a person works, and back to back, as "run all"), without the pool, ipykernel in-process and `docker run --rm` from the CLI; B a 100 000-line
output flood; C sustained throughput of 4 and 8 concurrent kernels against the daemon's raw
container churn; D resident memory of an idle kernel and its pool containers. The machines are
shared and noisy: read the ratios, which compare numbers taken minutes apart in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dockerkernel.cli import main as cli_main  # noqa: E402


def install_kernelspecs() -> None:
    """Make this checkout's kernelspecs visible to jupyter_client (private prefix)."""
    prefix = tempfile.mkdtemp(prefix="dk-bench-")
    cli_main(["install", "--prefix", prefix])
    os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def run_cell(kc, code: str, timeout: float = 120) -> tuple[float, list]:
    """Send one execute_request; return (seconds until status idle, iopub messages of it)."""
    start = time.perf_counter()
    msg_id = kc.execute(code)
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            elapsed = time.perf_counter() - start
            break
        messages.append(msg)
    kc.get_shell_msg(timeout=timeout)
    return elapsed, messages


STARTED_PIDS: list[int] = []  # kernels of this run, for the leftover count


def start_kernel(name: str, *args: str):
    """Start a kernel and wait until it answers."""
    km, kc = start_new_kernel(kernel_name=name, startup_timeout=180, extra_arguments=list(args))
    STARTED_PIDS.append(km.provisioner.process.pid)
    return km, kc


def latency(name: str, code: str, cells: int, *args: str, settle: float = 0.0) -> dict:
    """p50/p99 of a trivial cell over ``cells`` runs (after 3 warm-up cells)."""
    km, kc = start_kernel(name, *args)
    try:
        for _ in range(3):
            run_cell(kc, code)
        times = []
        for _ in range(cells):
            if settle:
                time.sleep(settle)  # let the pool refill, as between a user's cells
            elapsed, _ = run_cell(kc, code)
            times.append(elapsed * 1000)
        return {"p50_ms": statistics.median(times), "p99_ms": percentile(times, 99), "n": cells}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def docker_cli_latency(image: str, cells: int) -> dict:
    """`docker run --rm IMAGE python3 -c 'print(1+1)'`, timed from the CLI."""
    times = []
    for _ in range(cells):
        start = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--network", "none", image, "python3", "-c", "print(1+1)"],
                       check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": statistics.median(times), "p99_ms": percentile(times, 99), "n": cells}


def flood(name: str, lines: int) -> dict:
    """Print ``lines`` lines; time, number of stream messages, and whether every line arrived."""
    km, kc = start_kernel(name)
    try:
        run_cell(kc, "print(0)")
        time.sleep(1)
        elapsed, messages = run_cell(kc, f"for i in range({lines}):\n    print(i)")
        streams = [m for m in messages if m["msg_type"] == "stream"]
        text = "".join(m["content"]["text"] for m in streams)
        complete = text.split() == [str(i) for i in range(lines)]
        return {"seconds": elapsed, "messages": len(streams), "complete": complete,
                "errors": [m["content"].get("ename") for m in messages if m["msg_type"] == "error"]}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def raw_churn(client, image: str, seconds: float, parallel: int) -> float:
    """Containers per second the daemon sustains for create+start+remove (hardened, `true`)."""
    api = client.api
    host_config = api.create_host_config(network_mode="none", read_only=True, cap_drop=["ALL"], init=True,
                                         mem_limit="512m", pids_limit=256)
    count = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        nonlocal count
        while time.monotonic() < deadline:
            cid = api.create_container(image, ["true"], host_config=host_config, labels={"dockerkernel.bench": "1"})["Id"]
            api.start(cid)
            api.remove_container(cid, force=True)
            with lock:
                count += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count / (time.monotonic() - started)


def throughput(kernels: int, cells: int) -> dict:
    """``kernels`` kernels each running ``cells`` cells concurrently; cells/s and lost lines."""
    handles = [start_kernel("docker-python") for _ in range(kernels)]
    lost = 0
    errors = 0
    barrier = threading.Barrier(kernels + 1)

    def drive(index, kc):
        nonlocal lost, errors
        barrier.wait()
        for cell in range(cells):
            token = f"k{index}-c{cell}"
            _, messages = run_cell(kc, f"print({token!r})")
            text = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
            if text != token + "\n":
                lost += 1
            errors += sum(1 for m in messages if m["msg_type"] == "error")

    try:
        for _, kc in handles:
            run_cell(kc, "print(0)")
        threads = [threading.Thread(target=drive, args=(i, kc)) for i, (_, kc) in enumerate(handles)]
        for t in threads:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    finally:
        for km, kc in handles:
            kc.stop_channels()
            km.shutdown_kernel(now=False)
    return {"kernels": kernels, "cells": kernels * cells, "seconds": elapsed,
            "cells_per_s": kernels * cells / elapsed, "lost_or_misattributed": lost, "errors": errors}


def state_overhead(sizes_mb: list[int], cells: int) -> dict:
    """Latency of `print(1)` when the notebook carries N MB of Python state, vs `%state off`."""
    rows = {}
    for size in sizes_mb:
        km, kc = start_kernel("docker-python")
        try:
            run_cell(kc, f"import numpy as np\nstate = np.ones({size} * 131072)  # {size} MB of float64")
            time.sleep(1)
            on = []
            for _ in range(cells):
                elapsed, _ = run_cell(kc, "print(1)")
                on.append(elapsed * 1000)
                time.sleep(0.2)
            run_cell(kc, "%state off")
            off = []
            for _ in range(cells):
                elapsed, _ = run_cell(kc, "print(1)")
                off.append(elapsed * 1000)
                time.sleep(0.2)
            rows[f"{size} MB"] = {"state_on_p50_ms": statistics.median(on), "state_off_p50_ms": statistics.median(off)}
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=False)
    return rows


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory(client) -> dict:
    """RSS of an idle docker-python kernel and the memory of its pool containers."""
    km, kc = start_kernel("docker-python")
    try:
        run_cell(kc, "print(1)")
        time.sleep(3)
        pid = km.provisioner.process.pid
        pool = client.api.containers(filters={"label": [f"dockerkernel.pid={pid}", "dockerkernel.role=cell"]})
        usage = []
        for info in pool:
            stats = client.api.stats(info["Id"], stream=False)
            mem = stats.get("memory_stats", {})
            usage.append((mem.get("usage", 0) - mem.get("stats", {}).get("cache", 0)) / 2**20)
        return {"kernel_rss_mib": rss_mib(pid), "pool_containers": len(usage),
                "pool_container_mib": [round(u, 1) for u in usage]}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def leftovers(client) -> int:
    """Containers and volumes of this run's kernels still on the daemon (must be 0)."""
    time.sleep(2)
    count = 0
    for pid in STARTED_PIDS:
        label = f"dockerkernel.pid={pid}"
        count += len(client.api.containers(all=True, filters={"label": [label]}))
        count += len(client.api.volumes(filters={"label": label}).get("Volumes") or [])
    return count


def render(results: dict) -> str:
    """The results as a Markdown report."""
    a = results["A"]
    ipk, pooled, cold, cli = a["ipykernel"]["p50_ms"], a["docker-python pool"]["p50_ms"], a["docker-python pool_size=0"]["p50_ms"], a["docker run --rm (CLI)"]["p50_ms"]
    lines = [f"# dockerkernel benchmark — {results['when']} ({results['host']}, {os.cpu_count()} CPUs)", "",
             "## A. Trivial cell latency (execute_request → idle)", "",
             "| path | p50 ms | p99 ms | n | p50 / ipykernel | p50 / docker run |", "|---|---:|---:|---:|---:|---:|"]
    for name, row in a.items():
        lines.append(f"| {name} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['n']} | {row['p50_ms'] / ipk:.2f}× | {row['p50_ms'] / cli:.2f}× |")
    lines += ["", "Cells are one second apart (a person's pace) except in the back-to-back row (\"run all\": "
              "bounded by how fast the daemon starts containers, row C).", "",
              f"Targets: pooled p50 ≤ 2× ipykernel (is {pooled / ipk:.2f}×), pooled p99 ≤ 50 ms (is {a['docker-python pool']['p99_ms']:.1f}), "
              f"cold p50 ≤ 0.5× docker run (is {cold / cli:.2f}×).", "",
              "## B. Output flood (100 000 lines)", "", "| kernel | seconds | stream messages | every line delivered | vs ipykernel |", "|---|---:|---:|---|---:|"]
    base = results["B"]["ipykernel"]["seconds"]
    for name, row in results["B"].items():
        lines.append(f"| {name} | {row['seconds']:.2f} | {row['messages']} | {row['complete']} | {row['seconds'] / base:.2f}× |")
    churn = results["C"]["raw_churn_per_s"]
    lines += ["", "## C. Sustained throughput", "", f"Raw daemon churn (create+start+remove, 4 threads): **{churn:.1f} containers/s**", "",
              "| kernels | cells | cells/s | vs raw churn | lost or misattributed | errors |", "|---:|---:|---:|---:|---:|---:|"]
    for row in results["C"]["runs"]:
        lines.append(f"| {row['kernels']} | {row['cells']} | {row['cells_per_s']:.1f} | {row['cells_per_s'] / churn:.0%} | {row['lost_or_misattributed']} | {row['errors']} |")
    d = results["D"]
    lines += ["", "## D. Memory", "", f"Idle docker-python kernel process: **{d['kernel_rss_mib']:.1f} MiB RSS**; "
              f"{d['pool_containers']} pool containers: {', '.join(f'{x} MiB' for x in d['pool_container_mib'])}.", "",
              f"Containers and volumes of this run's kernels left after the run: {results['leftover_containers']}.", "",
              "## E. Python state carried between cells", "", "| state | `print(1)` p50, state on | state off | overhead |", "|---|---:|---:|---:|"]
    for name, row in results["E"].items():
        lines.append(f"| {name} | {row['state_on_p50_ms']:.0f} ms | {row['state_off_p50_ms']:.0f} ms | "
                     f"{row['state_on_p50_ms'] - row['state_off_p50_ms']:.0f} ms |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Run every row and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI report)")
    parser.add_argument("--cells", type=int, default=None, help="cells per latency row (default 100, quick 30)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    cells = args.cells or (30 if args.quick else 100)
    throughput_cells = 15 if args.quick else 50
    install_kernelspecs()
    client = docker.from_env(timeout=300)
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M"), "host": os.uname().nodename, "quick": args.quick}

    print("A: latency ...", flush=True)
    results["A"] = {
        "ipykernel": latency("python3", "print(1+1)", cells),
        # a person runs a cell every second or more: the pool has refilled in between
        "docker-python pool": latency("docker-python", "print(1+1)", cells, settle=1.0),
        # "run all": cells back to back, faster than the daemon can start containers
        "docker-python pool, back-to-back": latency("docker-python", "print(1+1)", max(10, cells // 3)),
        "docker-javascript pool": latency("docker-javascript", "console.log(2)", max(10, cells // 3), settle=1.0),
        "docker-bash pool": latency("docker-bash", "echo 2", max(10, cells // 3), settle=1.0),
        # the cold path at the same human pace (each `docker run` below also runs alone)
        "docker-python pool_size=0": latency("docker-python", "print(1+1)", max(10, cells // 3), "--DockerKernel.pool_size=0",
                                             settle=1.0),
        "docker run --rm (CLI)": docker_cli_latency("dockerkernel/python:latest", max(10, cells // 3)),
    }
    if "runsc" in (client.info().get("Runtimes") or {}):
        # what gVisor costs (the README quotes it): the same pooled row, cells under runsc
        results["A"]["docker-python pool, runsc"] = latency(
            "docker-python", "print(1+1)", max(10, cells // 3), "--DockerKernel.runtime=runsc", settle=1.0)
    print("B: flood ...", flush=True)
    results["B"] = {"ipykernel": flood("python3", 100_000), "docker-python": flood("docker-python", 100_000)}
    print("C: throughput ...", flush=True)
    results["C"] = {"raw_churn_per_s": raw_churn(client, "dockerkernel/python:latest", 10 if args.quick else 20, 4),
                    "runs": [throughput(4, throughput_cells), throughput(8, throughput_cells)]}
    print("E: state overhead ...", flush=True)
    results["E"] = state_overhead([1, 100], 5 if args.quick else 15)
    print("D: memory ...", flush=True)
    results["D"] = memory(client)
    results["leftover_containers"] = leftovers(client)

    report = render(results)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(results, indent=1))
    (out / f"bench-{stamp}.md").write_text(report)
    shutil.copy(out / f"bench-{stamp}.md", out / "latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
