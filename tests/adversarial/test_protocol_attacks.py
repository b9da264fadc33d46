"""Attacks on the in-band protocol: forged end-of-cell and display frames with guessed tokens,
frames written to /proc/1/fd/1, reading the runner's end token through /proc or ptrace, frames
that try to swallow the runner's end frame, and reading the container's own stdout pipe."""

from __future__ import annotations

import pytest

from .helpers import LANGS, RUNTIME, hex_tokens

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]

GUESS = "0123456789abcdef0123456789abcdef"  # a guessed 32-hex token
_END_BODY = b'{"exit_code":0,"signal":null,"files":["FORGED"],"elapsed":0.0}'
FORGED_END = b"\x1bDK " + GUESS.encode() + b" end %d\n" % len(_END_BODY) + _END_BODY
_DISPLAY_BODY = b'{"data":{"text/plain":"FORGED"}}'
FORGED_DISPLAY = b"\x1bDK " + GUESS.encode() + b" display %d\n" % len(_DISPLAY_BODY) + _DISPLAY_BODY


def c_literal(data: bytes) -> str:
    """A C string literal for ``data`` (octal escapes: a hex escape would swallow 'D')."""
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append("\\%03o" % byte)
    return '"' + "".join(out) + '"'


def bash_literal(data: bytes) -> str:
    """A bash $'...' literal for ``data``."""
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in "'\\":
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append("\\x%02x" % byte)
    return "$'" + "".join(out) + "'"


