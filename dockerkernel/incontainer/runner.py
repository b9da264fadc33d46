#!/usr/bin/python3
"""dockerkernel's in-container runner: runs exactly one cell, then reports how it ended.

Stdlib only: it runs inside every language image (see dockerkernel/protocol.py for the wire
format). Usage, as the container's command:

    runner.py                  wait for the header + source on stdin, write the source to
                               /tmp/dk/<source_file>, run header["run"]
    runner.py --warm ARGV...   start ARGV now (an interpreter that loads itself while the
                               container waits in the pool), then pipe it header + source
"""

import _thread
import os
import select
import signal
import sys
import time

# the one frame codec (dockerkernel/wire.py, copied here by the image build); stdlib, and
# it imports nothing but os until the first frame is encoded
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
from dkwire import CELL_DIR, cell_label, encode_frame, read_exactly, write_all  # noqa: E402

# json, subprocess and threading are imported once the warm interpreter is started: a
# container started for a waiting cell (no pool) would otherwise pay ~15 ms of imports first
# after its end frames the runner stays alive this long (the kernel removes the container
# sooner): Docker relays the last bytes of a container that is exiting ~2 ms later than those
# of one that lives, and those bytes are what the kernel waits for to reply
LINGER_SECONDS = 0.5
# how long processes the program left behind may still hit the pids limit before the report
LEFT_BEHIND_GRACE_SECONDS = 0.2


def make_undumpable():
    """Keep the end token out of reach of the program (same uid): no ptrace, no /proc/PID/mem."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


def read_counter(paths, key):
    """Read one counter from a cgroup key/value file (v1 or v2 path), or None."""
    for path in paths:
        try:
            with open(path) as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key:
                        return int(parts[1])
        except (OSError, ValueError):
            continue
    return None


def oom_kills():
    """How many processes the memory cgroup's OOM killer has killed so far."""
    return read_counter(
        ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"], "oom_kill"
    )


def pids_max_hits():
    """How many times a fork failed at the pids limit so far."""
    return read_counter(["/sys/fs/cgroup/pids.events", "/sys/fs/cgroup/pids/pids.events"], "max")


def nproc_limit():
    """The RLIMIT_NPROC this container runs under, or None when unlimited."""
    import resource  # only needed where the pids cgroup is unreadable (gVisor)

    soft, _hard = resource.getrlimit(resource.RLIMIT_NPROC)
    return None if soft == resource.RLIM_INFINITY else soft


def task_count(limit):
    """Processes and threads in this container (its pid namespace), counted up to ``limit``."""
    pids = [name for name in os.listdir("/proc") if name.isdigit()]
    if len(pids) >= limit:
        return len(pids)  # a fork bomb: no need to read every process's thread count
    total = 0
    for pid in pids:
        try:
            with open("/proc/%s/stat" % pid, "rb") as fh:
                total += int(fh.read().rsplit(b")", 1)[1].split()[17])  # num_threads
        except (OSError, ValueError, IndexError):
            total += 1
        if total >= limit:
            break
    return total


def limit_reached(baseline, nproc):
    """Has the cell hit its process limit since the baseline?

    Under runc the pids cgroup counts failed forks (pids.events). Under gVisor there is no pids
    cgroup inside; the limit is RLIMIT_NPROC (every process here runs as the sandbox user), so
    a container whose tasks fill it is at the limit: its next fork or thread fails.
    """
    if baseline is not None:
        hits = pids_max_hits()
        return hits is not None and hits > baseline
    if nproc:
        try:
            return task_count(nproc) >= nproc
        except OSError:
            return False
    return False


def watch_pids(cell, baseline, nproc, stop):
    """Tell the kernel as soon as the pids limit is hit (a fork bomb), so it can end the cell.

    Started while the container waits in the pool; polls only once ``cell["started"]`` is set.
    """
    cell["started"].wait()
    while not stop.wait(0.05):
        if limit_reached(baseline, nproc):
            write_all(1, encode_frame(cell["end_token"], "limit", {"which": "pids"}))
            return


