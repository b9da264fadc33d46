"""Processes that try to outlive their cell (double fork, setsid, nohup … &, SIGTERM ignored),
keep the output pipe open, write into the next cell, or kill PID 1 of their container."""

from __future__ import annotations

import pytest

from .helpers import LANGS, assert_container_gone, processes_of

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]

# each leaves a SIGTERM-ignoring process behind that keeps printing LEAK to the cell's stdout
DAEMONS = {
    ("python", "double-fork"): (
        "import os, signal, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "        signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "        while True:\n"
        "            os.write(1, b'LEAK\\n')\n"
        "            time.sleep(0.05)\n"
        "    os._exit(0)\n"
        "print('parent done', flush=True)\n"
    ),
    ("bash", "setsid"): "setsid bash -c 'trap \"\" TERM HUP; while :; do echo LEAK; sleep 0.05; done' &\necho parent done\n",
    ("bash", "nohup"): "nohup bash -c 'trap \"\" TERM HUP; while :; do echo LEAK; sleep 0.05; done' 2>/dev/null &\ndisown\necho parent done\n",
    ("c", "double-fork"): (
        "#include <unistd.h>\n#include <signal.h>\n"
        "if (fork() == 0) { setsid(); if (fork() == 0) { signal(SIGTERM, SIG_IGN); signal(SIGHUP, SIG_IGN);\n"
        "    for (;;) { write(1, \"LEAK\\n\", 5); usleep(50000); } } _exit(0); }\n"
        "printf(\"parent done\\n\");\n"
    ),
}


@pytest.mark.parametrize("lang,how", sorted(DAEMONS), ids=[f"{a}-{b}" for a, b in sorted(DAEMONS)])
def test_daemon_does_not_outlive_its_cell(cells, lang, how):
    """The cell ends when its program exits although a daemon holds the pipe; the daemon dies with
    the container and none of its output reaches the next cell."""
    ran = cells.run(lang, DAEMONS[(lang, how)], hang_bound=20)
    assert ran.reason == "ok", ran.describe()
    assert b"parent done" in ran.out(), ran.describe()
    # the kernel did not wait for the daemon (which never closes the pipe): well below the 30 s limit
    assert ran.elapsed < 20, ran.describe()
    cells.aftermath(ran, lang)  # container, processes, mounts gone; the next cell prints only its token


@pytest.mark.parametrize("lang", LANGS)
def test_daemon_output_never_reaches_next_cell(cells, lang):
    """Several cells in a row, each with a leaking daemon: every cell shows only its own output."""
    code = DAEMONS[(lang, "setsid" if lang == "bash" else "double-fork")]
    for _ in range(2):
        ran = cells.run(lang, code, hang_bound=20)
        assert ran.reason == "ok", ran.describe()
        normal = cells.normal(lang)  # asserts its stdout is exactly its token: no LEAK
        assert b"LEAK" not in normal.out() + normal.out("stderr")
        assert_container_gone(cells.client, ran.outcome.container_id)


KILL_INIT = {
    ("python", "KILL"): "import os, signal, time\nos.kill(1, signal.SIGKILL)\ntime.sleep(0.5)\nprint('after', flush=True)\n",
    ("python", "TERM"): "import os, signal, time\nos.kill(1, signal.SIGTERM)\ntime.sleep(2)\nprint('after', flush=True)\n",
    ("bash", "KILL"): "kill -9 1\nsleep 0.5\necho after\n",
    ("bash", "TERM"): "kill -TERM 1\nsleep 2\necho after\n",
    ("bash", "KILL-all"): "kill -9 -1\nsleep 2\necho after\n",
    ("c", "KILL"): "#include <signal.h>\n#include <unistd.h>\nkill(1, SIGKILL); usleep(500000); puts(\"after\");\n",
    ("c", "TERM"): "#include <signal.h>\n#include <unistd.h>\nkill(1, SIGTERM); sleep(2); puts(\"after\");\n",
}


@pytest.mark.parametrize("lang,sig", sorted(KILL_INIT), ids=[f"{a}-{b}" for a, b in sorted(KILL_INIT)])
def test_kill_pid1(cells, lang, sig):
    """Killing PID 1 (docker-init) of the cell's container: SIGKILL is ignored by a namespace's init
    (the cell goes on), SIGTERM is forwarded to the runner and the container ends: a clear error
    (ContainerLost, or the signal that ended the program: SIGTERM / SIGKILL for `kill -9 -1`),
    never a hang or a wrong 'ok'. The next cell is normal."""
    ran = cells.run(lang, KILL_INIT[(lang, sig)], hang_bound=20)
    if ran.reason == "ok":
        assert b"after" in ran.out(), ran.describe()
    elif ran.reason == "signal":
        assert ran.outcome.signal in (9, 15), ran.describe()
    else:
        assert ran.reason == "lost", ran.describe()
    assert ran.elapsed < 20
    cells.aftermath(ran, lang)


def test_kill_pid1_in_kernel_is_a_clear_error(kernel_factory):
    """Through Jupyter: the cell that ends its container gets one error that says what happened
    (ContainerLost, or SIGTERM: the signal init forwarded); the next cell works, without a
    kernel restart."""
    from .helpers import kernel_args

    kernel = kernel_factory("docker-bash", *kernel_args())
    result = kernel.run("kill -TERM 1; sleep 5; echo after")
    assert result.status == "error" and result.ename in ("ContainerLost", "SIGTERM"), result.reply
    evalue = result.reply["content"]["evalue"]
    assert "ended unexpectedly" in evalue or "killed by SIGTERM" in evalue, evalue
    assert "after" not in result.stream()
    nxt = kernel.run("echo fine")
    assert nxt.status == "ok" and nxt.stream() == "fine\n", nxt.reply


def test_no_process_of_a_daemonizing_cell_on_host(cells):
    """Belt and braces: a process that double-forks *and* renames itself is gone from the host's
    process table once its container is removed (checked by cgroup, not by name)."""
    code = (
        "import ctypes, os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        ctypes.CDLL(None).prctl(15, b'kworker/0:1', 0, 0, 0)\n"  # PR_SET_NAME
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        "print('spawned', flush=True)\n"
    )
    ran = cells.run("python", code, hang_bound=20)
    assert ran.reason == "ok" and b"spawned" in ran.out(), ran.describe()
    cells.aftermath(ran, "python")
    assert processes_of(ran.outcome.container_id) == []
