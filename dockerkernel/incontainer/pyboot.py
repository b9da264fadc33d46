"""Python cell boot: loaded while the container waits in the pool, then runs one cell.

Reads the header line and the source from stdin (see dockerkernel/protocol.py), runs the
cell like IPython would (a trailing expression becomes ``execute_result``), and reports an
uncaught exception as an ``error`` frame with the cell's own traceback.
"""

import ast
import builtins
import json
import linecache
import os
import sys
import threading
import traceback

sys.path.insert(0, "/opt/dockerkernel/python")
import dkdisplay  # noqa: E402  (helpers: display(), HTML(), ...; the frame writer)


def read_cell():
    """Header and source from stdin; afterwards stdin is at EOF, so input() gets EOFError."""
    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    size = int(header["size"])
    chunks = []
    while size:
        chunk = stdin.read(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return header, b"".join(chunks).decode("utf-8", "replace")


def cell_frames(tb, filename):
    """Drop the boot code's own frames: the user sees the cell and what it called."""
    frames = traceback.extract_tb(tb)
    for index, summary in enumerate(frames):
        if summary.filename == filename:
            return frames[index:]
    return []  # e.g. a SyntaxError: the message itself points into the cell


def report_exception(exc, filename):
    """Send the exception as an error frame (the kernel turns it into a Jupyter error)."""
    frames = cell_frames(exc.__traceback__, filename)
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    dkdisplay.send_frame(
        "error",
        {"ename": type(exc).__name__, "evalue": str(exc), "traceback": "".join(lines).rstrip("\n").split("\n")},
    )


def run(source, filename, namespace):
    """Execute the cell; show the value of a trailing expression."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    tree = ast.parse(source, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        value = eval(compile(last, filename, "eval"), namespace)
        if value is not None:
            builtins._ = value
            dkdisplay.publish_result(value)


def main():
    """Run one cell and exit with its status."""
    header, source = read_cell()
    os.environ.update(header.get("env") or {})
    dkdisplay.NONCE = os.environ["DK_NONCE"] = header["nonce"]
    count = header.get("execution_count") or 0
    filename = "Cell In[%d]" % count
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    dkdisplay.install(namespace)
    status = 0
    try:
        run(source, filename, namespace)
        dkdisplay.show_open_figures()
    except SystemExit as exc:
        code = exc.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if not isinstance(code, (int, type(None))):
            print(code, file=sys.stderr)
    except BaseException as exc:  # the cell's failure is data, not the boot's
        try:
            dkdisplay.show_open_figures()
        except Exception:
            pass
        report_exception(exc, filename)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)  # the cell started threads: let them finish, as a script would
    os._exit(status)  # nothing left to wait for: skip interpreter teardown (milliseconds per cell)


if __name__ == "__main__":
    main()
