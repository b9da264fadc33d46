"""Drive the three-node scale-out test (tests/scaleout/run.sh starts the nodes and the Hub).

Talks only to the Hub on 127.0.0.1 (REST API and the kernels' websockets through its proxy)
and, for the checks, to the test's own node containers with ``docker exec``/``docker stop``.

    python tests/scaleout/drive.py --hub http://127.0.0.1:PORT --token T --prefix PFX --users 6

Steps (each asserted; a failure exits 1 with the reason):

1. create USERS users and start their servers at once; all ready within the spawn timeout;
   servers on at least two nodes (from the Swarm manager's task list);
2. each user, concurrently: a ``docker-bash`` kernel through the Hub's proxy, cells 1-4 with
   exact outputs, then cell 5 (``sleep; echo done``);
3. while cell 5 runs, the worker node with most servers is stopped (``docker stop -t 0``);
   users elsewhere get ``done``; the stopped node's users get a working server back (the
   time until their server answers again is the failover time) and rerun cells 1-4 on a
   new kernel, on a surviving node;
4. placement, from each celld's own event log (``docker events``, container create, label
   ``dockerkernel.host`` = the server's hostname = its service name): every cell was created
   on the celld of the node that ran that user's server; at least two cellds ran cells;
5. all servers stopped through the API; no container or volume of a kernel on any surviving
   celld, no user service left.

Prints a JSON summary on the last line (run.sh turns it into the table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

CELLS = [  # (source, expected stdout, expected status)
    ("echo one", "one\n", "ok"),
    ("echo data > f.txt; cat f.txt; pwd", "data\n/workspace\n", "ok"),
    ("exit 3", "", "error"),
    ("seq 1 3000 | tail -n 1", "3000\n", "ok"),
]
LONG_CELL = ("sleep {sleep}; echo done", "done\n", "ok")
# the docker CLI inside a node, talking to that node's celld
CELLD_ENV = ["-e", "DOCKER_HOST=tcp://127.0.0.1:2376", "-e", "DOCKER_TLS_VERIFY=1",
             "-e", "DOCKER_CERT_PATH=/certs/client"]


class Failed(Exception):
    """A check of the test failed."""


def check(condition: bool, message: str) -> None:
    """Raise Failed(message) unless condition."""
    if not condition:
        raise Failed(message)


def log(text: str) -> None:
    """Progress on stderr with the elapsed time."""
    print(f"{time.strftime('%H:%M:%S')} [drive {time.monotonic() - T0:6.1f}s] {text}", file=sys.stderr, flush=True)


T0 = time.monotonic()


class Hub:
    """The Hub's REST API and the users' servers behind its proxy."""

    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.token = token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def api(self, method: str, path: str, **kwargs):
        response = self.session.request(method, f"{self.url}/hub/api{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise Failed(f"{method} /hub/api{path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def server(self, method: str, user: str, path: str, **kwargs):
        return self.session.request(method, f"{self.url}/user/{user}{path}", timeout=30, **kwargs)


def docker(*args: str, check_rc: bool = True) -> str:
    """The host docker CLI (only on the test's own containers)."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check_rc and done.returncode:
        raise Failed(f"docker {' '.join(args[:4])}: {done.stderr.strip()[:300]}")
    return done.stdout


def task_nodes(prefix: str, users: list[str]) -> dict[str, str]:
    """user -> node hostname of its running server task (from the manager, node1)."""
    out = docker("exec", f"{prefix}-node1", "docker", "service", "ps", *[f"jupyter-{u}" for u in users],
                 "--filter", "desired-state=running", "--format", "{{.Name}} {{.Node}} {{.CurrentState}}")
    nodes = {}
    for line in out.splitlines():
        name, node, state = line.split(" ", 2)
        if state.startswith("Running"):
            nodes[name.split(".")[0].removeprefix("jupyter-")] = node
    return nodes


def celld_cells(prefix: str, node: int, since: int) -> dict[str, int]:
    """From node N's celld event log: server hostname -> cell containers created there."""
    out = docker(
        "exec", *CELLD_ENV, f"{prefix}-node{node}", "docker", "events",
        "--since", str(since), "--until", str(int(time.time()) + 1), "--filter", "type=container",
        "--filter", "event=create", "--filter", "label=dockerkernel.kernel", "--format", "{{json .Actor.Attributes}}",
    )
    counts: dict[str, int] = {}
    for line in out.splitlines():
        attributes = json.loads(line)
        host = attributes.get("dockerkernel.host", "?")
        if attributes.get("dockerkernel.role") == "cell":
            counts[host] = counts.get(host, 0) + 1
    return counts


def celld_leftovers(prefix: str, node: int) -> tuple[int, int]:
    """Containers and volumes of kernels on node N's celld."""
    name = f"{prefix}-node{node}"
    containers = docker("exec", *CELLD_ENV, name, "docker", "ps", "-aq", "--filter", "label=dockerkernel.kernel")
    volumes = docker("exec", *CELLD_ENV, name, "docker", "volume", "ls", "-q", "--filter", "label=dockerkernel.kernel")
    return len(containers.split()), len(volumes.split())


class Kernel:
    """A docker-bash kernel of one user's server, over its websocket through the Hub's proxy."""

    def __init__(self, hub: Hub, user: str):
        self.hub = hub
        self.user = user
        self.session = uuid.uuid4().hex
        self.ws = None
        self.id = ""

    async def start(self) -> None:
        response = await asyncio.to_thread(self.hub.server, "POST", self.user, "/api/kernels",
                                           json={"name": "docker-bash"})
        check(response.status_code == 201,
              f"{self.user}: start kernel: HTTP {response.status_code} {response.text[:200]}")
        self.id = response.json()["id"]
        url = self.hub.url.replace("http", "ws", 1) + f"/user/{self.user}/api/kernels/{self.id}/channels"
        request = HTTPRequest(url, headers={"Authorization": f"token {self.hub.token}"}, connect_timeout=30)
        self.ws = await websocket_connect(request)

    async def execute(self, code: str, timeout: float = 120) -> dict:
        """Run one cell: {"status", "stdout", "ename", "daemon"} (daemon from the reply's provenance)."""
        msg_id = uuid.uuid4().hex
        message = {
            "header": {"msg_id": msg_id, "username": self.user, "session": self.session, "msg_type": "execute_request",
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": False},
        }
        await self.ws.write_message(json.dumps(message))
        result = {"stdout": "", "status": None, "ename": None, "daemon": {}}
        idle = False
        deadline = time.monotonic() + timeout
        while result["status"] is None or not idle:
            remaining = deadline - time.monotonic()
            check(remaining > 0, f"{self.user}: no reply to {code!r} within {timeout:.0f} s")
            raw = await asyncio.wait_for(self.ws.read_message(), remaining)
            check(raw is not None, f"{self.user}: the kernel's websocket closed during {code!r}")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream" and msg["content"]["name"] == "stdout":
                result["stdout"] += msg["content"]["text"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                result["status"] = msg["content"]["status"]
                result["ename"] = msg["content"].get("ename")
                result["daemon"] = (msg.get("metadata") or {}).get("dockerkernel", {}).get("daemon", {})
        return result

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


async def run_cells(kernel: Kernel, cells) -> list[dict]:
    """Run cells in order, checking each output and status exactly."""
    results = []
    for source, stdout, status in cells:
        got = await kernel.execute(source)
        check(got["status"] == status and got["stdout"] == stdout,
              f"{kernel.user}: cell {source!r}: status {got['status']} stdout {got['stdout']!r} "
              f"(want {status} {stdout!r}, ename {got['ename']})")
        results.append(got)
    return results


async def wait_ready(hub: Hub, users: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(users)
    while pending:
        check(time.monotonic() < deadline, f"servers not ready within {timeout:.0f} s: {sorted(pending)}")
        for user in list(pending):
            model = await asyncio.to_thread(hub.api, "GET", f"/users/{user}")
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                pending.discard(user)
        await asyncio.sleep(2)


async def server_answers(hub: Hub, user: str) -> bool:
    try:
        response = await asyncio.to_thread(hub.server, "GET", user, "/api/status")
        return response.status_code == 200
    except requests.RequestException:
        return False


async def spawn(hub: Hub, args, users: list[str], summary: dict) -> dict[str, str]:
    """Step 1: every user's server ready, on at least two nodes; user -> node."""
    hub.api("POST", "/users", json={"usernames": users})
    t = time.monotonic()
    for user in users:
        hub.api("POST", f"/users/{user}/server")
    await wait_ready(hub, users, args.spawn_timeout)
    summary["spawn_s"] = round(time.monotonic() - t, 1)
    placement = task_nodes(args.prefix, users)
    check(sorted(placement) == sorted(users), f"running tasks of only {sorted(placement)}")
    log(f"{len(users)} servers ready in {summary['spawn_s']} s: {placement}")
    check(len(set(placement.values())) >= 2, f"all servers on one node: {placement}")
    return placement


async def first_cells(kernels: dict[str, Kernel], placement: dict[str, str]) -> None:
    """Step 2: cells 1-4 for every user; their provenance names the server's own node."""
    await asyncio.gather(*(k.start() for k in kernels.values()))
    firsts = await asyncio.gather(*(run_cells(k, CELLS) for k in kernels.values()))
    for user, results in zip(kernels, firsts, strict=True):
        names = {r["daemon"].get("name") for r in results}
        check(names == {placement[user]}, f"{user}: provenance names {names}, server on {placement[user]}")
    log("cells 1-4 ok for every user; provenance names each server's own node")


def check_placement(args, users: list[str], placement: dict[str, str], since: int, summary: dict) -> None:
    """Step 4 (before any node stops): the cellds' own event logs agree with the placement."""
    per_node = {n: celld_cells(args.prefix, n, since) for n in range(1, args.nodes + 1)}
    for n, counts in per_node.items():
        for host, count in counts.items():
            user = host.removeprefix("jupyter-")
            check(placement.get(user) == f"node{n}", f"celld of node{n} ran {count} cell(s) of {host}, "
                  f"whose server is on {placement.get(user)}")
    for user in users:
        ran = sum(counts.get(f"jupyter-{user}", 0) for counts in per_node.values())
        check(ran >= len(CELLS), f"{user}: the cellds logged {ran} cell containers, expected >= {len(CELLS)}")
    used = [n for n, counts in per_node.items() if counts]
    check(len(used) >= 2, f"cells ran on {len(used)} celld(s) only")
    summary["cells_per_node"] = {f"node{n}": sum(c.values()) for n, c in per_node.items()}
    log(f"celld event logs agree with placement: {summary['cells_per_node']}")


async def recover(hub: Hub, user: str, victim: str, t_stop: float, limit: float) -> float:
    """A user of the stopped node: seconds until the server answers again; cells 1-4 rerun elsewhere."""
    while not await server_answers(hub, user):
        check(time.monotonic() - t_stop < limit, f"{user}: no server {limit:.0f} s after the node stop")
        await asyncio.sleep(1)
    took = time.monotonic() - t_stop
    kernel = Kernel(hub, user)
    await kernel.start()
    results = await run_cells(kernel, CELLS)
    kernel.close()
    nodes = {r["daemon"].get("name") for r in results}
    check(victim not in nodes, f"{user}: cells ran on the stopped node {nodes}")
    return took


async def node_failure(hub: Hub, args, kernels: dict[str, Kernel], placement: dict[str, str], summary: dict) -> str:
    """Step 3: stop the busiest worker during cell 5; the others finish, its users come back."""
    users = list(kernels)
    workers = sorted({n for n in placement.values() if n != "node1"}, key=lambda n: -list(placement.values()).count(n))
    check(bool(workers), "no server on a worker node to fail")
    victim = workers[0]
    hit = [u for u in users if placement[u] == victim]
    safe = [u for u in users if placement[u] != victim]
    code = LONG_CELL[0].format(sleep=args.sleep)
    running = {u: asyncio.ensure_future(kernels[u].execute(code, timeout=args.sleep + 60)) for u in users}
    await asyncio.sleep(3)
    t_stop = time.monotonic()
    docker("stop", "-t", "0", f"{args.prefix}-{victim}")
    log(f"stopped {victim} (servers of {hit}) while cell 5 runs")
    recovery = asyncio.gather(*(recover(hub, u, victim, t_stop, args.failover_limit + 60) for u in hit))
    for user in safe:
        got = await running[user]
        check(got["status"] == "ok" and got["stdout"] == LONG_CELL[1],
              f"{user} (on {placement[user]}): cell 5 got {got}")
    log(f"users on surviving nodes finished cell 5 unharmed: {safe}")
    times = await recovery
    for user in hit:
        running[user].cancel()
    summary["failover_s"] = round(max(times), 1) if times else None
    summary["failed_node"] = victim
    summary["moved_users"] = hit
    check(summary["failover_s"] <= args.failover_limit,
          f"failover took {summary['failover_s']} s (limit {args.failover_limit})")
    after = task_nodes(args.prefix, users)
    summary["placement_after"] = after
    log(f"{hit} back in {summary['failover_s']} s on {[after.get(u) for u in hit]}; cells 1-4 ok again")
    return victim


async def stop_all(hub: Hub, args, users: list[str], victim: str, summary: dict) -> None:
    """Step 5: every server stopped; nothing of a kernel on the surviving cellds, no user service."""
    for user in users:
        hub.api("DELETE", f"/users/{user}/server")
    survivors = [n for n in range(1, args.nodes + 1) if f"node{n}" != victim]
    deadline = time.monotonic() + 60
    while True:
        left = {n: celld_leftovers(args.prefix, n) for n in survivors}
        services = docker("exec", f"{args.prefix}-node1", "docker", "service", "ls", "--format", "{{.Name}}").split()
        users_left = [s for s in services if s.startswith("jupyter-")]
        total = sum(c + v for c, v in left.values()) + len(users_left)
        if total == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    summary["leftovers_nodes"] = total
    check(total == 0, f"after stopping every server: celld objects {left}, services {users_left}")
    log("all servers stopped: no kernel container, volume or user service left on the surviving nodes")


async def main(args) -> dict:
    """Steps 1-5; the summary for the table."""
    hub = Hub(args.hub, args.token)
    users = [f"u{i}" for i in range(1, args.users + 1)]
    since = int(time.time()) - 5
    summary: dict = {"users": args.users}
    placement = await spawn(hub, args, users, summary)
    kernels = {user: Kernel(hub, user) for user in users}
    await first_cells(kernels, placement)
    check_placement(args, users, placement, since, summary)
    victim = await node_failure(hub, args, kernels, placement, summary)
    for kernel in kernels.values():
        kernel.close()
    await stop_all(hub, args, users, victim, summary)
    return summary


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--prefix", required=True, help="the node containers' name prefix")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--sleep", type=int, default=20, help="seconds of cell 5")
    parser.add_argument("--spawn-timeout", type=float, default=240)
    parser.add_argument("--failover-limit", type=float, default=120)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    try:
        result = asyncio.run(main(arguments))
    except Failed as exc:
        log(f"FAIL: {exc}")
        print(json.dumps({"failed": str(exc)}))
        sys.exit(1)
    print(json.dumps(result))
