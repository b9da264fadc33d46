"""The one frame codec of the Python code in the cell containers, and of the kernel's tests.

Stdlib only: ``os`` at import, ``json`` when the first frame is encoded (the runner keeps
imports off its cold path, before the warm interpreter is started). The image build copies
this file to ``/opt/dockerkernel/python/dkwire.py`` (``imagebuild``), where the runner,
``display`` and ``input`` import it as ``dkwire``; the kernel side imports it as
``dockerkernel.wire`` and ``protocol.py`` re-exports it, so the unit tests check the very
bytes containers write. ``boot.js`` is the only other encoder (Node cannot import this) and
is tested against the same vectors (``FRAME_VECTORS``). The format is documented in ``dockerkernel/protocol.py``.
"""

import os

FRAME_MAGIC = b"\x1bDK "
# where the runner writes a cell's program (and a compiled language's binary, ``cell``)
CELL_DIR = "/tmp/dk"

# (token, kind, payload) -> the exact bytes; boot.js's test encodes the same and compares.
# ASCII only: JSON.stringify keeps non-ASCII as UTF-8 where json.dumps escapes it (both parse).
FRAME_VECTORS = (
    (("0" * 32, "end", None), b"\x1bDK " + b"0" * 32 + b" end 2\n{}"),
    (("a" * 32, "display", {"data": {"text/plain": "hi"}}),
     b"\x1bDK " + b"a" * 32 + b' display 28\n{"data":{"text/plain":"hi"}}'),
    (("f" * 32, "input", {"prompt": "name? ", "password": False}),
     b"\x1bDK " + b"f" * 32 + b' input 36\n{"prompt":"name? ","password":false}'),
)


def encode_frame(token, kind, payload=None):
    """One frame: ``ESC "DK " token " " kind " " length LF`` + ``length`` bytes of compact JSON."""
    import json  # here, not at the top: see the module docstring

    body = json.dumps(payload or {}, separators=(",", ":")).encode()
    return FRAME_MAGIC + b"%s %s %d\n" % (token.encode(), kind.encode(), len(body)) + body


def write_all(fd, data):
    """Write every byte of ``data`` to file descriptor ``fd``, retrying short and interrupted writes."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[written:]


def read_exactly(stream, size):
    """Read exactly ``size`` bytes from a binary stream (fewer only at end of file)."""
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_answer_line(fd):
    """One answer line from the answer pipe ``fd`` (``$DK_INPUT_FD``), without its newline; None at EOF."""
    line = bytearray()
    while fd >= 0:
        try:
            chunk = os.read(fd, 1)  # one byte at a time: the next answer stays in the pipe
        except OSError:
            return None
        if not chunk:
            return None
        if chunk == b"\n":
            return line.decode("utf-8", "replace")
        line += chunk
    return None


def cell_label(execution_count):
    """How a cell's file is named in tracebacks and diagnostics: ``Cell In[3]`` (IPython's words)."""
    return "Cell In[%s]" % execution_count


def relabel(text, source_file, execution_count):
    """``text`` with the program's path (and bare file name) replaced by the cell's label."""
    label = cell_label(execution_count)
    return text.replace("%s/%s" % (CELL_DIR, source_file), label).replace(source_file, label)