class Child:
    """A program started with posix_spawn: its pid, and its exit status once it has ended."""

    def __init__(self, pid, stdin_w):
        """Wrap a started process; ``stdin_w`` is the write end of its stdin pipe."""
        self.pid = pid
        self.stdin_w = stdin_w
        self.returncode = None
        self._lock = _thread.allocate_lock()  # wait() is called from two threads

    def wait(self):
        """Block until the process ends; its status as subprocess reports it (-N: signal N)."""
        with self._lock:
            while self.returncode is None:
                try:
                    _, status = os.waitpid(self.pid, 0)
                except InterruptedError:
                    continue
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        """SIGKILL the process (gone already is fine)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def spawn_with_stdin_pipe(argv, env):
    """Start ``argv`` reading a new pipe as stdin; it inherits stdout/stderr and the descriptors
    marked inheritable (the answer and done pipes), nothing else. Cheaper than subprocess."""
    stdin_r, stdin_w = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, stdin_r, 0)],
                              setsigdef=(signal.SIGPIPE,))
    finally:
        os.close(stdin_r)
    return Child(pid, stdin_w)


def left_behind(ours):
    """Are processes running here other than ``ours`` (init, the runner, the program)?"""
    try:
        return any(name.isdigit() and int(name) not in ours for name in os.listdir("/proc"))
    except OSError:
        return False


def wait_for_end(child, done_r):
    """(exit status, compile diagnostics or None): as announced on the done pipe, else when
    the process ends.

    A warm interpreter announces its status just before it exits, so the end of the cell is
    not held up by the teardown of its process (1-2 ms for Python). A program can only use
    this to end its own cell early: its container is removed right after. A warm compiler
    (Java's DkWarm) announces a failed compile as ``compile_failed STATUS LENGTH\n`` and
    LENGTH bytes of diagnostics: the cell ends as a failed compiler process ends it.
    """
    import threading

    if done_r is None:
        return child.wait(), None
    exited_r, exited_w = os.pipe()

    def waiter():
        child.wait()
        os.write(exited_w, b"x")

    threading.Thread(target=waiter, daemon=True).start()
    readable, _, _ = select.select([done_r, exited_r], [], [])
    if done_r in readable:
        announced = os.read(done_r, 64)
        if announced.endswith(b"\n") and announced[:-1].lstrip(b"-").isdigit():
            return int(announced), None
        if announced.startswith(b"compile_failed ") and b"\n" in announced:
            line, _, body = announced.partition(b"\n")
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                size = min(int(parts[2]), 1 << 20)  # DkWarm sends at most 64 KiB
                while len(body) < size:
                    more = os.read(done_r, size - len(body))
                    if not more:
                        break
                    body += more
                return int(parts[1]), body.decode("utf-8", "replace")
    # no (valid) announcement: the program crashed, was killed or has threads still running
    return child.wait(), None


def list_workspace():
    """Names in the working directory (for completion), bounded."""
    try:
        names = []
        with os.scandir(".") as entries:
            for entry in entries:
                names.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
                if len(names) >= 1000:
                    break
        return sorted(names)
    except OSError:
        return []


# read(2), readv(2), pread64(2) by architecture: a task blocked in one of these on the
# program's stdin terminal is waiting for the user (/proc/PID/syscall: "NR ARG0 ...")
READ_SYSCALLS = {"x86_64": {0, 17, 19}, "aarch64": {63, 65, 67}}.get(os.uname().machine, {0, 17, 19})
# how often the watcher looks; an answered read costs at most this much more than the user's time
STDIN_POLL_SECONDS = 0.005


def new_terminal():
    """(master fd, slave fd) of a pseudo-terminal for a program's stdin."""
    import termios

    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    # no signals or flow control from typed bytes: the answer is data, never ^C or ^S
    attrs[3] &= ~(termios.ISIG | termios.IEXTEN)
    attrs[0] &= ~(termios.IXON | termios.ICRNL)
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


class StdinWatcher:
    """Turns a program's read of its stdin into an ``input`` frame, and the answer into its line.

    The program's stdin is a pseudo-terminal, as at a terminal: C's stdio flushes stdout before
    it reads, `read -p` shows its prompt, a program that turns echo off (getpass-like) makes the
    question a password one, and Ctrl-D (no answer) is end of file. Nothing tells the runner
    that the program waits, so a thread looks at the program's tasks in /proc (only the cell's
    own processes are there): a task whose current system call is a read of a descriptor that
    is this terminal, while nothing is left to read, is waiting for a line. The runner then asks
    the kernel (an ``input`` frame, signed with the cell's nonce like the program's own) and
    types the answer and a newline. One question is open at a time.
    """

    def __init__(self, nonce, terminal=None):
        """Watch ``terminal`` (master fd, slave fd), made by ``new_terminal`` when the warm
        interpreter started (``$DK_STDIN_TTY``), or a new one for a program the runner starts."""
        import threading

        self.nonce = nonce
        self.asking = False
        self.lock = _thread.allocate_lock()
        self.write_side, self.read_side = terminal or new_terminal()
        self.target = os.ttyname(self.read_side)
        # the terminal echoes what is typed to its master side: read and drop it, or a long
        # session would fill the echo buffer and block the answers
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while os.read(self.write_side, 4096):
                pass
        except OSError:
            pass

    def program_stdin(self):
        """The descriptor to hand the program as its stdin."""
        return self.read_side

    def waiting_task(self, exclude):
        """(tid, times it has slept) of a task blocked reading this terminal, now empty; or None."""
        import fcntl
        import termios

        unread = bytearray(4)
        try:
            fcntl.ioctl(self.read_side, termios.FIONREAD, unread)
        except OSError:
            return None
        if int.from_bytes(unread, sys.byteorder):
            return None  # the program has not consumed what it has
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) not in exclude:
                found = self._reading_task(pid)
                if found:
                    return found
        return None

    def _reading_task(self, pid):
        try:
            tasks = os.listdir("/proc/%s/task" % pid)
        except OSError:
            return None
        for tid in tasks:
            try:
                with open("/proc/%s/task/%s/syscall" % (pid, tid), "rb") as fh:
                    fields = fh.read().split()
                if len(fields) < 2 or int(fields[0]) not in READ_SYSCALLS:
                    continue
                if os.readlink("/proc/%s/fd/%d" % (pid, int(fields[1], 16))) != self.target:
                    continue
                with open("/proc/%s/task/%s/status" % (pid, tid), "rb") as fh:
                    for line in fh:
                        if line.startswith(b"voluntary_ctxt_switches:"):
                            return tid, int(line.split()[1])
            except (OSError, ValueError):
                continue
        return None

    def password_mode(self):
        """Has the program turned echo off (getpass, `read -s`, Console.readPassword)?"""
        import termios

        try:
            return not termios.tcgetattr(self.read_side)[3] & termios.ECHO
        except termios.error:
            return False

    def watch(self, exclude, stop):
        """Thread: ask whenever the program waits on its stdin, until ``stop`` is set."""
        last = None  # (tid, sleeps) of the read answered last: it may not have returned yet
        while not stop.wait(STDIN_POLL_SECONDS):
            if self.asking:
                continue
            found = self.waiting_task(exclude)
            # a task that was woken by the answer but is still inside the same read(2) has not
            # slept since: asking again would be a question the program never asked
            if found is None or found == last:
                continue
            last = found
            with self.lock:
                self.asking = True
            write_all(1, encode_frame(self.nonce, "input", {"prompt": "", "password": self.password_mode()}))

    def answer(self, value):
        """Type the user's answer (None: Ctrl-D, end of file). True when the question was ours."""
        with self.lock:
            if not self.asking:
                return False
            self.asking = False
        data = b"\x04" if value is None else value.replace("\n", " ").encode("utf-8", "replace") + b"\n"
        try:
            write_all(self.write_side, data)
        except OSError:
            pass
        return True


