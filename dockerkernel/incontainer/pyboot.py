"""Python cell boot: loaded while the container waits in the pool, then runs one cell.

Reads the header line and the source from stdin (see dockerkernel/protocol.py) and runs the
cell with IPython's own ``InteractiveShell`` (dkshell.py), built before the cell arrives:

* magics anywhere, ``!cmd``, ``_``/``Out``/``In``, the trailing ``;``, ``execute_result``,
  display(), tracebacks and ``SystemExit`` are IPython's; what it shows leaves as frames;
* ``input()`` and ``getpass.getpass()`` ask the frontend (``input`` frame, answer on the
  pipe in ``$DK_INPUT_FD``);
* state: the globals of the previous cells are restored from the workspace before the cell
  and saved after it (dill, so functions and classes defined in cells survive); what cannot
  be pickled is named once on stderr. NumPy views stay views of their arrays, and large arrays
  are kept in files of their own, mapped back copy-on-write (dkcarry.py). Modules come back
  by re-import, and the modules the notebook uses are imported here *before* the cell
  arrives, while the container waits.
  The process state (working directory, environment, ``sys.path``, IPython's history and
  settings) is carried too, as JSON;
* ``DK_INTROSPECT`` in the header's env turns the run into a completion or inspection
  request (the source is its JSON): the state is restored, nothing is run or saved.
"""

import builtins
import importlib
import io
import json
import os
import stat
import sys
import threading
import time
import types

# pickle, re, subprocess and traceback are imported where they are used: most cells need none
# of them, and a container started without the pool pays every import before its cell runs

sys.path.insert(0, "/opt/dockerkernel/python")
import dkdisplay  # noqa: E402  (helpers: display(), HTML(), ...; the frame writer)

STATE_DIR = "/workspace/.dockerkernel"
STATE_FILE = os.path.join(STATE_DIR, "python-state.pkl")
MODULES_FILE = os.path.join(STATE_DIR, "python-modules.txt")
SKIPPED_FILE = os.path.join(STATE_DIR, "python-skipped.json")
PROCESS_FILE = os.path.join(STATE_DIR, "python-process.json")
ARRAYS_DIR = os.path.join(STATE_DIR, "python-arrays")  # large NumPy arrays of the state, a file each (dkcarry)
MODULES_KEY = "__dk_modules__"
PICKLE_TAG, DILL_TAG = b"P", b"D"  # first byte of the state file: which unpickler reads it
MAX_STATE = 2 << 30  # a state file larger than this is not read (the memory limit would be hit)
# names that belong to the boot code or are rebuilt every cell
NOT_STATE = {"__builtins__", "__builtin__", "__name__", "__doc__", "__package__", "__loader__", "__spec__"}


def open_regular(path, limit):
    """A binary file object for a regular file of at most ``limit`` bytes, else None.

    The workspace belongs to the cells: a cell may have replaced these files with a link to
    /dev/zero, a FIFO or a huge file. Never follow a link, never block, never read unbounded.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
            return os.fdopen(fd, "rb")
    except OSError:
        pass
    os.close(fd)
    return None


def read_regular(path, limit):
    """The bytes of a regular file of at most ``limit`` bytes, else None (see open_regular)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, left = [], info.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def replace_file(path, data):
    """Write ``data`` to ``path`` atomically, replacing (not following) whatever is there."""
    stream_file(path, lambda file: file.write(data))


