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
import shlex
import threading
import time
from pathlib import Path

import docker
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dockerkernel.cli import main as cli_main  # noqa: E402
from dockerkernel.languages import get_language  # noqa: E402


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


def run_cell(kc, code: str, timeout: float = 120, allow_stdin: bool = True) -> tuple[float, list]:
    """Send one execute_request; return (seconds until status idle, iopub messages of it)."""
    start = time.perf_counter()
    msg_id = kc.execute(code, allow_stdin=allow_stdin)
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


def latency(name: str, code: str, cells: int, *args: str, settle: float = 0.0, allow_stdin: bool = True,
            setup: str = "") -> dict:
    """p50/p99 of a trivial cell over ``cells`` runs (after ``setup``, if any, and 3 warm-up cells)."""
    km, kc = start_kernel(name, *args)
    try:
        if setup:
            run_cell(kc, setup, timeout=900)
        for _ in range(3):
            run_cell(kc, code)
        times = []
        for _ in range(cells):
            if settle:
                time.sleep(settle)  # let the pool refill, as between a user's cells
            elapsed, _ = run_cell(kc, code, allow_stdin=allow_stdin)
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


# -- F: every language's hello world against its toolchain floor ------------------------------
# The same program text per language for the cell and for the floor. `{n}` makes each source
# new (a compile cache cannot help); the "unchanged" column re-runs one fixed text.
HELLO = {
    "python": 'print("hi {n}")',
    "javascript": 'console.log("hi {n}")',
    "ruby": 'puts "hi {n}"',
    "bash": "echo hi {n}",
    "c": '#include <stdio.h>\nint main(void) {{ printf("hi {n}\\n"); return 0; }}',
    "cpp": '#include <iostream>\nint main() {{ std::cout << "hi {n}" << std::endl; return 0; }}',
    "go": 'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("hi {n}") }}',
    "rust": 'fn main() {{ println!("hi {n}"); }}',
    "java": 'public class Main {{ public static void main(String[] a) {{ System.out.println("hi {n}"); }} }}',
}


def toolchain_floor(client, lang_name: str, runs: int, pause: float = 0.0) -> dict:
    """The compile+run (or run) of HELLO repeated inside one already-running container of the image.

    What a cell would cost if starting and talking to a container were free: timed inside the
    container (`date +%s%N` around each run), with the sandbox's tmpfs and the language's own
    argv and environment from the language table. ``pause``: seconds of idle before each run,
    as the cells have (on these VMs a compile after a second of idle is ~15 % slower than one
    right after another: measured 390 against 335 ms for C++'s hello world, 2026-11-30).
    """
    from dockerkernel import sources

    lang = get_language(lang_name)
    compile_argv, run_argv = lang.command_lines(lang.default_flags.split())
    run_argv = run_argv or list(lang.warm_command or ())
    subst = {"{file}": f"/tmp/dk/{lang.source_file}", "{dir}": "/tmp/dk",
             "{stem}": lang.source_file.rsplit(".", 1)[0], "{exe}": "/tmp/dk/cell"}

    def expand(argv):
        out = []
        for arg in argv:
            for key, value in subst.items():
                arg = arg.replace(key, value)
            out.append(arg)
        return " ".join(shlex.quote(a) for a in out)

    script = ["set -e", "mkdir -p /tmp/dk", "cd /workspace"]
    for i in range(runs):
        program, _ = sources.prepare(lang.wrapper, HELLO[lang_name].format(n=i), lang.source_file)
        script.append(f"printf %s {shlex.quote(program)} > /tmp/dk/{lang.source_file}")
        if pause:
            script.append(f"sleep {pause}")
        script.append("t0=$(date +%s%N)")
        if compile_argv:
            script.append(expand(compile_argv) + " >/dev/null 2>&1")
        if lang.warm_command and not lang.run_command:  # the warm interpreters read the cell on stdin
            script.append(f"{expand(run_argv)} < /tmp/dk/{lang.source_file} >/dev/null 2>&1 || true")
        else:
            script.append(expand(run_argv) + " >/dev/null")
        script.append('echo "ms $(( ($(date +%s%N) - t0) / 1000 ))"')
    container = client.containers.run(
        lang.image, ["sleep", "600"], detach=True, network_mode="none", read_only=True, user="1000:1000",
        tmpfs={"/tmp": "rw,exec,nosuid,nodev,size=256m", "/workspace": "rw,exec,size=64m,uid=1000"},
        environment=dict(lang.env), labels={"dockerkernel.bench": "floor"}, mem_limit="512m", nano_cpus=10**9)
    try:
        result = container.exec_run(["bash", "-c", "\n".join(script)], user="1000:1000")
        text = result.output.decode("utf-8", "replace")
        times = [int(line.split()[1]) / 1000 for line in text.splitlines() if line.startswith("ms ")]
        if len(times) != runs:
            raise RuntimeError(f"floor of {lang_name} failed: {text[-2000:]}")
        return {"p50_ms": statistics.median(times[1:] or times), "n": runs}
    finally:
        container.remove(force=True)