def _close_quietly(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def relay_answers(stdin, answer_w, watcher=None):
    """Thread: pass the kernel's answers (JSON lines on stdin) to whoever asked.

    Answers to the runner's own questions (the program reads its stdin) go to the program's
    stdin pipe; the others (``input()``, the ``input`` command) to the answer pipe.
    """
    import json

    try:
        for line in iter(lambda: stdin.readline(1 << 20), b""):
            try:
                value = json.loads(line).get("input")
            except (ValueError, AttributeError):
                continue
            if watcher is not None and watcher.answer(value):
                continue
            if value is None:  # the user gave no answer (EOF)
                os.close(answer_w)
                answer_w = -1
                continue
            if answer_w >= 0:
                write_all(answer_w, value.encode("utf-8", "replace").replace(b"\n", b" ") + b"\n")
    except OSError:
        pass
    finally:
        _close_quietly(answer_w)


# Builds of unchanged programs are kept in the kernel's workspace, keyed by what the kernel
# says determines them (image, compiler argv, file name, source: header["compile_key"]), so
# "Run All" again, or a notebook program whose cells did not change, skips the compiler. The
# workspace is this kernel's alone (removed with it): a cell can only spoil its own kernel's.
# Java's warm JVM keeps and reuses builds in the same layout (images/java/DkWarm.java).
COMPILED_DIR = "/workspace/.dockerkernel/compiled"
COMPILED_KEEP = 32  # builds kept, least recently used dropped first
COMPILED_MAX_BYTES = 64 << 20  # a bigger build is not kept


def _valid_key(key):
    return isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)


