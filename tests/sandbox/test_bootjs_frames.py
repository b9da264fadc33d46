"""boot.js in the JS image: the only frame encoder besides wire.py, it writes the very bytes of
wire.FRAME_VECTORS; and its pool-time warm-up runs every step without an error."""

from __future__ import annotations

import json
import re

import pytest

from dockerkernel import wire
from dockerkernel.images import INCONTAINER_DIR

pytestmark = [pytest.mark.docker, pytest.mark.images("javascript")]


def test_boot_js_send_frame_matches_the_python_codec(docker_client, images):
    source = (INCONTAINER_DIR / "boot.js").read_text()
    send_frame = re.search(r"^function sendFrame\(kind, payload\) \{.*?^\}$", source, re.DOTALL | re.MULTILINE)
    assert send_frame, "boot.js has no sendFrame(kind, payload)"
    calls = "".join(
        f"header.nonce = {json.dumps(token)}; sendFrame({json.dumps(kind)}, {json.dumps(payload or {})});\n"
        for (token, kind, payload), _ in wire.FRAME_VECTORS
    )
    # the closing newline: the daemon's log copier emits whole lines; a last line without one can
    # miss the logs read right after the container's exit on a loaded machine (seen in CI)
    script = 'const fs = require("fs");\nconst header = {};\n' + send_frame.group(0) + "\n" + calls
    script += 'fs.writeSync(1, "\\n");\n'
    out = docker_client.containers.run(
        images["javascript"], ["node", "-e", script], remove=True, network_disabled=True, user="1000:1000",
        stdout=True, stderr=True,
    )
    assert out == b"".join(data for _, data in wire.FRAME_VECTORS) + b"\n"


def test_boot_js_warm_up_runs_every_step(docker_client, images):
    # the warm-up runs before the rest of boot.js (it waits for the cell there): a step that
    # reads a name defined further down fails, silently in a cell, which made cells ~6 ms slower
    out = docker_client.containers.run(
        images["javascript"], ["node", "/opt/dockerkernel/boot.js"], remove=True, network_disabled=True,
        user="1000:1000", environment={"DK_WARM_CHECK": "1"}, stdout=True, stderr=True, stdin_open=False,
    )
    assert b"warm-up step failed" not in out, out.decode("utf-8", "replace")
