"""Issue 13: what carrying state costs per cell in Bash, JavaScript and Ruby (bench row E).

For each language: a notebook with 100 small variables (and a few functions), then pairs of
the same trivial cell with the state carried and with ``%state off``, interleaved so that
load on the machine hits both alike. Reports the p50 of each, through jupyter_client
(execute_request sent → status idle).

    python bench/state_languages.py [--cells 10] [--lang bash javascript ruby] [--in-container]

``--in-container`` measures the boot alone, without kernel, daemon or pool: the language's
boot run ten times in one container (a workspace volume of its own), CPU time (user + sys,
which a busy host inflates far less than wall time) and wall time per cell, p50.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from jupyter_client.manager import start_new_kernel

SETUP = {
    "bash": "\n".join(f"v{i}={i}" for i in range(97)) + "\ndeclare -A m=([a]=1 [b]=2)\narr=(1 2 3)\nf() { echo f; }",
    "javascript": "\n".join(f"var v{i} = {i};" for i in range(97)) + "\nconst o = {a: 1}; let arr = [1, 2, 3]; function f() { return 1 }",
    "ruby": "\n".join(f"v{i} = {i}" for i in range(97)) + "\n$g = {a: 1}\n@arr = [1, 2, 3]\ndef f = 1\nnil",
}
TRIVIAL = {"bash": "echo 1", "javascript": "console.log(1)", "ruby": "puts 1"}


def run_cell(kc, code: str, timeout: float = 120) -> float:
    """Seconds from execute_request to status idle."""
    start = time.perf_counter()
    msg_id = kc.execute(code)
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                and msg["content"]["execution_state"] == "idle":
            elapsed = time.perf_counter() - start
            break
    kc.get_shell_msg(timeout=timeout)
    return elapsed


def measure(lang: str, cells: int) -> dict:
    km, kc = start_new_kernel(kernel_name=f"docker-{lang}", startup_timeout=180)
    try:
        run_cell(kc, SETUP[lang])
        for _ in range(3):  # warm-up: the pool, the page cache
            run_cell(kc, TRIVIAL[lang])
        on, off = [], []
        for _ in range(cells):
            time.sleep(0.3)
            on.append(run_cell(kc, TRIVIAL[lang]) * 1000)
            run_cell(kc, "%state off")
            time.sleep(0.3)
            off.append(run_cell(kc, TRIVIAL[lang]) * 1000)
            run_cell(kc, "%state on")
        return {"state_on_p50_ms": round(statistics.median(on), 1), "state_off_p50_ms": round(statistics.median(off), 1),
                "overhead_ms": round(statistics.median(on) - statistics.median(off), 1), "cells": cells}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


IN_CONTAINER = r"""
hdr() { printf '{"v":1,"nonce":"%032d","size":%d,"source_file":"x","run":null,"env":{},"execution_count":1,"stdin":false,"state":%s,"compile":null}\n%s' 0 "$(printf %s "$1" | wc -c)" "$2" "$1"; }
hdr "$SETUP" true | $BOOT > /dev/null 2>&1
TIMEFORMAT='%3R %3U %3S'
for mode in true false; do
  for i in $(seq $CELLS); do
    { time (hdr "$TRIVIAL" $mode | $BOOT > /dev/null 2>&1) ; } 2>&1 | sed "s/^/$mode /"
  done
done
"""
BOOTS = {"bash": "bash /opt/dockerkernel/bashboot.sh", "javascript": "node /opt/dockerkernel/boot.js",
         "ruby": "ruby /opt/dockerkernel/rubyboot.rb"}


def measure_in_container(lang: str, cells: int) -> dict:
    import subprocess
    import uuid

    from dockerkernel.languages import get_language

    volume = f"dk-state-bench-{uuid.uuid4().hex[:8]}"
    try:
        out = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "--user", "1000:1000", "-v", f"{volume}:/workspace",
             "-e", f"SETUP={SETUP[lang]}", "-e", f"TRIVIAL={TRIVIAL[lang]}", "-e", f"BOOT={BOOTS[lang]}",
             "-e", f"CELLS={cells}", get_language(lang).image, "bash", "-c", IN_CONTAINER],
            capture_output=True, text=True, check=True, timeout=600,
        ).stdout
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)
    rows: dict[str, list] = {"true": [], "false": []}
    for line in out.splitlines():
        mode, real, user, system = line.split()
        rows[mode].append((float(real) * 1000, (float(user) + float(system)) * 1000))
    result = {}
    for mode, name in (("true", "on"), ("false", "off")):
        result[f"wall_{name}_p50_ms"] = round(statistics.median(r[0] for r in rows[mode]), 1)
        result[f"cpu_{name}_p50_ms"] = round(statistics.median(r[1] for r in rows[mode]), 1)
    result["cpu_overhead_ms"] = round(result["cpu_on_p50_ms"] - result["cpu_off_p50_ms"], 1)
    result["wall_overhead_ms"] = round(result["wall_on_p50_ms"] - result["wall_off_p50_ms"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--lang", nargs="*", default=list(SETUP))
    parser.add_argument("--in-container", action="store_true", help="time the boot alone (see above)")
    args = parser.parse_args()
    how = measure_in_container if args.in_container else measure
    results = {lang: how(lang, args.cells) for lang in args.lang}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