def reuse_build(key, cell_dir):
    """Copy a kept build into ``cell_dir``; its compiler warnings (str), or None when there is none."""
    import shutil

    entry = os.path.join(COMPILED_DIR, key)
    try:
        names = [n for n in os.listdir(entry) if n != "warnings.txt"]
        with open(os.path.join(entry, "warnings.txt"), "rb") as fh:
            warnings = fh.read().decode("utf-8", "replace")
        for name in names:
            src = os.path.join(entry, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(cell_dir, name), dirs_exist_ok=True)
            else:
                shutil.copy2(src, os.path.join(cell_dir, name))
        os.utime(entry)
        return warnings
    except OSError:
        return None


def keep_build(key, cell_dir, source_name, warnings):
    """Keep what the compiler wrote into ``cell_dir`` (everything but the source) under ``key``."""
    import shutil

    try:
        names = [n for n in os.listdir(cell_dir) if n != source_name]
        size = 0
        for name in names:
            path = os.path.join(cell_dir, name)
            size += os.path.getsize(path) if os.path.isfile(path) else 0
        if not names or size > COMPILED_MAX_BYTES:
            return
        os.makedirs(COMPILED_DIR, exist_ok=True)
        staging = os.path.join(COMPILED_DIR, ".%s.%d" % (key, os.getpid()))
        os.makedirs(staging, exist_ok=True)
        for name in names:
            src = os.path.join(cell_dir, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(staging, name), dirs_exist_ok=True)
            else:
                shutil.copy2(src, os.path.join(staging, name))
        with open(os.path.join(staging, "warnings.txt"), "wb") as fh:
            fh.write(warnings.encode("utf-8", "replace"))
        try:
            os.rename(staging, os.path.join(COMPILED_DIR, key))
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another cell kept the same build
        entries = sorted((os.path.getmtime(os.path.join(COMPILED_DIR, n)), n)
                         for n in os.listdir(COMPILED_DIR) if not n.startswith("."))
        for _, name in entries[:-COMPILED_KEEP]:
            shutil.rmtree(os.path.join(COMPILED_DIR, name), ignore_errors=True)
    except OSError:
        pass  # a full workspace only costs the next run a compile


def feed_file(path, fd):
    """Thread: copy a workspace file (``%stdin FILE``) into a pipe, then close it."""
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                write_all(fd, chunk)
    except OSError as exc:
        write_all(2, ("dockerkernel: %%stdin: cannot read %s: %s\n" % (path, exc.strerror)).encode())
    finally:
        _close_quietly(fd)


def open_stdin_file(path):
    """The descriptor of a ``%stdin FILE`` for a program's stdin (an empty pipe if unreadable)."""
    try:
        return os.open(path, os.O_RDONLY)
    except OSError as exc:
        write_all(2, ("dockerkernel: %%stdin: cannot read %s: %s\n" % (path, exc.strerror)).encode())
        return os.open(os.devnull, os.O_RDONLY)


