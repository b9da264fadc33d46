"""The frame writer of a Python cell: rich output leaves the container as side-channel frames.

Everything the cell shows besides plain text (IPython's display publisher, its displayhook,
its tracebacks, input requests) ends up here, as one frame on stdout signed with the cell's
nonce (see dockerkernel/protocol.py). Standard library only: the boot code imports this
before IPython.
"""

import base64
import json
import os
import sys

MAGIC = b"\x1bDK "
NONCE = os.environ.get("DK_NONCE", "")


def send_frame(kind, payload):
    """Write one frame after flushing what the program printed before it (keeps order)."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    data = MAGIC + b"%s %s %d\n" % (NONCE.encode(), kind.encode(), len(body)) + body
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def encode_data(data):
    """A MIME bundle as JSON can carry it: binary images in base64, other bytes as text.

    IPython's formatters return PNG/JPEG as bytes (ipykernel base64-encodes them the same way
    on its way to the frontend).
    """
    encoded = {}
    for mime, value in (data or {}).items():
        if isinstance(value, (bytes, bytearray)):
            if mime.startswith("image/") and mime != "image/svg+xml":
                value = base64.b64encode(bytes(value)).decode("ascii")
            else:
                value = bytes(value).decode("utf-8", "replace")
        encoded[mime] = value
    return encoded
