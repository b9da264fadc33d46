"""The sandbox against the real Docker daemon: one cell in one fresh, locked-down container."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
import uuid

import docker
import pytest

from dockerkernel.errors import DaemonUnavailable, DockerKernelError, ImageMissing
from dockerkernel.languages import IMAGE_PREFIX, get_language
from dockerkernel.sandbox import (
    LABEL_HOST,
    LABEL_KERNEL,
    LABEL_PID,
    LABEL_PIDSTART,
    CellRequest,
    Limits,
    Output,
    Sandbox,
    process_start_time,
    sweep,
)
from tests.support import objects_of_this_process, our_objects
from tests.support.sandbox import Ran, make_request

pytestmark = [pytest.mark.docker, pytest.mark.images("python", "javascript", "bash")]

MiB = 1 << 20
KiB = 1 << 10


# ---- fixtures and helpers ------------------------------------------------------------------


mine = objects_of_this_process


def make_sandbox(loop, **kwargs) -> Sandbox:
    kwargs.setdefault("workspace_size", 64 * MiB)
    return Sandbox(uuid.uuid4().hex, **kwargs)


@pytest.fixture(scope="module")
def cold(loop, images):
    """A sandbox without a pool: every cell is created cold."""
    sandbox = make_sandbox(loop, pool_size=0)
    yield sandbox
    loop.run_until_complete(sandbox.close())


@pytest.fixture(scope="module")
def pooled(loop, images):
    """A sandbox with a pool of one."""
    sandbox = make_sandbox(loop, pool_size=1)
    yield sandbox
    loop.run_until_complete(sandbox.close())


@pytest.fixture(params=[0, 1], ids=["pool0", "pool1"])
def sandbox(request, cold, pooled):
    return cold if request.param == 0 else pooled


async def arun(sandbox: Sandbox, lang: str, source, on_event=None, **limits) -> Ran:
    events: list = []

    def collect(event):
        events.append(event)
        if on_event:
            on_event(event)

    outcome = await sandbox.run(make_request(lang, source, **limits), collect)
    return Ran(outcome, events)


def run(loop, sandbox: Sandbox, lang: str, source, **limits) -> Ran:
    return loop.run_until_complete(asyncio.wait_for(arun(sandbox, lang, source, **limits), 120))


def gone(client, container_id: str) -> bool:
    try:
        client.api.inspect_container(container_id)
        return False
    except docker.errors.NotFound:
        return True


# ---- hello world, streams, exits ------------------------------------------------------------


HELLO = {
    "python": 'print("hello from python")',
    "javascript": 'console.log("hello from javascript")',
    "bash": "echo hello from bash",
}


@pytest.mark.parametrize("lang", ["python", "javascript", "bash"])
def test_hello_world(loop, sandbox, lang):
    for _ in range(2):  # with a pool, the second cell takes a pre-started container
        ran = run(loop, sandbox, lang, HELLO[lang])
        assert ran.outcome.reason == "ok", ran
        assert ran.outcome.exit_code == 0
        assert ran.out() == f"hello from {lang}\n".encode()
        assert ran.out("stderr") == b""
        assert ran.outcome.container_id


def test_stdout_and_stderr_are_streamed_while_the_cell_runs(loop, pooled):
    # the program waits for a file the test writes only after it has *received* "first":
    # without live streaming the program would give up and print "no go"
    source = """
import os, sys, time
print("first", flush=True)
print("err-first", file=sys.stderr, flush=True)
for _ in range(300):
    if os.path.exists("go-signal"):
        print("second: go")
        break
    time.sleep(0.05)
else:
    print("second: no go")