# the cell's life in the order it happens (warm start, set-up, header, compile, run, report);
# measured on the cold path, where every function call and import counts: kept in one piece
def main():  # noqa: C901
    """Run one cell and report its end in-band."""
    argv = sys.argv[1:]
    warm_argv = argv[1:] if argv[:1] == ["--warm"] else None
    stdin = sys.stdin.buffer

    # answers to input requests reach the program on their own pipe (fd DK_INPUT_FD), never
    # on its stdin, so a program that reads stdin still gets EOF at once
    answer_r, answer_w = os.pipe()
    os.set_inheritable(answer_r, True)
    input_env = {"DK_INPUT_FD": str(answer_r)}

    child = done_r = warm_stdin = warm_tty = None
    if warm_argv:
        # the interpreter loads now, while the container waits in the pool; it may announce
        # its exit status on fd DK_DONE_FD just before exiting (see wait_for_end)
        done_r, done_w = os.pipe()
        os.set_inheritable(done_w, True)
        # the program's stdin once the interpreter has read its cell from fd 0 (the boot code
        # moves it onto fd 0): answers, a %stdin file or end of file, decided by the header
        # two candidates, the boot code takes the one the header names: a terminal the runner
        # watches when the frontend can answer ($DK_STDIN_TTY), else a pipe ($DK_STDIN_FD)
        warm_stdin = os.pipe()
        os.set_inheritable(warm_stdin[0], True)
        warm_tty = new_terminal()
        os.set_inheritable(warm_tty[1], True)
        # the cell's directory exists before the interpreter starts (no `mkdir` process of its own
        # in a waiting pool container)
        os.makedirs(CELL_DIR, exist_ok=True)
        child = spawn_with_stdin_pipe(warm_argv, {**os.environ, **input_env, "DK_DONE_FD": str(done_w),
                                                  "DK_STDIN_FD": str(warm_stdin[0]),
                                                  "DK_STDIN_TTY": str(warm_tty[1])})
        os.close(done_w)
    import json
    import threading

    if child is None:
        # what a program started below needs anyway, made before the header: it costs a pooled
        # cell nothing (~6 ms otherwise, measured), and a cold container the same as after
        import shutil  # noqa: F401  (reuse_build, keep_build)
        import subprocess

        warm_tty = new_terminal()  # its stdin when the frontend can answer (StdinWatcher)
    # the interpreter is starting (on another CPU, in parallel): now the runner's own set-up
    make_undumpable()  # before the end token can arrive
    # everything that does not depend on the cell happens now, while the container waits
    baseline_oom, baseline_pids = oom_kills(), pids_max_hits()
    nproc = nproc_limit() if baseline_pids is None else None
    stop = threading.Event()
    cell = {"started": threading.Event(), "end_token": None}
    threading.Thread(target=watch_pids, args=(cell, baseline_pids, nproc, stop), daemon=True).start()

    header_line = stdin.readline(1 << 20)
    if not header_line.endswith(b"\n"):
        if child:
            child.kill()
        sys.exit(0)  # the kernel went away before sending a cell: nothing to run
    header = json.loads(header_line)
    source = read_exactly(stdin, int(header["size"]))
    end_token = header.pop("end_token")
    cell["end_token"] = end_token
    started = time.monotonic()
    cell["started"].set()
    if child is not None:
        # warm: the interpreter gets the cell at once; the rest of the set-up comes after
        try:
            write_all(child.stdin_w, json.dumps(header, separators=(",", ":")).encode() + b"\n" + source)
        except OSError:
            pass  # the interpreter died: its exit status tells
        os.close(child.stdin_w)
    stdin_file = header.get("stdin_file")
    # a program that is started below (not a warm interpreter, whose stdin carried the cell)
    # reads the user's answers on its stdin when the frontend can answer, else a %stdin file
    watcher = None
    # gVisor has no /proc/PID/syscall: a waiting read cannot be seen there, so it gets end of
    # file at once (as without a frontend) instead of waiting for the time limit
    if header.get("stdin") and not stdin_file and os.path.exists("/proc/self/syscall"):
        watcher = StdinWatcher(header["nonce"], warm_tty)
        if warm_stdin is not None:
            _close_quietly(warm_stdin[1])
    elif warm_stdin is not None:
        _close_quietly(warm_tty[0])
        if stdin_file:
            threading.Thread(target=feed_file, args=(stdin_file, warm_stdin[1]), daemon=True).start()
        else:
            _close_quietly(warm_stdin[1])  # nobody can answer: end of file at once
    if watcher is not None and child is not None:
        threading.Thread(target=watcher.watch, args=({1, os.getpid()}, stop), daemon=True).start()
    if stdin_file and child is not None:
        # warm interpreters' own input() (Python) reads its answers from the answer pipe
        threading.Thread(target=feed_file, args=(stdin_file, answer_w), daemon=True).start()
    elif header.get("stdin"):
        threading.Thread(target=relay_answers, args=(stdin, answer_w, watcher), daemon=True).start()
    else:
        os.close(answer_w)  # the frontend cannot answer: input requests get EOF at once

    if child is None:
        env = dict(os.environ)
        env.update(header.get("env") or {})
        env.update(input_env)
        env["DK_NONCE"] = header["nonce"]
        os.makedirs(CELL_DIR, exist_ok=True)
        path = os.path.join(CELL_DIR, os.path.basename(header["source_file"]))
        with open(path, "wb") as fh:
            fh.write(source)
        names = {"{file}": path, "{dir}": CELL_DIR, "{stem}": os.path.splitext(os.path.basename(path))[0],
                 "{exe}": os.path.join(CELL_DIR, "cell")}

        def expand(argv):
            out = []
            for arg in argv:
                for key, value in names.items():
                    arg = arg.replace(key, value)
                out.append(arg)
            return out

        key = header.get("compile_key") if _valid_key(header.get("compile_key")) else None
        reused = reuse_build(key, CELL_DIR) if header.get("compile") and key else None
        if reused is not None:
            diagnostics = reused  # the kept build's warnings, shown as the compiler showed them
        elif header.get("compile"):
            # compile and run share the container and the cell's time limit; diagnostics are
            # collected (not streamed) so the kernel can show them as one CompileError
            compiled = subprocess.run(expand(header["compile"]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=env, cwd=os.getcwd())
            diagnostics = compiled.stdout[-65536:].decode("utf-8", "replace")
            if compiled.returncode == 0 and key:
                keep_build(key, CELL_DIR, os.path.basename(path), diagnostics)
            if compiled.returncode != 0:
                stop.set()
                report = {"exit_code": compiled.returncode, "signal": None, "compile_failed": True,
                          "diagnostics": diagnostics, "oom_killed": False, "pids_limit_hit": False,
                          "elapsed": round(time.monotonic() - started, 6), "files": list_workspace()}
                finish(end_token, report, 0)
        if header.get("compile"):
            if diagnostics.strip():
                # warnings only: show them (the file named as the cell, like errors), then run
                label = cell_label(header.get("execution_count", ""))
                shown = diagnostics.replace(path, label).replace(os.path.basename(path), label)
                write_all(2, shown.encode())
        run = expand(header["run"])
        if watcher is not None:
            program_stdin = watcher.program_stdin()
        elif stdin_file:
            program_stdin = open_stdin_file(stdin_file)
        else:
            program_stdin = subprocess.DEVNULL
        try:
            child = subprocess.Popen(run, stdin=program_stdin, env=env, close_fds=True, pass_fds=(answer_r,))
        except OSError as exc:
            write_all(2, ("dockerkernel: cannot start %s: %s\n" % (run[0], exc)).encode())
            child = None
        if stdin_file and isinstance(program_stdin, int) and program_stdin >= 0:
            os.close(program_stdin)  # the program has its own copy
        if watcher is not None and child is not None:
            threading.Thread(target=watcher.watch, args=({1, os.getpid()}, stop), daemon=True).start()

    status, diagnostics = wait_for_end(child, done_r) if child else (127, None)
    elapsed = time.monotonic() - started
    stop.set()
    if diagnostics is not None:
        report = {"exit_code": status, "signal": None, "compile_failed": True,
                  "diagnostics": diagnostics, "oom_killed": False, "pids_limit_hit": False,
                  "elapsed": round(elapsed, 6), "files": list_workspace()}
        finish(end_token, report, 0)
    pids_hit = limit_reached(baseline_pids, nproc)
    if not pids_hit and left_behind({1, os.getpid(), child.pid if child else 0}):
        # the program left processes behind (say a fork bomb whose launcher exits at once):
        # they die with the container, but a limit they hit in the next moment is reported
        grace_ends = time.monotonic() + LEFT_BEHIND_GRACE_SECONDS
        while not pids_hit and time.monotonic() < grace_ends:
            time.sleep(0.01)
            pids_hit = limit_reached(baseline_pids, nproc)
    oom_after = oom_kills()
    report = {
        "exit_code": status if status >= 0 else None,
        "signal": -status if status < 0 else None,
        "oom_killed": bool(oom_after and oom_after > (baseline_oom or 0)),
        "pids_limit_hit": pids_hit,
        "elapsed": round(elapsed, 6),
        "files": list_workspace(),
    }
    # the container's exit status is the program's too: if the end frame never reaches the
    # kernel (a program can read its own stdout pipe back through /proc/1/fd/1), the kernel
    # still learns how the program ended from the daemon
    finish(end_token, report, status if status >= 0 else 128 - status)


def finish(end_token, report, exit_status):
    """Send the end frames, stay a moment (see LINGER_SECONDS), exit with ``exit_status``."""
    # stderr first: once the kernel has the stdout end frame it only waits for this marker
    write_all(2, encode_frame(end_token, "end"))
    write_all(1, encode_frame(end_token, "end", report))
    time.sleep(LINGER_SECONDS)
    sys.exit(exit_status)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
