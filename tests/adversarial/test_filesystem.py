"""Filling /tmp, /dev/shm and /workspace (bytes and inodes) and writing to read-only paths."""

from __future__ import annotations

import pytest

from .helpers import LANGS, RUNTIME, Cells

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]

ENOSPC = b"No space left on device"


@pytest.fixture
def fresh_cells(docker_client, images):
    """A sandbox of its own (64 MiB, 100 000-inode workspace): a filled workspace stays private."""
    sandbox = Cells(docker_client, pool_size=1)
    yield sandbox
    sandbox.close()


def fill_bytes(lang: str, directory: str) -> str:
    """A cell that writes 1 MiB blocks into ``directory`` until the first error, and says which."""
    return {
        "python": (
            "import os\n"
            "block = b'\\1' * (1 << 20)\n"
            f"with open({directory + '/big'!r}, 'wb', buffering=0) as fh:\n"
            "    try:\n"
            "        for i in range(4096):\n"
            "            fh.write(block)\n"
            "        print('wrote everything')\n"
            "    except OSError as exc:\n"
            "        print('stopped:', os.strerror(exc.errno), flush=True)\n"
        ),
        "bash": f"dd if=/dev/zero of={directory}/big bs=1M count=4096 2>&1 | head -1 | sed 's/^/stopped: /'\n",
        "c": (
            "#include <errno.h>\n"
            f"FILE *f = fopen(\"{directory}/big\", \"wb\");\n"
            "static char block[1 << 20];\nmemset(block, 1, sizeof block);\n"
            "int i;\nfor (i = 0; i < 4096; i++) { if (fwrite(block, 1, sizeof block, f) != sizeof block || fflush(f)) break; }\n"
            "if (i == 4096) puts(\"wrote everything\"); else printf(\"stopped: %s\\n\", strerror(errno));\n"
        ),
    }[lang]


def fill_inodes(lang: str, directory: str) -> str:
    """A cell that creates empty files in ``directory`` until the first error (or 4 million)."""
    return {
        "python": (
            "import os\n"
            "n = 0\n"
            "try:\n"
            "    while n < 4_000_000:\n"
            f"        os.close(os.open({directory!r} + '/f%d' % n, os.O_CREAT | os.O_WRONLY, 0o600))\n"
            "        n += 1\n"
            "    print('created', n)\n"
            "except OSError as exc:\n"
            "    print('stopped after', n, os.strerror(exc.errno), flush=True)\n"
        ),
        "bash": (
            # mkdir -p of many names per process is fast enough to hit a 100 000-inode cap
            f"cd {directory} && for i in $(seq 0 999); do mkdir d$i 2>/dev/null || {{ echo stopped: $(mkdir d$i 2>&1); break; }};"
            " (cd d$i && touch $(seq -f f%g 1 200)) 2>/dev/null || { echo \"stopped: No space left on device\"; break; }; done\n"
        ),
        "c": (
            "#include <errno.h>\n#include <fcntl.h>\n#include <unistd.h>\n"
            "char path[64]; long n;\n"
            f"for (n = 0; n < 4000000; n++) {{ snprintf(path, sizeof path, \"{directory}/f%ld\", n);\n"
            "  int fd = open(path, O_CREAT | O_WRONLY, 0600); if (fd < 0) break; close(fd); }\n"
            "if (n == 4000000) puts(\"created everything\"); else printf(\"stopped after %ld %s\\n\", n, strerror(errno));\n"
        ),
    }[lang]


@pytest.mark.parametrize("directory", ["/tmp", "/dev/shm"])
@pytest.mark.parametrize("lang", LANGS)
def test_fill_scratch_bytes(cells, lang, directory):
    """/tmp (64 MiB) and /dev/shm (64 MiB) are size-capped: the writer gets ENOSPC; the next cell has
    a fresh, empty one."""
    ran = cells.run(lang, fill_bytes(lang, directory), hang_bound=60)
    assert ENOSPC in ran.out() + ran.out("stderr"), ran.describe()
    assert b"wrote everything" not in ran.out()
    cells.aftermath(ran, lang)
    empty = cells.run("bash", f"ls -A {directory} | grep -v '^dk$' | wc -l")
    assert empty.reason == "ok" and empty.text().strip() == "0", empty.describe()


