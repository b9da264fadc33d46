"""The scale-out tier: the Swarm spike and the three-node Hub test, as real runs (minutes each).

    python -m pytest tests/scaleout -q          # both; never part of a quick run

Each test runs the script and checks its exit status and the lines it prints; the scripts
remove everything they created, and the tests check that on the host themselves.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import docker
import pytest

# minutes each; the scripts bound themselves (spike ~1 min, run.sh ~5 min), so do these
pytestmark = [pytest.mark.docker, pytest.mark.slow]

HERE = Path(__file__).parent


def run_script(name: str, timeout: int, **env) -> str:
    """Run a script of this directory; its stdout (stderr goes to the test's output).

    On timeout the script's process group gets SIGTERM and the script two minutes to remove what it made (its trap).
    """
    environment = {**os.environ, "PYTHON": sys.executable, **env}
    process = subprocess.Popen(["bash", str(HERE / name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=environment, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the script and its children; its trap tears down
        out, err = process.communicate(timeout=120)
        sys.stderr.write(err[-6000:])
        raise AssertionError(f"{name} took more than {timeout} s:\n{out}") from None
    sys.stderr.write(err[-6000:])
    assert process.returncode == 0, f"{name} exited with {process.returncode}:\n{out}"
    return out


def nothing_of_ours_on_the_host(run_prefix: str) -> None:
    client = docker.from_env()
    assert not [c.name for c in client.containers.list(all=True) if c.name.startswith(run_prefix)]
    assert not [n.name for n in client.networks.list() if n.name.startswith(run_prefix)]
    assert not [v.name for v in client.volumes.list() if v.name.startswith(run_prefix)]
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{run_prefix}*"))


@pytest.mark.timeout(660)
def test_spike_overlay_between_nested_nodes():
    out = run_script("spike.sh", 480, DKSCALE_PREFIX="dkscale-spike")
    assert "spike result: overlay works between nested nodes" in out
    assert "docker_gwbridge on node2           1" in out
    nothing_of_ours_on_the_host("dkscale-spike-")


@pytest.mark.timeout(960)
def test_three_nodes_hub_users_and_a_node_failure():
    users = os.environ.get("DKSCALE_USERS", "10")
    out = run_script("run.sh", 780, DKSCALE_PREFIX="dkscale-test", DKSCALE_USERS=users)
    table = dict(re.findall(r"^  (\S.*?)\s{2,}(.*)$", out, re.M))
    assert table["users"] == users
    assert int(table["nodes used by servers"]) >= 2
    per_node = dict(re.findall(r"(node\d): (\d+)", table["cell containers per node (celld events)"]))
    assert sum(1 for count in per_node.values() if int(count) > 0) >= 2
    assert float(table["failover time after the node stop (s)"]) <= 120
    assert table["leftovers on surviving nodes"] == "0"
    assert table["leftovers on the host after teardown"] == "0"
    nothing_of_ours_on_the_host("dkscale-test-")
