"""Issue 13: what carrying state costs per cell in Bash, JavaScript and Ruby (bench row E).

For each language: a notebook with 100 small variables (and a few functions), then pairs of
the same trivial cell with the state carried and with ``%state off``, interleaved so that
load on the machine hits both alike. Reports the p50 of each, through jupyter_client
(execute_request sent → status idle).

    python bench/state_languages.py [--cells 10] [--lang bash javascript ruby]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--lang", nargs="*", default=list(SETUP))
    args = parser.parse_args()
    results = {lang: measure(lang, args.cells) for lang in args.lang}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
