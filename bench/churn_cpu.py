"""How much CPU one container costs the machine: the daemon's raw churn (bench.py row C) measured
together with the machine's busy CPU time (/proc/stat), and a pooled docker-python container's own
CPU before its cell (its cgroup's cpu.stat). Row G's bound counts containers per second of row C;
this says what a cell's container costs in CPU seconds, so whether 2 cores can reach that bound.

    DOCKERKERNEL_IMAGE_PREFIX=dkmain/ .venv/bin/python bench/churn_cpu.py [--seconds 20]

Run it on a quiet machine (the busy time is the whole machine's).
"""

from __future__ import annotations

import argparse
import os
import time

import docker

from bench import raw_churn  # bench/bench.py, run as a script from this directory


def busy_seconds() -> float:
    """The machine's CPU time spent not idle so far (seconds, all CPUs)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    client = docker.from_env()
    image = os.environ.get("DOCKERKERNEL_IMAGE_PREFIX", "dockerkernel/") + "python"
    before, started = busy_seconds(), time.monotonic()
    rate = raw_churn(client, image, args.seconds, 4)
    busy, wall = busy_seconds() - before, time.monotonic() - started
    cpus = os.cpu_count() or 1
    print(f"raw churn: {rate:.1f} containers/s over {wall:.1f} s; machine busy {busy:.1f} CPU-s of {wall * cpus:.1f} "
          f"({busy / (wall * cpus):.0%}); {busy / (rate * wall):.3f} CPU-s per container")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