print("err-last", file=sys.stderr)
"""
    run(loop, pooled, "bash", "rm -f go-signal")  # the workspace (and its holder) exists
    written = []

    def on_event(event):
        if isinstance(event, Output) and b"first" in event.data and event.stream == "stdout" and not written:
            written.append(asyncio.ensure_future(pooled.write_file("go-signal", b"")))

    ran = loop.run_until_complete(asyncio.wait_for(arun(pooled, "python", source, on_event), 60))
    assert written, "the first line never arrived"
    assert ran.outcome.reason == "ok"
    assert ran.out() == b"first\nsecond: go\n"
    assert ran.out("stderr") == b"err-first\nerr-last\n"


@pytest.mark.parametrize(
    "lang,source,code",
    [("python", "import sys\nprint('x')\nsys.exit(3)", 3), ("bash", "echo x; exit 7", 7),
     ("javascript", "console.log('x'); process.exit(5)", 5)],
)
def test_exit_code(loop, pooled, lang, source, code):
    ran = run(loop, pooled, lang, source)
    assert ran.outcome.reason == "exit"
    assert ran.outcome.exit_code == code
    assert ran.out() == b"x\n"


@pytest.mark.parametrize("status,expected", [(300, 300 & 0xFF), (-1, 255)])
def test_announced_exit_status_is_what_the_process_exits_with(loop, pooled, status, expected):
    """The warm interpreter announces its status on the done pipe before it exits: the kernel
    must see the same number the process's exit leaves (os._exit keeps the low 8 bits)."""
    ran = run(loop, pooled, "python", f"import sys\nsys.exit({status})")
    assert (ran.outcome.reason, ran.outcome.exit_code, ran.outcome.signal) == ("exit", expected, None)


def test_done_pipe_is_hidden_from_the_cell(loop, pooled):
    """The cell's environment has no DK_DONE_FD, and a program it starts does not inherit the
    pipe: beyond stdio, only the input-answers pipe ($DK_INPUT_FD) is passed on."""
    source = (
        "import os, subprocess\n"
        "print('DK_DONE_FD' in os.environ)\n"
        "out = subprocess.run(['ls', '-l', '/proc/self/fd'], capture_output=True, text=True, close_fds=False).stdout\n"
        "fds = [int(l.split(' -> ')[0].split()[-1]) for l in out.splitlines() if 'pipe:' in l]\n"
        "print(sorted(fd for fd in fds if fd > 2) == [int(os.environ['DK_INPUT_FD'])])\n"
    )
    ran = run(loop, pooled, "python", source)
    assert ran.outcome.reason == "ok", ran.outcome
    assert ran.out() == b"False\nTrue\n"


def test_forged_early_end_only_ends_its_own_cell(loop, pooled):
    """A program that finds the done pipe and announces "0" early ends its own cell (the rest of
    its output is not waited for); the next cell is unaffected."""
    source = (
        "import os, time\n"
        "for fd in os.listdir('/proc/self/fd'):\n"
        "    try:\n"
        "        os.write(int(fd), b'0\\n') if 'pipe:' in os.readlink('/proc/self/fd/' + fd) and int(fd) > 2 \\\n"
        "            else None\n"
        "    except OSError:\n"
        "        pass\n"
        "time.sleep(20)\n"
        "print('late')\n"
    )
    ran = run(loop, pooled, "python", source, timeout=15)
    assert ran.outcome.reason == "ok" and ran.outcome.elapsed < 10, ran.outcome
    assert b"late" not in ran.out()
    after = run(loop, pooled, "python", "print('next')")
    assert after.outcome.reason == "ok" and after.out() == b"next\n"


def test_python_exception_is_an_error_frame(loop, pooled):
    ran = run(loop, pooled, "python", "print('before')\n1/0\n")
    assert ran.outcome.reason == "exit"
    assert ran.outcome.error["ename"] == "ZeroDivisionError"
    assert "division by zero" in ran.outcome.error["evalue"]
    # IPython's traceback, coloured as ipykernel sends it
    assert any("1/0" in re.sub(r"\x1b\[[0-9;]*m", "", line) for line in ran.outcome.error["traceback"])
    assert ran.out() == b"before\n"
    assert not ran.frames  # the error frame is in the outcome, not passed on as an event


def test_javascript_exception_is_an_error_frame(loop, pooled):
    ran = run(loop, pooled, "javascript", "null.x")
    assert ran.outcome.reason == "exit"
    assert ran.outcome.error["ename"] == "TypeError"