def hello_cells(lang_name: str, runs: int) -> dict:
    """HELLO as cells of docker-LANG, pooled, one second apart: new text each time, then unchanged."""
    km, kc = start_kernel(f"docker-{lang_name}")
    try:
        run_cell(kc, HELLO[lang_name].format(n="warm"))
        fresh, same = [], []
        for i in range(runs):
            time.sleep(1.0)
            elapsed, messages = run_cell(kc, HELLO[lang_name].format(n=i))
            if any(m["msg_type"] == "error" for m in messages):
                raise RuntimeError(f"hello world failed in docker-{lang_name}: {messages}")
            fresh.append(elapsed * 1000)
        for _ in range(runs):
            time.sleep(1.0)
            elapsed, _ = run_cell(kc, HELLO[lang_name].format(n="same"))
            same.append(elapsed * 1000)
        return {"p50_ms": statistics.median(fresh), "unchanged_p50_ms": statistics.median(same), "n": runs}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def every_language(client, runs: int, languages: list[str]) -> dict:
    """Row F: for each language, the pooled cell against its toolchain floor in the same run."""
    rows = {}
    for name in languages:
        print(f"F: {name} ...", flush=True)
        # the floor as the cells run (one second apart), and back to back as it was measured
        # before 2026-11-30 (kept in the table: the difference is the machine's, not ours)
        rows[name] = {"cell": hello_cells(name, runs), "floor": toolchain_floor(client, name, runs + 1, pause=1.0),
                      "floor_back_to_back": toolchain_floor(client, name, runs + 1)}
    return rows