def stream_file(path, write):
    """Replace ``path`` atomically by what ``write(file)`` writes to a new binary file.

    Streamed, so that saving a large value does not also hold its pickle in memory.
    """
    os.makedirs(STATE_DIR, exist_ok=True)
    # a random name: pids repeat in every container, and a leftover from a failed save (disk
    # full) must not block every later save
    tmp = "%s.%s.tmp" % (path, os.urandom(8).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def prewarm():
    """Import what the notebook's earlier cells imported, before the cell arrives."""
    import dkcarry  # noqa: F401  (every save of the state uses it: ~2.5 ms of a cell otherwise)

    file = open_regular(STATE_FILE, MAX_STATE)
    head = b""
    if file is not None:
        with file:
            head = file.read(1)
    if head == DILL_TAG:
        try:
            import dill  # noqa: F401  (the restore will need it; ~50 ms better spent now)
        except ImportError:
            pass
    text = (read_regular(MODULES_FILE, 1 << 16) or b"").decode("utf-8", "replace")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        return
    for name in names[:200]:
        try:
            __import__(name)
        except BaseException:
            pass


def read_cell():
    """Header and source from stdin; then the cell's stdin becomes the runner's pipe (answers
    to its questions when the program reads sys.stdin, a %stdin file, or end of file)."""
    from dkwire import read_exactly

    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    source = read_exactly(stdin, int(header["size"])).decode("utf-8", "replace")
    pipe, tty = os.environ.pop("DK_STDIN_FD", ""), os.environ.pop("DK_STDIN_TTY", "")
    # a terminal the runner watches when the frontend can answer, else its pipe (a %stdin file or EOF)
    use, other = (tty, pipe) if header.get("stdin") and not header.get("stdin_file") else (pipe, tty)
    if use.isdigit():
        os.dup2(int(use), 0)
        os.close(int(use))
    if other.isdigit():
        os.close(int(other))
    return header, source


# -- output ----------------------------------------------------------------------------------
class WholeWrites(io.FileIO):
    """A raw stdout/stderr whose every write() delivers all its bytes.

    The cell runs unbuffered (``python3 -u``) so its output is live. Unbuffered, CPython's text
    layer writes straight to the raw file and ignores a short count; a pipe write is short
    under gVisor above 64 KiB, so the rest of a large ``print`` would be lost silently.
    """

    def write(self, data):
        """Write every byte of ``data``; return its length."""
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            written = super().write(view)
            if written is None:  # a non-blocking descriptor that is full: wait, then go on
                time.sleep(0.001)
                continue
            view = view[written:]
        return total


def whole_write_stdio():
    """Under gVisor, replace sys.stdout/sys.stderr (unbuffered, live) with ones that never drop bytes.

    Only there: a write in Python costs microseconds per call (100 000 prints: +0.35 s), and
    on Linux a blocking pipe write is never short.
    """
    if os.environ.get("DK_RUNTIME") != "runsc":
        return
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        raw = WholeWrites(fd, "w", closefd=False)
        stream = io.TextIOWrapper(raw, encoding=old.encoding, errors=old.errors, line_buffering=False,
                                  write_through=True)
        setattr(sys, name, stream)
        setattr(sys, "__%s__" % name, stream)


# -- input -----------------------------------------------------------------------------------
def ask(prompt="", password=False):
    """Ask the frontend for one line (input()/getpass()); EOFError when it cannot answer."""
    dkdisplay.send_frame("input", {"prompt": str(prompt), "password": bool(password)})
    fd = int(os.environ.get("DK_INPUT_FD", "-1"))
    line = bytearray()
    while fd >= 0:
        try:
            chunk = os.read(fd, 1)
        except OSError:
            break
        if not chunk:
            break
        if chunk == b"\n":
            return line.decode("utf-8", "replace")
        line += chunk
    raise EOFError("no input: this frontend does not answer input requests (e.g. nbconvert, papermill)")


def _input(prompt=""):
    return ask(prompt, password=False)


def _getpass(prompt="Password: ", stream=None):
    return ask(prompt, password=True)


def share_input_with_children():
    """Let the cell's child processes (IPython's %%bash, ``!cmd``, subprocess) reach the answer pipe.

    The ``input`` helper asks from any process of the cell; Popen closes every other
    descriptor by default, so the pipe in ``$DK_INPUT_FD`` is passed explicitly.
    """
    import subprocess

    try:
        fd = int(os.environ.get("DK_INPUT_FD", "-1"))
    except ValueError:
        return
    if fd < 0:
        return
    original = subprocess.Popen.__init__

    def __init__(self, *args, pass_fds=(), **kwargs):
        if fd not in pass_fds:
            try:
                os.fstat(fd)  # the cell may have closed it: then there is nothing to pass
                pass_fds = (*pass_fds, fd)
            except OSError:
                pass
        original(self, *args, pass_fds=pass_fds, **kwargs)

    subprocess.Popen.__init__ = __init__


# -- state -----------------------------------------------------------------------------------
def restore_state(main):
    """Put the previous cells' globals back into ``main``."""
    file = open_regular(STATE_FILE, MAX_STATE)
    if file is None:
        return
    try:
        state = {}
        with file:  # read as a stream: large values are not held twice (file bytes, then objects)
            tag = file.read(1)
            if tag == DILL_TAG:
                import dill

                unpickler = dill.Unpickler(file)
                unpickler._main = main  # functions get this cell's globals back, not a copy
                state = unpickler.load()
            elif tag == PICKLE_TAG:
                import pickle

                state = pickle.load(file)
        for name, module_name in (state.pop(MODULES_KEY, None) or {}).items():
            try:
                main.__dict__[name] = importlib.import_module(module_name)
            except Exception as exc:
                sys.stderr.write("dockerkernel: module %s could not be imported again (%s)\n" % (module_name, exc))
        main.__dict__.update(state)
    except Exception as exc:  # a broken state must not break the cell
        sys.stderr.write("dockerkernel: the previous cells' variables could not be restored (%s: %s)\n"
                         % (type(exc).__name__, exc))


def _defined_in_cells(value):
    """Does pickling ``value`` need dill (a function/class of the cells, or an instance of one)?"""
    for owner in (value, type(value)):
        if getattr(owner, "__module__", None) == "__main__":
            return True
    return False


# one pass over the namespace, deciding per value (module, cell definition, picklable, not):
# splitting it would spread one decision over several functions
def save_state(main, never=(), quiet=None):  # noqa: C901
    """Save the picklable globals for the next cell; name what cannot be carried over, once.

    Plain pickle (fast, C) when it can represent everything; dill when the cells defined
    functions or classes, which pickle could only store by reference. ``never``: names not
    to carry (IPython's own); ``quiet``: a pattern of names carried when they can be, and
    never announced (the output history ``_``, ``_3``, ...).
    """
    started = time.monotonic()
    namespace = {}
    skipped = {}
    imported = {}  # name -> module: carried as the module's name and imported again
    for name, value in main.__dict__.items():
        if name in NOT_STATE or name in never or name.startswith("__dk_"):
            continue
        if isinstance(value, str) and value == "" and quiet and quiet.match(name):
            continue  # _, __, ___ before any result: nothing to carry, no state file to write
        if isinstance(value, types.ModuleType):
            imported[name] = value.__name__
            continue
        if isinstance(value, io.IOBase) and not isinstance(value, (io.BytesIO, io.StringIO)):
            # dill would reopen a file (mode "w" truncates it!) in the next cell: never carry files
            if not value.closed:
                skipped[name] = "open file (open it again in the cell that uses it)"
            continue
        namespace[name] = value
    modules = set(imported.values())  # imported while the next container waits in the pool
    for value in namespace.values():
        for owner in (value, type(value)):
            name = getattr(owner, "__module__", None)
            if isinstance(name, str) and name not in ("__main__", "builtins"):
                modules.add(name)

    if imported:
        namespace[MODULES_KEY] = imported
    if not namespace and not os.path.exists(STATE_FILE):
        announce_skipped(skipped)
        return  # nothing to carry (and nothing carried before): no file, no import
    use_dill = any(_defined_in_cells(value) for value in namespace.values())
    arrays = None
    if "numpy" in sys.modules:
        import dkcarry

        # no remapping of memory a thread of the cell may still be writing
        arrays = dkcarry.ArrayFiles(ARRAYS_DIR, remap=threading.active_count() == 1)
    pickler_class = state_pickler(use_dill, arrays)

    def dump(file, obj):
        # protocol 5: NumPy arrays (and pandas' blocks) are written from their own memory
        file.write(DILL_TAG if use_dill else PICKLE_TAG)
        pickler = pickler_class(file, protocol=5)
        if use_dill:
            pickler._main = main  # the cell's globals are pickled as a reference, not copied
        pickler.dump(obj)

    try:
        stream_file(STATE_FILE, lambda file: dump(file, namespace))  # all at once keeps shared references shared
    except Exception:
        keep = {}
        for name, value in namespace.items():
            try:
                dump(Discard(), value)
                keep[name] = value
            except Exception as exc:
                if not (quiet and quiet.match(name)):
                    skipped[name] = "%s (%s)" % (type(value).__name__, type(exc).__name__)
        try:
            stream_file(STATE_FILE, lambda file: dump(file, keep))
        except Exception as exc:
            stream_file(STATE_FILE, lambda file: dump(file, {}))
            skipped["(all)"] = str(exc)
    if arrays is not None:
        arrays.remove_unused()
    replace_file(MODULES_FILE, "\n".join(sorted(m for m in modules if m and not m.startswith("_"))).encode())
    announce_skipped(skipped)
    took = time.monotonic() - started
    if took > 1:
        size = os.stat(STATE_FILE).st_size
        sys.stderr.write("dockerkernel: saving this notebook's variables for the next cell took %.1f s (%d bytes); "
                         "`%%state off` turns this off\n" % (took, size))


class Discard:
    """A file that forgets what is written to it (trying whether a value pickles costs no memory)."""

    def write(self, data):
        return len(data)


def state_pickler(use_dill, arrays):
    """The pickler class of the state: pickle's (C) or dill's; NumPy views stay views, large
    arrays go to files of their own (``arrays``, a dkcarry.ArrayFiles, when NumPy is loaded)
    and finished generators are carried as finished generators."""
    if use_dill:
        import dill

        base = dill.Pickler
    else:
        import pickle

        base = pickle.Pickler
    ndarray = getattr(sys.modules.get("numpy"), "ndarray", None)
    if arrays is None or not isinstance(ndarray, type):
        ndarray = None
    import dkcarry

    class StatePickler(base):
        def reducer_override(self, obj):
            if type(obj) is ndarray:
                return dkcarry.view_reduction(obj, ndarray) or arrays.reduction(obj) or NotImplemented
            if type(obj) is types.GeneratorType:
                return dkcarry.generator_reduction(obj) or NotImplemented
            return NotImplemented

    return StatePickler


def announce_skipped(skipped):
    """Say once per name that it will not reach the next cell."""
    if not skipped and not os.path.lexists(SKIPPED_FILE):
        return
    try:
        told = json.loads(read_regular(SKIPPED_FILE, 1 << 20) or b"{}")
        if not isinstance(told, dict):
            told = {}
    except ValueError:
        told = {}
    new = {name: why for name, why in skipped.items() if told.get(name) != why}
    if new:
        listing = ", ".join("%s: %s" % item for item in sorted(new.items()))
        sys.stderr.write("dockerkernel: not carried over to the next cell (cannot be pickled): %s\n" % listing)
    os.makedirs(STATE_DIR, exist_ok=True)
    replace_file(SKIPPED_FILE, json.dumps(skipped).encode())


# -- running ---------------------------------------------------------------------------------
def notice(text):
    """A line from dockerkernel itself on the cell's stderr."""
    sys.stderr.write("dockerkernel: %s\n" % text)


def restore_process(shell):
    """The previous cells' working directory, environment, sys.path and IPython history."""
    import dkshell

    blob = read_regular(PROCESS_FILE, 64 << 20)
    if not blob:
        return
    try:
        state = json.loads(blob)
        if isinstance(state, dict):
            dkshell.restore(shell, state, notice)
            restore_random(state.get("random"))
    except Exception as exc:  # a broken file must not break the cell
        notice("the previous cells' working directory and history could not be restored (%s: %s)"
               % (type(exc).__name__, exc))


def save_process(shell, baseline):
    """Carry this process's state to the next cell's (JSON; cheap, so also under %state off)."""
    import dkshell

    state = dkshell.snapshot(shell, baseline)
    state["random"] = random_states()
    replace_file(PROCESS_FILE, json.dumps(state, default=str).encode())


def random_states():
    """The global random generators' states (``random``, NumPy's legacy ``np.random``), so a
    seed set in one cell goes on in the next one as in one process."""
    states = {}
    if "random" in sys.modules:
        version, internal, gauss = sys.modules["random"].getstate()
        states["random"] = [version, list(internal), gauss]
    numpy = sys.modules.get("numpy")
    if numpy is not None and hasattr(numpy, "random"):
        name, keys, pos, has_gauss, cached = numpy.random.get_state()
        states["numpy"] = [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]
    return states


def restore_random(states):
    """Put the generators back (see ``random_states``)."""
    if not isinstance(states, dict):
        return
    if states.get("random"):
        import random

        version, internal, gauss = states["random"]
        random.setstate((version, tuple(internal), gauss))
    if states.get("numpy"):
        import numpy

        name, keys, pos, has_gauss, cached = states["numpy"]
        numpy.random.set_state((name, numpy.array(keys, dtype=numpy.uint32), pos, has_gauss, cached))


def take_done_fd():
    """The runner's done pipe (see announce_exit), hidden from the cell's environment and children."""
    try:
        fd = int(os.environ.pop("DK_DONE_FD", "-1"))
        if fd >= 0:
            os.set_inheritable(fd, False)
        return fd
    except (OSError, ValueError):
        return -1


def announce_exit(fd, status):
    """Tell the runner our exit status now; the process teardown that follows need not be awaited."""
    if fd >= 0:
        try:
            os.write(fd, b"%d\n" % (status & 0xFF))  # what os._exit(status) leaves as the exit code
        except OSError:
            pass


INTROSPECTION_MIME = "application/x.dockerkernel.introspection+json"


def main():
    """Run one cell (or answer one introspection request) and exit with its status."""
    # all that does not depend on the cell is done before it arrives (in the pool)
    whole_write_stdio()
    done_fd = take_done_fd()
    # figures as under ipykernel: matplotlib-inline shows them at the end of the cell, and
    # `!cmd` runs in bash as from a Jupyter started in a terminal
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ.setdefault("SHELL", "/bin/bash")
    # the cell runs in a real __main__ module, so dill pickles its functions by value and
    # binds them to the next cell's globals
    main_module = types.ModuleType("__main__")
    main_module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main_module
    try:
        import dkshell  # IPython: ~0.3 s, paid here while the container waits in the pool
    except ImportError as exc:  # an image of the user's (%image) without IPython
        header, _ = read_cell()
        dkdisplay.NONCE = header["nonce"]
        dkdisplay.send_frame("error", {"ename": "ImageMissing", "evalue": "Python cells run in IPython, which this "
                                       "image lacks (%s): add python3-ipython to it" % exc, "traceback": []})
        announce_exit(done_fd, 1)
        os._exit(1)

    shell = dkshell.make_shell(main_module)
    builtins.input = _input
    import getpass

    getpass.getpass = _getpass
    share_input_with_children()
    dkshell.warm(shell)
    prewarm()
    header, source = read_cell()
    os.environ.update(header.get("env") or {})
    dkdisplay.NONCE = os.environ["DK_NONCE"] = header["nonce"]
    introspection = os.environ.pop("DK_INTROSPECT", "")
    shell.dk_stdin = bool(header.get("stdin"))
    count = header.get("execution_count") or 0
    keep_state = bool(header.get("state", True))
    baseline = dkshell.Baseline()
    restore_process(shell)
    if keep_state:
        restore_state(main_module)
        dkshell.restore_outputs(shell)
    if introspection:
        reply = dkshell.introspect(shell, json.loads(source))
        dkdisplay.send_frame("result", {"data": {INTROSPECTION_MIME: reply}, "metadata": {}})
        announce_exit(done_fd, 0)
        os._exit(0)
    status = dkshell.run(shell, source, count)
    try:
        save_process(shell, baseline)
    except Exception as exc:
        notice("the working directory and history could not be saved for the next cell (%s: %s)"
               % (type(exc).__name__, exc))
    if keep_state:
        try:
            never, quiet = dkshell.carried_names(shell)
            save_state(main_module, never, quiet)
        except Exception as exc:
            notice("the variables could not be saved for the next cell (%s: %s)" % (type(exc).__name__, exc))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)  # the cell started threads: let them finish, as a script would
    announce_exit(done_fd, status)
    os._exit(status)  # nothing left to wait for: skip interpreter teardown (milliseconds per cell)


if __name__ == "__main__":
    main()