@pytest.mark.parametrize("lang,directory", [("c", "/tmp"), ("c", "/dev/shm"), ("python", "/tmp")])
def test_fill_scratch_inodes(cells, lang, directory):
    """/tmp and /dev/shm have no inode cap of their own, but inodes are kernel memory charged to the
    cell: an inode flood ends as ENOSPC, OutOfMemory or at the time limit — bounded, never the host's."""
    ran = cells.run(lang, fill_inodes(lang, directory), timeout=20, hang_bound=60)
    stopped = b"stopped" in ran.out() and ENOSPC in ran.out()
    assert ran.reason in ("oom", "timeout") or stopped, ran.describe()
    assert b"created" not in ran.out(), ran.describe()
    cells.aftermath(ran, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_fill_workspace_bytes(fresh_cells, lang):
    """/workspace is a size-capped tmpfs: ENOSPC, then the next cell works, and freeing space works."""
    ran = fresh_cells.run(lang, fill_bytes(lang, "/workspace"), hang_bound=60)
    assert ENOSPC in ran.out() + ran.out("stderr"), ran.describe()
    fresh_cells.aftermath(ran, lang)
    freed = fresh_cells.run("bash", "rm -f /workspace/big && head -c 1M /dev/zero > /workspace/again && echo freed")
    assert freed.reason == "ok" and freed.text() == "freed\n", freed.describe()


@pytest.mark.parametrize("lang", LANGS)
def test_fill_workspace_inodes(fresh_cells, lang):
    """/workspace has an inode cap (100 000): ENOSPC, the next cell works, deleting frees inodes."""
    ran = fresh_cells.run(lang, fill_inodes(lang, "/workspace"), hang_bound=90)
    if RUNTIME == "runsc" and ran.reason == "timeout":
        pass  # gVisor creates files through its gofer, slowly: the time limit ends it (bounded)
    else:
        assert b"stopped" in ran.out() and ENOSPC in ran.out(), ran.describe()
    fresh_cells.aftermath(ran, lang)
    # under gVisor every unlink goes through its gofer: deleting ~100 000 files takes longer
    # than the default 30 s cell (seen at 31 s), so the clean-up cell gets more time there
    slow = {"timeout": 150} if RUNTIME == "runsc" else {}
    freed = fresh_cells.run("bash", "cd /workspace && find . -mindepth 1 -maxdepth 1 ! -name .dockerkernel -exec rm -rf {} + && touch ok && echo freed",
                            hang_bound=180, **slow)
    assert freed.reason == "ok" and freed.text() == "freed\n", freed.describe()


READ_ONLY = ["/x", "/etc/passwd", "/etc/x", "/opt/dockerkernel/runner.py", "/opt/dockerkernel/x", "/usr/bin/x",
             "/usr/local/bin/display", "/root/x", "/var/tmp/x", "/home/x", "/dev/x", "/sys/fs/cgroup/x",
             "/proc/sysrq-trigger", "/proc/sys/kernel/hostname", "/sys/kernel/uevent_helper"]

WRITE_ATTEMPTS = {
    "python": (
        "import os\n"
        f"for path in {READ_ONLY!r}:\n"
        "    try:\n"
        "        with open(path, 'a') as fh:\n"
        "            fh.write('pwned\\n')\n"
        "        print('WROTE', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', path, exc.strerror)\n"
        "for op, path in [(os.unlink, '/opt/dockerkernel/runner.py'), (os.rmdir, '/opt/dockerkernel'), (os.mkdir, '/etc/d')]:\n"
        "    try:\n"
        "        op(path)\n"
        "        print('WROTE', op.__name__, path)\n"
        "    except OSError as exc:\n"
        "        print('denied', op.__name__, path, exc.strerror)\n"
    ),
    "bash": (
        f"for p in {' '.join(READ_ONLY)}; do\n"
        "  if (echo pwned >> \"$p\") 2>/dev/null; then echo WROTE $p; else echo denied $p; fi\n"
        "done\n"
        "rm -f /opt/dockerkernel/runner.py 2>/dev/null && echo WROTE rm runner\n"
        "mv /opt/dockerkernel /opt/x 2>/dev/null && echo WROTE mv\n"
        "ln -s /workspace /etc/w 2>/dev/null && echo WROTE ln\n"
        "true\n"
    ),
    "c": (
        "#include <unistd.h>\n#include <errno.h>\n"
        f"const char *paths[] = {{{', '.join(chr(34) + p + chr(34) for p in READ_ONLY)}}};\n"
        "for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {\n"
        "  FILE *f = fopen(paths[i], \"a\");\n"
        "  if (f && fputs(\"pwned\\n\", f) >= 0 && fclose(f) == 0) printf(\"WROTE %s\\n\", paths[i]);\n"
        "  else printf(\"denied %s %s\\n\", paths[i], strerror(errno));\n"
        "}\n"
        "if (unlink(\"/opt/dockerkernel/runner.py\") == 0) puts(\"WROTE unlink\");\n"
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_write_read_only_paths(cells, lang):
    """The root filesystem, /etc, /opt/dockerkernel, /proc and /sys refuse every write."""
    ran = cells.run(lang, WRITE_ATTEMPTS[lang], hang_bound=60)
    assert ran.reason == "ok", ran.describe()
    assert b"denied /etc/passwd" in ran.out(), ran.describe()
    assert b"WROTE" not in ran.out(), ran.describe()
    cells.aftermath(ran, lang)  # the runner the next cell needs is intact


def test_workspace_is_usable_by_coreutils(cells):
    """Baseline for every runtime: ls and stat work on /workspace and its files (under gVisor
    20221219 statx() on the workspace volume failed with EINVAL, breaking ls/stat in bash cells)."""
    ran = cells.run("bash", "cd /workspace && touch probe && ls -la /workspace >/dev/null && stat -c '%U %s' probe && rm probe && echo usable")
    assert ran.reason == "ok" and ran.text() == "sandbox 0\nusable\n", ran.describe()
    cells.aftermath(ran, "bash")