def test_segfault_is_signal_11(loop, cold):
    ran = run(loop, cold, "bash", "echo before; kill -SEGV $$; echo after")
    assert ran.outcome.reason == "signal"
    assert ran.outcome.signal == 11
    assert ran.out() == b"before\n"


# ---- limits ----------------------------------------------------------------------------------


def test_timeout_kills_and_removes_the_container(loop, pooled, docker_client):
    ran = run(loop, pooled, "python", "import time\nprint('started', flush=True)\ntime.sleep(60)", timeout=3)
    assert ran.outcome.reason == "timeout"
    assert ran.out() == b"started\n"
    assert gone(docker_client, ran.outcome.container_id)
    assert run(loop, pooled, "python", "print('next')").out() == b"next\n"


@pytest.mark.parametrize("sandbox_kind", ["cold", "pooled"])
def test_infinite_output_stops_at_the_output_limit(loop, request, sandbox_kind, docker_client):
    sandbox = request.getfixturevalue(sandbox_kind)
    limit = 64 * KiB
    ran = run(loop, sandbox, "python", "while True:\n    print('x' * 99)", output=limit)
    assert ran.outcome.reason == "output"
    total = len(ran.out()) + len(ran.out("stderr"))
    assert limit // 2 <= total <= limit
    assert gone(docker_client, ran.outcome.container_id)


def test_infinite_output_on_both_streams_counts_both(loop, cold):
    limit = 64 * KiB
    source = "import sys\nwhile True:\n    print('o' * 50)\n    print('e' * 50, file=sys.stderr)"
    ran = run(loop, cold, "python", source, output=limit)
    assert ran.outcome.reason == "output"
    assert len(ran.out()) + len(ran.out("stderr")) <= limit


def test_python_fork_bomb_hits_the_pids_limit(loop, cold):
    source = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    ran = run(loop, cold, "python", source, pids=64, timeout=25)
    assert ran.outcome.reason == "pids"


def test_bash_fork_bomb_hits_the_pids_limit(loop, cold):
    # the classic bomb: the top-level shell exits at once while its descendants keep forking
    ran = run(loop, cold, "bash", ":(){ :|:& };:", timeout=25)
    assert ran.outcome.reason == "pids", ran.outcome


def test_bash_background_fork_loop_hits_the_pids_limit(loop, cold):
    ran = run(loop, cold, "bash", "while :; do sleep 100 & done", pids=64, timeout=25)
    assert ran.outcome.reason == "pids", ran.outcome


def test_memory_hog_is_oom(loop, cold):
    source = "a = []\nwhile True:\n    a.append(b'x' * (1 << 20))\n"
    ran = run(loop, cold, "python", source, memory=96 * MiB)
    assert ran.outcome.reason == "oom"
    assert run(loop, cold, "python", "print('alive')").out() == b"alive\n"


# ---- programs that misbehave politely ---------------------------------------------------------


@pytest.mark.parametrize(
    "lang,source",
    [
        ("bash", "sleep 100 &\necho bg started"),
        ("python", "import subprocess\nsubprocess.Popen(['sleep', '100'])\nprint('bg started')"),
    ],
)
def test_background_process_holding_stdout_does_not_keep_the_cell_running(loop, sandbox, lang, source):
    # a 20 s timeout: waiting for the sleeper would end as "timeout", not "ok"
    ran = run(loop, sandbox, lang, source, timeout=20)
    assert ran.outcome.reason == "ok"
    assert ran.out() == b"bg started\n"


@pytest.mark.parametrize(
    "lang,source,expected",
    [
        ("python", "import sys\nprint(repr(sys.stdin.read()))", b"''\n"),
        ("bash", "read line; echo rc=$?", b"rc=1\n"),
        ("javascript", "console.log(require('fs').readFileSync(0).length)", b"0\n"),
    ],
)
def test_program_reading_stdin_gets_eof(loop, sandbox, lang, source, expected):
    ran = run(loop, sandbox, lang, source, timeout=15)
    assert ran.outcome.reason == "ok"
    assert ran.out() == expected


