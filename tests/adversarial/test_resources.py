"""Resource exhaustion: fork and thread bombs, busy loops, sleeping past the deadline, SIGTERM
ignored, memory hogs. Each ends by its limit with a clear reason; then the next cell is normal
and nothing of the cell remains (container, processes, mounts)."""

from __future__ import annotations

import pytest

from .helpers import LANGS, RUNTIME

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]

FORK_BOMB = {
    "python": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "bash": ":(){ :|:& };:\nsleep 600\n",  # the launcher stays: the limit must be what ends the cell
    "c": "#include <unistd.h>\nfor (;;) fork();\n",
}

THREAD_BOMB = {
    "python": (
        "import threading, time\n"
        "threads = []\n"
        "while True:\n"
        "    t = threading.Thread(target=time.sleep, args=(600,), daemon=True)\n"
        "    try:\n"
        "        t.start()\n"
        "    except RuntimeError:\n"
        "        pass\n"
        "    threads.append(t)\n"
    ),
    "c": (
        "#include <pthread.h>\n#include <unistd.h>\n"
        "static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }\n"
        "int main(void) { pthread_t t; for (;;) pthread_create(&t, NULL, idle, NULL); }\n"
    ),
    # bash has no threads: background jobs are processes (the fork bomb covers them)
}

BUSY_LOOP = {
    "python": "while True:\n    pass\n",
    "bash": "while :; do :; done\n",
    "c": "volatile unsigned long spin = 0;\nfor (;;) spin++;\n",
}

SLEEP = {
    "python": "import time\ntime.sleep(600)\n",
    "bash": "sleep 600\n",
    "c": "#include <unistd.h>\nsleep(600);\n",
}

IGNORE_TERM = {
    "python": "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)\n",
    "bash": "trap '' TERM INT HUP\nwhile :; do sleep 1; done\n",
    "c": "#include <signal.h>\n#include <unistd.h>\nsignal(SIGTERM, SIG_IGN); signal(SIGINT, SIG_IGN);\nfor (;;) sleep(1);\n",
}

MEMORY_HOG = {
    # every page is written, so the memory is really used (bytearray(n) alone would be lazy)
    "python": "hog = []\nwhile True:\n    hog.append(b'x' * (64 << 20))\n",
    "bash": "hog=$(head -c 2000M /dev/zero | tr '\\0' x)\necho survived ${#hog}\n",
    "c": "for (;;) { char *p = malloc(1 << 20); if (!p) break; memset(p, 1, 1 << 20); }\nputs(\"malloc failed\");\n",
}


@pytest.mark.parametrize("lang", LANGS)
def test_fork_bomb(cells, lang):
    """A fork bomb hits the pids limit and the cell is stopped (PidsLimitExceeded) within 30 s."""
    # under gVisor every process costs the sandbox about 5 MiB of host memory (measured: 64
    # Python processes 386 MiB, 256 1.3 GiB), more for a Python that has IPython loaded (its
    # copied pages: 64 of them passed 1 GiB in CI), so with the default 256 pids / 512 MiB a
    # bomb meets the memory limit first (OutOfMemory, see test_fork_bomb_default_limits); the
    # pids limit itself is tested with a limit that fits in memory with room to spare
    overrides = {"pids": 32, "memory": 3 << 30} if RUNTIME == "runsc" else {}
    ran = cells.run(lang, FORK_BOMB[lang], hang_bound=30, **overrides)
    assert ran.reason == "pids", ran.describe()
    assert ran.elapsed < 30, ran.describe()
    cells.aftermath(ran, lang)


def test_fork_bomb_default_limits(cells):
    """With the default limits a Python fork bomb ends within seconds by the limit it meets first:
    pids under runc; under gVisor (~5 MiB of host memory per process) memory may come first."""
    ran = cells.run("python", FORK_BOMB["python"], hang_bound=30)
    assert ran.reason in (("pids", "oom") if RUNTIME == "runsc" else ("pids",)), ran.describe()
    assert ran.elapsed < 30, ran.describe()
    cells.aftermath(ran, "python")


ORPHAN_BOMB = {
    # the launcher exits at once; the bomb grows on as orphans of the container's init
    "python": "import os\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\nprint('launched')\n",
    "bash": ":(){ :|:& };:\necho launched\n",
    "c": "#include <unistd.h>\nif (fork() == 0) { setsid(); for (;;) fork(); }\nputs(\"launched\");\n",
}


@pytest.mark.parametrize("lang", LANGS)
def test_orphaned_fork_bomb(cells, lang):
    """A fork bomb whose launcher exits at once: the cell may end 'ok' (its program did) or as
    PidsLimitExceeded (if the limit was hit first); either way the bomb dies with the container
    and none of its processes survives on the host."""
    ran = cells.run(lang, ORPHAN_BOMB[lang], hang_bound=30)
    # under gVisor the orphans may meet the memory limit first (see test_fork_bomb)
    assert ran.reason in (("ok", "pids", "oom") if RUNTIME == "runsc" else ("ok", "pids")), ran.describe()
    cells.aftermath(ran, lang)


@pytest.mark.parametrize("lang", ["python", "c"])
def test_thread_bomb(cells, lang):
    """Threads count against the same pids limit: PidsLimitExceeded within 30 s."""
    ran = cells.run(lang, THREAD_BOMB[lang], hang_bound=30)
    assert ran.reason == "pids", ran.describe()
    cells.aftermath(ran, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_busy_loop(cells, lang):
    """A spinning program is stopped at the wall-clock limit (CellTimeout)."""
    ran = cells.run(lang, BUSY_LOOP[lang], timeout=3, hang_bound=30)
    assert ran.reason == "timeout", ran.describe()
    cells.aftermath(ran, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_sleep_past_deadline(cells, lang):
    """A program sleeping for ten minutes is stopped at the limit (CellTimeout)."""
    ran = cells.run(lang, SLEEP[lang], timeout=3, hang_bound=30)
    assert ran.reason == "timeout", ran.describe()
    cells.aftermath(ran, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_ignores_sigterm(cells, lang):
    """Ignoring SIGTERM/SIGINT does not keep a cell alive past its limit (the container is killed)."""
    ran = cells.run(lang, IGNORE_TERM[lang], timeout=3, hang_bound=30)
    assert ran.reason == "timeout", ran.describe()
    cells.aftermath(ran, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_memory_hog(cells, lang):
    """Eating memory ends as OutOfMemory (or the language's own MemoryError), never as a hang."""
    ran = cells.run(lang, MEMORY_HOG[lang], hang_bound=60)
    own_error = ran.reason == "exit" and (ran.outcome.error or {}).get("ename") == "MemoryError"
    # under gVisor bash's pipe reads are slow enough that the time limit comes first: still bounded
    slow_but_bounded = RUNTIME == "runsc" and lang == "bash" and ran.reason == "timeout"
    assert ran.reason == "oom" or own_error or slow_but_bounded, ran.describe()
    assert b"survived" not in ran.out() and b"malloc failed" not in ran.out(), ran.describe()
    cells.aftermath(ran, lang)