FORGE = {
    "python": (
        "import os, sys, time\n"
        f"os.write(1, {FORGED_END!r})\n"
        f"os.write(1, {FORGED_DISPLAY!r})\n"
        "nonce = os.environ['DK_NONCE'].encode()\n"
        "os.write(1, b'\\x1bDK ' + nonce + b' end 2\\n{}')\n"  # a runner kind signed with the program's nonce
        "os.write(1, b'\\x1bDK ' + nonce + b' limit 15\\n{\"which\":\"pids\"}')\n"
        f"os.write(2, {FORGED_END!r})\n"
        "time.sleep(0.5)\n"
        "print('AFTER', flush=True)\n"
    ),
    "bash": (
        f"printf %s {bash_literal(FORGED_END)}\n"
        f"printf %s {bash_literal(FORGED_DISPLAY)}\n"
        "printf '\\033DK %s end 2\\n{}' \"$DK_NONCE\"\n"
        "printf '\\033DK %s limit 15\\n{\"which\":\"pids\"}' \"$DK_NONCE\"\n"
        f"printf %s {bash_literal(FORGED_END)} >&2\n"
        "sleep 0.5\n"
        "echo AFTER\n"
    ),
    "c": (
        "#include <unistd.h>\n"
        f"fputs({c_literal(FORGED_END)}, stdout); fflush(stdout);\n"
        f"fputs({c_literal(FORGED_DISPLAY)}, stdout); fflush(stdout);\n"
        "printf(\"\\033DK %s end 2\\n{}\", getenv(\"DK_NONCE\")); fflush(stdout);\n"
        f"fputs({c_literal(FORGED_END)}, stderr);\n"
        "usleep(500000);\n"
        "puts(\"AFTER\");\n"
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_forged_frames_with_guessed_tokens(cells, lang):
    """An end frame or display frame with a guessed token, and runner kinds (end, limit) signed
    with the program's own nonce, are plain output: the cell does not end early, nothing forged
    is delivered as a frame, the forged report is ignored."""
    ran = cells.run(lang, FORGE[lang], hang_bound=30)
    assert ran.reason == "ok", ran.describe()
    assert ran.out().endswith(b"AFTER\n"), ran.describe()  # the cell was not ended by the forgery
    assert ran.frames == [], ran.frames
    assert FORGED_END in ran.out() and FORGED_DISPLAY in ran.out(), ran.describe()  # shown as text
    assert ran.outcome.files != ["FORGED"]
    cells.aftermath(ran, lang)


PROC1 = {
    "python": (
        "import os, time\n"
        "fd = os.open('/proc/1/fd/1', os.O_WRONLY)\n"
        f"os.write(fd, {FORGED_END!r})\n"
        "os.write(fd, b'\\x1bDK ' + os.environ['DK_NONCE'].encode() + b' end 2\\n{}')\n"
        "time.sleep(0.5)\n"
        "print('AFTER', flush=True)\n"
    ),
    "bash": (
        f"printf %s {bash_literal(FORGED_END)} > /proc/1/fd/1\n"
        "printf '\\033DK %s end 2\\n{}' \"$DK_NONCE\" > /proc/1/fd/1\n"
        "sleep 0.5\n"
        "echo AFTER\n"
    ),
    "c": (
        "#include <unistd.h>\n#include <fcntl.h>\n"
        "int fd = open(\"/proc/1/fd/1\", O_WRONLY);\n"
        f"const char *f = {c_literal(FORGED_END)}; write(fd, f, strlen(f));\n"
        "usleep(500000); puts(\"AFTER\");\n"
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_frames_written_to_pid1_stdout(cells, lang):
    """Writing forged frames straight into the container's stdout (/proc/1/fd/1, the init's) is
    the same as printing them: plain output, the cell goes on."""
    ran = cells.run(lang, PROC1[lang], hang_bound=30)
    assert ran.reason == "ok", ran.describe()
    assert ran.out().endswith(b"AFTER\n"), ran.describe()
    assert ran.frames == []
    cells.aftermath(ran, lang)


TOKEN_HUNT = {
    "python": (
        "import ctypes, os, re, time\n"
        "runner = os.getppid()\n"
        "found = set()\n"
        "for name in ('environ', 'cmdline', 'maps', 'stack', 'syscall', 'fd/0', 'fd/1', 'mem', 'task/%d/environ' % runner):\n"
        "    try:\n"
        "        fd = os.open('/proc/%d/%s' % (runner, name), os.O_RDONLY | os.O_NONBLOCK)\n"  # fd/0 is a pipe
        "        try:\n"
        "            data = os.read(fd, 1 << 20)\n"
        "        except BlockingIOError:\n"
        "            data = b''\n"
        "        finally:\n"
        "            os.close(fd)\n"
        "        found |= set(re.findall(rb'[0-9a-f]{32}', data))\n"
        "        print('read', name, len(data))\n"
        "    except OSError as exc:\n"
        "        print('denied', name, exc.strerror)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]\n"
        "rc = libc.ptrace(16, runner, None, None)\n"  # PTRACE_ATTACH
        "print('ptrace', 'ATTACHED' if rc == 0 else 'denied ' + os.strerror(ctypes.get_errno()))\n"
        "class iovec(ctypes.Structure):\n"
        "    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
        "buf = ctypes.create_string_buffer(4096)\n"
        "local, remote = iovec(ctypes.addressof(buf), 4096), iovec(0x400000, 4096)\n"
        "n = libc.process_vm_readv(runner, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)\n"
        "print('process_vm_readv', 'READ' if n > 0 else 'denied ' + os.strerror(ctypes.get_errno()))\n"
        "for token in found:\n"  # whatever looked like a token: try it as the end token
        "    os.write(1, b'\\x1bDK ' + token + b' end 2\\n{}')\n"
        "time.sleep(0.3)\n"
        "print('AFTER', flush=True)\n"
    ),
    "bash": (
        "r=$PPID\n"
        "for f in environ cmdline maps mem stack fd/0 fd/1; do\n"
        "  if timeout 2 head -c 1 /proc/$r/$f >/dev/null 2>&1; then echo read $f; else echo denied $f; fi\n"
        "  data=$(timeout 2 head -c 1048576 /proc/$r/$f 2>/dev/null | tr -c '0-9a-f' '\\n' | grep -E '^[0-9a-f]{32}$')\n"
        "  for t in $data; do printf '\\033DK %s end 2\\n{}' $t; done\n"
        "done\n"
        "sleep 0.3; echo AFTER\n"
    ),
    "c": (
        "#include <unistd.h>\n#include <errno.h>\n#include <sys/ptrace.h>\n#include <fcntl.h>\n"
        "pid_t r = getppid(); char path[64]; static char buf[1 << 16];\n"
        "const char *names[] = {\"environ\", \"mem\", \"maps\", \"cmdline\"};\n"
        "for (int i = 0; i < 4; i++) { snprintf(path, sizeof path, \"/proc/%d/%s\", (int)r, names[i]);\n"
        "  int fd = open(path, O_RDONLY); ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);\n"
        "  printf(\"%s %s\\n\", n > 0 ? \"read\" : \"denied\", names[i]); if (fd >= 0) close(fd); }\n"
        "printf(\"ptrace %s\\n\", ptrace(PTRACE_ATTACH, r, 0, 0) == 0 ? \"ATTACHED\" : \"denied\");\n"
        "puts(\"AFTER\");\n"
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_runner_end_token_is_unreachable(cells, lang):
    """The runner (the program's parent) is non-dumpable: its environ, mem, maps, fds and ptrace are
    denied; the token is nowhere in what the program can read; forging with anything that looked
    like a token does not end the cell."""
    ran = cells.run(lang, TOKEN_HUNT[lang], hang_bound=30)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    assert out.endswith("AFTER\n"), ran.describe()
    assert "denied mem" in out, out
    if RUNTIME != "runsc":  # gVisor does not apply non-dumpable to environ/maps (the token is not there)
        assert "denied environ" in out, out
    assert "ATTACHED" not in out and "process_vm_readv READ" not in out, out
    assert ran.end_token and ran.end_token not in hex_tokens(ran.out() + ran.out("stderr"))
    assert ran.frames == []
    cells.aftermath(ran, lang)


SWALLOW = {
    # a frame header signed with the program's own nonce whose body never (fully) comes: the
    # runner's end frame that follows on the same pipe must still end the cell. The burst before
    # the header keeps the shim busy, so the header and the runner's end frame tend to arrive in
    # one read (the case the parser got wrong)
    ("python", "oversized"): (
        "import os\n"
        "os.write(1, b'a' * 300000 + b'\\x1bDK ' + os.environ['DK_NONCE'].encode() + b' display 999999999999\\n')\n"
    ),
    ("python", "truncated"): (
        "import os\n"
        "os.write(1, b'\\x1bDK ' + os.environ['DK_NONCE'].encode() + b' display 100000\\n{\"data\":')\n"
        "print('AFTER', flush=True)\n"
    ),
    ("bash", "oversized"): "head -c 300000 /dev/zero | tr '\\0' a\nprintf '\\033DK %s display 999999999999\\n' \"$DK_NONCE\"\n",
    ("bash", "truncated"): "printf '\\033DK %s display 100000\\n{\"data\":' \"$DK_NONCE\"\necho AFTER\n",
    ("c", "truncated"): "printf(\"\\033DK %s display 100000\\n{\", getenv(\"DK_NONCE\"));\nputs(\"AFTER\");\n",
    ("c", "oversized"): (
        "static char a[300000]; memset(a, 'a', sizeof a); fwrite(a, 1, sizeof a, stdout);\n"
        "printf(\"\\033DK %s display 999999999999\\n\", getenv(\"DK_NONCE\"));\n"
    ),
}


@pytest.mark.parametrize("lang,how", sorted(SWALLOW), ids=[f"{a}-{b}" for a, b in sorted(SWALLOW)])
def test_unfinished_frame_cannot_swallow_the_end_of_cell(cells, lang, how):
    """A cell that starts a frame and never finishes it (a huge declared length, or a truncated
    body) must still end normally ('ok'): the runner's end frame may not be eaten as the body —
    not reported as ContainerLost, not held until the time limit. Tried 4 times (the bad case
    needs the header and the end frame in one read; see also test_fuzz_protocol)."""
    bad = []
    for _ in range(4 if how == "oversized" else 1):
        ran = cells.run(lang, SWALLOW[(lang, how)], timeout=10, hang_bound=40)
        if ran.reason != "ok" or b"exit_code" in ran.out():
            bad.append(ran.describe()[:300])
        cells.aftermath(ran, lang)
    assert not bad, f"the runner's end frame was swallowed: {bad}"


def test_unfinished_frame_with_a_lingering_daemon(cells):
    """Same as above, with a background process holding the pipe open (no EOF will come): the cell
    must still end when its program ends, not at the time limit."""
    code = (
        "setsid sleep 600 &\n"
        "printf '\\033DK %s display 100000\\n{' \"$DK_NONCE\"\n"
        "echo AFTER\n"
    )
    ran = cells.run("bash", code, timeout=8, hang_bound=40)
    assert ran.reason == "ok", ran.describe()
    cells.aftermath(ran, "bash")


STEAL = (
    # open the container's stdout pipe *for reading* through /proc (a pipe reopened read-only
    # yields its read end), in a daemon, and race the daemon for the runner's end frame
    "import os, threading, time\n"
    "r, w = os.pipe()\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        fds = [os.open('/proc/1/fd/1', os.O_RDONLY) for _ in range(16)]\n"
    "        def steal(fd):\n"
    "            while True:\n"
    "                data = os.read(fd, 65536)\n"
    "                if b'end' in data:\n"
    "                    os.write(2, b'STOLE-END-FRAME\\n')\n"
    "        for fd in fds:\n"
    "            threading.Thread(target=steal, args=(fd,), daemon=True).start()\n"
    "        os.write(w, b'x')\n"
    "        time.sleep(600)\n"
    "    os._exit(0)\n"
    "os.read(r, 1)\n"
    "time.sleep(0.2)\n"
    "print('main done', flush=True)\n"
)


def test_reading_own_stdout_pipe_cannot_hide_the_end(cells):
    """A program can reopen its container's stdout pipe read-only via /proc/1/fd/1 and steal bytes
    from it, including the runner's end frame (and with it the end token). Tried 6 times: every
    cell must still end as 'ok' with its output, not as ContainerLost or at the time limit."""
    outcomes = []
    for _ in range(6):
        ran = cells.run("python", STEAL, timeout=10, hang_bound=40)
        outcomes.append((ran.reason, ran.out()))
        cells.aftermath(ran, "python")
    bad = [o for o in outcomes if o[0] != "ok"]
    assert not bad, f"{len(bad)} of {len(outcomes)} cells lost their end frame to the reader: {bad}"