def test_python_input_raises_eoferror(loop, pooled):
    ran = run(loop, pooled, "python", "input('? ')", timeout=15)
    assert ran.outcome.reason == "exit"
    assert ran.outcome.error["ename"] == "EOFError"


@pytest.mark.parametrize("lang", ["python", "bash"])
def test_one_mib_source_runs(loop, sandbox, lang):
    filler = "# " + "a" * MiB + "\n"
    source = filler + ("print('big ok')" if lang == "python" else "echo big ok")
    ran = run(loop, sandbox, lang, source)
    assert ran.outcome.reason == "ok"
    assert ran.out() == b"big ok\n"


def test_binary_output_arrives_as_bytes(loop, sandbox):
    source = (
        "import sys\n"
        "sys.stdout.buffer.write(b'\\xff\\xfe\\x00bin\\x00\\xc3\\n')\n"
        "sys.stdout.flush()\n"
        "sys.stderr.buffer.write(b'\\x80err\\x00')\n"
    )
    ran = run(loop, sandbox, "python", source)
    assert ran.outcome.reason == "ok"
    assert ran.out() == b"\xff\xfe\x00bin\x00\xc3\n"
    assert ran.out("stderr") == b"\x80err\x00"


def fake_frame(token: str, kind: str, payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"\x1bDK " + token.encode() + b" %s %d\n" % (kind.encode(), len(body)) + body


@pytest.mark.parametrize("token_kind", ["random", "nonce"])
def test_fake_end_frame_does_not_end_the_cell(loop, sandbox, token_kind):
    random_token = secrets.token_hex(16)
    source = f"""
import os, sys, time
token = {random_token!r} if {token_kind!r} == "random" else os.environ["DK_NONCE"]
body = b'{{"exit_code": 0, "files": []}}'
fake = b"\\x1bDK " + token.encode() + b" end %d\\n" % len(body) + body
sys.stdout.buffer.write(b"A" + fake + b"B\\n")
sys.stdout.flush()
sys.stderr.buffer.write(b"\\x1bDK " + token.encode() + b" end 2\\n{{}}")
sys.stderr.flush()
time.sleep(0.5)
print("after")
sys.exit(4)
"""
    ran = run(loop, sandbox, "python", source)
    assert ran.outcome.reason == "exit"
    assert ran.outcome.exit_code == 4
    stdout = ran.out()
    assert stdout.startswith(b"A\x1bDK ") and stdout.endswith(b"B\nafter\n")
    assert b'{"exit_code": 0, "files": []}' in stdout
    # (IPython then warns on stderr about sys.exit, as under ipykernel)
    assert b" end 2\n{}" in ran.out("stderr")


def test_forged_oversized_frame_does_not_swallow_the_end_of_the_cell(loop, cold):
    # the program may forge frames of its own cell, but its exit status must still be reported
    source = (
        "import os, sys\n"
        "sys.stdout.buffer.write(b'\\x1bDK ' + os.environ['DK_NONCE'].encode() + b' display 99999999\\n')\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n"  # (sys.exit(0) is an error in IPython, as under ipykernel)
    )
    ran = run(loop, cold, "python", source, timeout=10)
    assert any("exceeds" in n.text for n in ran.notices)
    assert ran.outcome.reason == "ok", ran.outcome


# ---- the container's lockdown -----------------------------------------------------------------


PROBE = r"""
import json, os
def read(*paths):
    for p in paths:
        try:
            with open(p) as fh:
                return fh.read().strip()
        except OSError:
            pass
    return None
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
root_opts = [l.split()[3].split(",") for l in open("/proc/self/mounts") if l.split()[1] == "/"][-1]
tmp = [l.split() for l in open("/proc/self/mounts") if l.split()[1] == "/tmp"][-1]
st = os.statvfs("/tmp")
try:
    open("/etc/dk-probe", "w")
    root_write = "ok"
except OSError as exc:
    root_write = exc.errno
ifaces = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
quota, period = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
if quota is None:
    quota, period = (read("/sys/fs/cgroup/cpu.max") or "0 1").split()
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(),
    "cap_eff": int(status["CapEff"], 16), "cap_bnd": int(status["CapBnd"], 16), "cap_prm": int(status["CapPrm"], 16),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "root_opts": root_opts, "root_write": root_write,
    "tmp_type": tmp[2], "tmp_bytes": st.f_blocks * st.f_frsize,
    "ifaces": ifaces,
    "mem": read("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"),
    "memsw": read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    "swap_v2": read("/sys/fs/cgroup/memory.swap.max"),
    "pids": read("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"),
    "cpus": int(quota) / int(period),
    "cwd": os.getcwd(),
    "init": open("/proc/1/cmdline").read().split("\0")[0],
}))
"""


@pytest.mark.parametrize("sandbox_kind", ["cold", "pooled"])
def test_container_is_locked_down(loop, request, sandbox_kind):
    sandbox = request.getfixturevalue(sandbox_kind)
    limits = dict(memory=200 * MiB, pids=100, tmp_size=24 * MiB, cpus=0.5)
    run(loop, sandbox, "python", "pass", **limits)  # fills the pool for these limits
    ran = run(loop, sandbox, "python", PROBE, **limits)
    assert ran.outcome.reason == "ok", ran
    info = json.loads(ran.out())
    assert info["uid"] == 1000 and info["euid"] == 1000 and info["gid"] == 1000
    assert info["cap_eff"] == 0 and info["cap_prm"] == 0 and info["cap_bnd"] == 0
    assert info["no_new_privs"] == "1"
    assert "ro" in info["root_opts"]
    assert info["root_write"] == 30  # EROFS
    assert info["ifaces"] == ["lo"]
    assert info["tmp_type"] == "tmpfs"
    assert info["tmp_bytes"] == 24 * MiB
    assert int(info["mem"]) == 200 * MiB
    if info["memsw"] is not None:  # cgroup v1 with swap accounting
        assert int(info["memsw"]) == 200 * MiB
    if info["swap_v2"] is not None:
        assert info["swap_v2"] == "0"
    assert info["pids"] == "100"
    assert info["cpus"] == pytest.approx(0.5)
    assert info["cwd"] == "/workspace"
    assert "init" in os.path.basename(info["init"])


def test_default_limits_apply(loop, cold):
    ran = run(loop, cold, "python", PROBE, timeout=30)
    info = json.loads(ran.out())
    assert int(info["mem"]) == 512 * MiB
    assert info["pids"] == "256"
    assert info["cpus"] == pytest.approx(1.0)
    assert info["ifaces"] == ["lo"]


# ---- the workspace ------------------------------------------------------------------------------


def test_workspace_persists_within_a_sandbox_only(loop, cold, pooled):
    name = f"ws-{secrets.token_hex(4)}.txt"
    ran = run(loop, pooled, "python", f"open({name!r}, 'w').write('kept')")
    assert ran.outcome.reason == "ok"
    assert name in pooled.last_files  # the runner reports the workspace's names (for completion)
    assert run(loop, pooled, "bash", f"cat {name}").out() == b"kept"
    assert run(loop, pooled, "python", f"print(open({name!r}).read())").out() == b"kept\n"
    other = run(loop, cold, "bash", f"ls {name} 2>/dev/null || echo absent")
    assert other.out() == b"absent\n"


def test_outcome_lists_the_workspace_files(loop, cold):
    ran = run(loop, cold, "bash", "touch listed-file; mkdir -p listed-dir")
    assert ran.outcome.reason == "ok"
    assert ran.outcome.files is not None, "CellOutcome.files is never filled in"
    assert {"listed-file", "listed-dir/"} <= set(ran.outcome.files)


def test_workspace_size_cap(loop, images):
    sandbox = make_sandbox(loop, pool_size=0, workspace_size=8 * MiB)
    try:
        ran = run(loop, sandbox, "bash", "dd if=/dev/zero of=big bs=1M count=32 2>&1; echo rc=$?")
        assert b"No space left on device" in ran.out()
        assert ran.out().rstrip().endswith(b"rc=1")
        size = run(loop, sandbox, "bash", "stat -c %s big").out()
        assert int(size) <= 8 * MiB
        python = run(loop, sandbox, "python", "open('more', 'wb').write(b'x' * (1 << 20))")
        assert python.outcome.error["ename"] == "OSError"
        assert "No space left" in python.outcome.error["evalue"]
        nxt = run(loop, sandbox, "bash", "rm -f big more; echo next")
        assert nxt.outcome.reason == "ok" and nxt.out() == b"next\n"
    finally:
        loop.run_until_complete(sandbox.close())


# ---- labels, cleanup, sweep ----------------------------------------------------------------------


def test_labels_on_containers_and_volume(loop, docker_client, images):
    sandbox = make_sandbox(loop, pool_size=1)
    seen: list = []

    def on_event(event):
        if isinstance(event, Output) and not seen:
            seen.extend(docker_client.api.containers(filters={"label": f"{LABEL_KERNEL}={sandbox.kernel_id}"}))

    try:
        ran = loop.run_until_complete(
            arun(sandbox, "python", "import time\nprint('x', flush=True)\ntime.sleep(1)", on_event)
        )
        assert ran.outcome.reason == "ok"
        containers, volumes = our_objects(docker_client, sandbox.kernel_id)
        everything = {c["Id"]: c for c in containers + seen}
        assert ran.outcome.container_id in everything  # the cell's own container was labelled
        assert len(everything) >= 2  # the cell and the workspace holder (and the pool)
        assert len(volumes) == 1
        expected = {LABEL_KERNEL: sandbox.kernel_id, LABEL_PID: str(os.getpid()), LABEL_HOST: socket.gethostname()}
        for labels in [c["Labels"] for c in everything.values()] + [volumes[0]["Labels"]]:
            assert {k: labels.get(k) for k in expected} == expected
    finally:
        loop.run_until_complete(sandbox.close())
    assert our_objects(docker_client, sandbox.kernel_id) == ([], [])


@pytest.mark.parametrize("pool_size", [0, 2])
def test_close_leaves_nothing(loop, docker_client, images, pool_size):
    sandbox = make_sandbox(loop, pool_size=pool_size)
    ran = run(loop, sandbox, "python", "open('f', 'w').write('x')\nprint('x')")
    assert ran.outcome.reason == "ok"
    containers, volumes = our_objects(docker_client, sandbox.kernel_id)
    assert containers and volumes
    loop.run_until_complete(sandbox.close())  # right after the cell: the pool is refilling
    assert our_objects(docker_client, sandbox.kernel_id) == ([], [])
    loop.run_until_complete(asyncio.sleep(2))  # nothing still starting shows up later
    assert our_objects(docker_client, sandbox.kernel_id) == ([], [])


def test_closed_sandbox_refuses_cells(loop, images):
    sandbox = make_sandbox(loop, pool_size=0)
    loop.run_until_complete(sandbox.close())
    with pytest.raises(DockerKernelError):
        run(loop, sandbox, "bash", "echo x")


def _labelled_objects(client, image, kernel_id, pid, pidstart, host):
    labels = {LABEL_KERNEL: kernel_id, LABEL_PID: str(pid), LABEL_HOST: host}
    if pidstart is not None:
        labels[LABEL_PIDSTART] = pidstart
    container = client.api.create_container(image, command=["true"], labels=labels)["Id"]
    volume = client.api.create_volume(f"dktest-{kernel_id}", labels=labels)["Name"]
    return container, volume


def test_sweep_removes_objects_of_dead_kernels_only(docker_client, images):
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "120"])
    ids = {k: uuid.uuid4().hex for k in ("dead", "live", "reused", "otherhost", "legacy")}
    host = socket.gethostname()
    image = images["bash"]
    objects = {}
    try:
        objects["dead"] = _labelled_objects(docker_client, image, ids["dead"], dead.pid, "", host)
        objects["live"] = _labelled_objects(
            docker_client, image, ids["live"], live.pid, process_start_time(live.pid), host
        )
        # a live pid with another start time is a reused pid: its kernel is gone
        objects["reused"] = _labelled_objects(docker_client, image, ids["reused"], live.pid, "1", host)
        objects["otherhost"] = _labelled_objects(docker_client, image, ids["otherhost"], dead.pid, "", "not-" + host)
        objects["legacy"] = _labelled_objects(docker_client, image, ids["legacy"], live.pid, None, host)
        removed = sweep(docker_client)
        assert removed["containers"] >= 2 and removed["volumes"] >= 2
        for key, present in [("dead", False), ("live", True), ("reused", False), ("otherhost", True), ("legacy", True)]:
            containers, volumes = our_objects(docker_client, ids[key])
            assert (len(containers), len(volumes)) == ((1, 1) if present else (0, 0)), key
    finally:
        live.kill()
        live.wait()
        for container, volume in objects.values():
            try:
                docker_client.api.remove_container(container, force=True)
            except docker.errors.NotFound:
                pass
            try:
                docker_client.api.remove_volume(volume, force=True)
            except docker.errors.NotFound:
                pass
    for key in ids:
        assert our_objects(docker_client, ids[key]) == ([], [])