# -- G: a 60-cell notebook through nbclient (as `jupyter nbconvert --execute`) ---------------------
def batch_notebook(kernel: str, cells: int) -> dict:
    """Wall time of nbclient executing ``cells`` small Python cells, kernel start included."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"x{i} = {i} * 2\nprint(x{i})") for i in range(cells)]
    client = NotebookClient(nb, kernel_name=kernel, timeout=120, startup_timeout=180)
    started = time.perf_counter()
    with client.setup_kernel():
        ready = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    total = time.perf_counter() - started
    wrong = [i for i, c in enumerate(nb.cells) if not c.outputs or c.outputs[0].get("text", "").strip() != str(i * 2)]
    return {"seconds": total, "kernel_start_s": ready - started, "cells": cells, "wrong_cells": wrong}


# -- H: an answered input_request, round trip -------------------------------------------------------
INPUT_LOOPS = {
    "python3": "for _ in range({n}):\n    input()",
    "docker-python": "for _ in range({n}):\n    input()",
    "docker-c": "char s[64]; for (int i = 0; i < {n}; i++) fgets(s, sizeof s, stdin);",
    "docker-java": "var sc = new java.util.Scanner(System.in); for (int i = 0; i < {n}; i++) sc.nextLine();",
    "docker-ruby": "{n}.times {{ gets }}",
    "docker-bash": "for i in $(seq {n}); do read x; done",
}


def input_round_trip(kernel: str, answers: int) -> dict:
    """p50 time from sending an answer to receiving the next input_request (the program asks at once)."""
    import queue

    km, kc = start_kernel(kernel)
    try:
        run_cell(kc, INPUT_LOOPS[kernel].format(n=1).replace("input()", "pass"), allow_stdin=False)
        msg_id = kc.execute(INPUT_LOOPS[kernel].format(n=answers + 1), allow_stdin=True)
        gaps, answered_at = [], None
        while len(gaps) < answers:
            msg = kc.get_stdin_msg(timeout=120)
            if answered_at is not None:
                gaps.append((time.perf_counter() - answered_at) * 1000)
            answered_at = time.perf_counter()
            kc.input("x")
        while True:
            try:
                reply = kc.get_shell_msg(timeout=120)
            except queue.Empty:
                break
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        return {"p50_ms": statistics.median(gaps), "p99_ms": percentile(gaps, 99), "n": len(gaps)}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


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
    """The results as a Markdown report (only the rows that ran)."""
    lines = [f"# dockerkernel benchmark — {results['when']} ({results['host']}, {os.cpu_count()} CPUs)", ""]
    ipk = results.get("ipykernel_p50_ms")
    if "A" in results:
        a = results["A"]
        pooled, cold, cli = a["docker-python pool"]["p50_ms"], a["docker-python pool_size=0"]["p50_ms"], a["docker run --rm (CLI)"]["p50_ms"]
        lines += ["## A. Trivial cell latency (execute_request → idle)", "",
                  "| path | p50 ms | p99 ms | n | p50 / ipykernel | p50 / docker run |", "|---|---:|---:|---:|---:|---:|"]
        for name, row in a.items():
            lines.append(f"| {name} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['n']} | {row['p50_ms'] / ipk:.2f}× | {row['p50_ms'] / cli:.2f}× |")
        lines += ["", "Cells are one second apart (a person's pace) except in the back-to-back row (\"run all\": "
                  "bounded by how fast the daemon starts containers, row C).", "",
                  f"Targets: pooled p50 ≤ 2× ipykernel (is {pooled / ipk:.2f}×), pooled p99 ≤ 50 ms (is {a['docker-python pool']['p99_ms']:.1f}), "
                  f"cold p50 ≤ 0.5× docker run (is {cold / cli:.2f}×).", ""]
    if "B" in results:
        lines += ["## B. Output flood (100 000 lines)", "", "| kernel | seconds | stream messages | every line delivered | vs ipykernel |", "|---|---:|---:|---|---:|"]
        base = results["B"]["ipykernel"]["seconds"]
        for name, row in results["B"].items():
            lines.append(f"| {name} | {row['seconds']:.2f} | {row['messages']} | {row['complete']} | {row['seconds'] / base:.2f}× |")
        lines.append("")
    churn = results.get("C", {}).get("raw_churn_per_s")
    if "C" in results:
        lines += ["## C. Sustained throughput", "", f"Raw daemon churn (create+start+remove, 4 threads): **{churn:.1f} containers/s**", "",
                  "| kernels | cells | cells/s | vs raw churn | lost or misattributed | errors |", "|---:|---:|---:|---:|---:|---:|"]
        for row in results["C"].get("runs", []):
            lines.append(f"| {row['kernels']} | {row['cells']} | {row['cells_per_s']:.1f} | {row['cells_per_s'] / churn:.0%} | {row['lost_or_misattributed']} | {row['errors']} |")
        lines.append("")
    if "D" in results:
        d = results["D"]
        lines += ["## D. Memory", "", f"Idle docker-python kernel process: **{d['kernel_rss_mib']:.1f} MiB RSS**; "
                  f"{d['pool_containers']} pool containers: {', '.join(f'{x} MiB' for x in d['pool_container_mib'])}.", ""]
    if "E" in results:
        lines += ["## E. Python state carried between cells", "", "| state | `print(1)` p50, state on | state off | overhead |", "|---|---:|---:|---:|"]
        for name, row in results["E"].items():
            lines.append(f"| {name} | {row['state_on_p50_ms']:.0f} ms | {row['state_off_p50_ms']:.0f} ms | "
                         f"{row['state_on_p50_ms'] - row['state_off_p50_ms']:.0f} ms |")
        lines.append("")
    if "F" in results:
        lines += ["## F. Hello world in every language (pooled cells, one second apart) vs its toolchain floor", "",
                  "Floor: the same compile and run repeated inside one already-running container of the image "
                  "(timed inside it), one second apart as the cells are; \"back to back\": without the pause "
                  "(the floor before 2026-11-30). \"Unchanged\": the same text run again.", "",
                  "| language | cell p50 ms | floor p50 ms | cell / floor | floor back to back | "
                  "unchanged re-run p50 ms | re-run / floor | cell / ipykernel |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, row in results["F"].items():
            cell, floor = row["cell"], row["floor"]["p50_ms"]
            hot = row.get("floor_back_to_back", {}).get("p50_ms", float("nan"))
            lines.append(f"| {name} | {cell['p50_ms']:.1f} | {floor:.1f} | {cell['p50_ms'] / floor:.2f}× | {hot:.1f} | "
                         f"{cell['unchanged_p50_ms']:.1f} | {cell['unchanged_p50_ms'] / floor:.2f}× | {cell['p50_ms'] / ipk:.2f}× |")
        lines.append("")
    if "G" in results:
        g = results["G"]
        lines += [f"## G. {g['docker-python']['cells']} small cells through nbclient (as `jupyter nbconvert --execute`)", "",
                  "| kernel | total s | kernel start s | cells wrong |", "|---|---:|---:|---:|"]
        for name, row in g.items():
            lines.append(f"| {name} | {row['seconds']:.2f} | {row['kernel_start_s']:.2f} | {len(row['wrong_cells'])} |")
        if churn:
            dk = g["docker-python"]
            bound = dk["kernel_start_s"] + dk["cells"] / churn * 1.1
            lines += ["", f"Target: total ≤ kernel start + cells ÷ churn (row C) × 1.1 = {bound:.2f} s (is {dk['seconds']:.2f} s)."]
        lines.append("")
    if "H" in results:
        h = results["H"]
        lines += ["## H. Answered input_request round trip (answer sent → next input_request)", "",
                  "| kernel | p50 ms | p99 ms | n | p50 − ipykernel |", "|---|---:|---:|---:|---:|"]
        base = h["python3"]["p50_ms"]
        for name, row in h.items():
            lines.append(f"| {name} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['n']} | {row['p50_ms'] - base:+.1f} |")
        lines += ["", "Target: an answered request adds ≤ 20 ms to the cell beyond the user's own time.", ""]
    if "leftover_containers" in results:
        lines += [f"Containers and volumes of this run's kernels left after the run: {results['leftover_containers']}.", ""]
    return "\n".join(lines)


def main() -> int:
    """Run the rows asked for and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI report)")
    parser.add_argument("--cells", type=int, default=None, help="cells per latency row (default 100, quick 30)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--languages", default="python,javascript,ruby,bash,c,cpp,go,rust,java",
                        help="languages of row F (hello world vs toolchain floor)")
    parser.add_argument("--only", default="A,B,C,D,E,F,G,H", help="comma-separated rows to run, e.g. F,G (default: all)")
    args = parser.parse_args()
    rows = set(args.only.upper().split(","))
    cells = args.cells or (30 if args.quick else 100)
    few = max(10, cells // 3)
    throughput_cells = 15 if args.quick else 50
    install_kernelspecs()
    client = docker.from_env(timeout=300)
    python_image = get_language("python").image
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M"), "host": os.uname().nodename, "quick": args.quick}

    if "A" not in rows:  # every ratio is to ipykernel measured in this run (row A measures it too)
        results["ipykernel_p50_ms"] = latency("python3", "print(1+1)", cells)["p50_ms"]
    if "A" in rows:
        print("A: latency ...", flush=True)
        results["A"] = {
            "ipykernel": latency("python3", "print(1+1)", cells),
            # a person runs a cell every second or more: the pool has refilled in between
            "docker-python pool": latency("docker-python", "print(1+1)", cells, settle=1.0),
            # the batch path (nbconvert, papermill: allow_stdin=False) must not regress unseen
            "docker-python pool, allow_stdin=False": latency("docker-python", "print(1+1)", few, settle=1.0,
                                                             allow_stdin=False),
            # "run all": cells back to back, faster than the daemon can start containers
            "docker-python pool, back-to-back": latency("docker-python", "print(1+1)", few),
            # issue 15: a cell after an install (a package volume mounted read-only) costs what it did
            "docker-python pool, after %pip install tabulate": latency(
                "docker-python", "print(1+1)", few, settle=1.0, setup="%pip install tabulate"),
            "docker-javascript pool": latency("docker-javascript", "console.log(2)", few, settle=1.0),
            "docker-ruby pool": latency("docker-ruby", "puts 2", few, settle=1.0),
            "docker-bash pool": latency("docker-bash", "echo 2", few, settle=1.0),
            # the cold path at the same human pace (each `docker run` below also runs alone)
            "docker-python pool_size=0": latency("docker-python", "print(1+1)", few, "--DockerKernel.pool_size=0", settle=1.0),
            "docker run --rm (CLI)": docker_cli_latency(python_image, few),
        }
        results["ipykernel_p50_ms"] = results["A"]["ipykernel"]["p50_ms"]
        if "runsc" in (client.info().get("Runtimes") or {}):
            # what gVisor costs (the README quotes it): the same pooled row, cells under runsc
            results["A"]["docker-python pool, runsc"] = latency(
                "docker-python", "print(1+1)", few, "--DockerKernel.runtime=runsc", settle=1.0)
    if "B" in rows:
        print("B: flood ...", flush=True)
        results["B"] = {"ipykernel": flood("python3", 100_000), "docker-python": flood("docker-python", 100_000)}
    if rows & {"C", "G"}:
        print("C: throughput ...", flush=True)
        results["C"] = {"raw_churn_per_s": raw_churn(client, python_image, 10 if args.quick else 20, 4)}
        if "C" in rows:
            results["C"]["runs"] = [throughput(4, throughput_cells), throughput(8, throughput_cells)]
    if "E" in rows:
        print("E: state overhead ...", flush=True)
        results["E"] = state_overhead([1, 100], 5 if args.quick else 15)
    if "F" in rows:
        results["F"] = every_language(client, 4 if args.quick else 8, args.languages.split(","))
    if "G" in rows:
        print("G: batch notebook ...", flush=True)
        batch_cells = 20 if args.quick else 60
        results["G"] = {"ipykernel": batch_notebook("python3", batch_cells),
                        "docker-python": batch_notebook("docker-python", batch_cells)}
    if "H" in rows:
        print("H: input round trip ...", flush=True)
        results["H"] = {name: input_round_trip(name, 10 if args.quick else 30) for name in INPUT_LOOPS}
    if "D" in rows:
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