def test_sweep_keeps_a_live_sandbox(loop, pooled, docker_client):
    run(loop, pooled, "bash", "echo x")
    holder = pooled._holder_id
    assert holder and not gone(docker_client, holder)
    sweep(docker_client)
    assert not gone(docker_client, holder)
    assert len(our_objects(docker_client, pooled.kernel_id)[1]) == 1
    assert run(loop, pooled, "bash", "echo still").out() == b"still\n"


# ---- infrastructure errors ---------------------------------------------------------------------


@pytest.mark.parametrize("pool_size", [0, 1])
def test_image_missing(loop, docker_client, images, pool_size):
    sandbox = make_sandbox(loop, pool_size=pool_size)
    language = get_language("python")
    req = CellRequest(language, b"print(1)", f"{IMAGE_PREFIX}nosuchlang:latest", Limits(timeout=10))
    try:
        with pytest.raises(ImageMissing) as info:
            loop.run_until_complete(asyncio.wait_for(sandbox.run(req, lambda e: None), 60))
        assert "dockerkernel images build nosuchlang" in str(info.value)
        # the sandbox is still usable with a real image
        assert run(loop, sandbox, "bash", "echo fine").out() == b"fine\n"
    finally:
        loop.run_until_complete(sandbox.close())
    assert our_objects(docker_client, sandbox.kernel_id) == ([], [])


def test_daemon_unreachable_is_an_error_not_a_hang(loop):
    client = docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41", timeout=5)
    sandbox = Sandbox(uuid.uuid4().hex, client=client, pool_size=1)
    try:
        with pytest.raises(DockerKernelError) as info:
            cell = sandbox.run(make_request("python", "print(1)"), lambda e: None)
            loop.run_until_complete(asyncio.wait_for(cell, 30))
        assert isinstance(info.value, DaemonUnavailable), repr(info.value)
    finally:
        loop.run_until_complete(asyncio.wait_for(sandbox.close(), 30))


# ---- interrupt -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lang,source",
    [("python", "import time\nprint('started', flush=True)\ntime.sleep(100)"), ("bash", "echo started; sleep 100")],
)
def test_interrupt_ends_the_cell(loop, sandbox, docker_client, lang, source):
    assert sandbox.interrupt() is False  # nothing runs

    async def scenario():
        started = asyncio.Event()

        def on_event(event):
            if isinstance(event, Output) and b"started" in event.data:
                started.set()

        task = asyncio.ensure_future(arun(sandbox, lang, source, on_event, timeout=60))
        await asyncio.wait_for(started.wait(), 30)
        assert sandbox.interrupt() is True
        return await asyncio.wait_for(task, 10)

    ran = loop.run_until_complete(scenario())
    assert ran.outcome.reason == "interrupt"
    assert gone(docker_client, ran.outcome.container_id)
    assert run(loop, sandbox, lang, HELLO[lang]).outcome.reason == "ok"
