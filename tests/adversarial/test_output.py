"""Output attacks: floods with and without newlines, on stdout and stderr, and display frames;
binary, invalid UTF-8, NUL and terminal escapes (byte-exact in the sandbox, valid text in Jupyter)."""

from __future__ import annotations

import pytest

from .helpers import LANGS, MiB, kernel_args, kernel_settled

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]

FLOODS = {
    ("python", "lines"): "while True:\n    print('y' * 99)\n",
    ("python", "no-newline"): "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    ("python", "stderr"): "import sys\nwhile True:\n    sys.stderr.write('e' * 4096 + '\\n')\n",
    ("bash", "lines"): "yes\n",
    ("bash", "no-newline"): "tr '\\0' x < /dev/zero\n",
    ("bash", "stderr"): "yes >&2\n",
    ("c", "lines"): "for (;;) puts(\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\");\n",
    ("c", "no-newline"): "for (;;) fputs(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\", stdout);\n",
    ("c", "stderr"): "for (;;) fputs(\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\\n\", stderr);\n",
}


@pytest.mark.parametrize("lang,kind", sorted(FLOODS), ids=[f"{a}-{b}" for a, b in sorted(FLOODS)])
def test_output_flood(cells, lang, kind):
    """A flood is cut at the output cap (OutputLimitExceeded) and never more than the cap is relayed."""
    ran = cells.run(lang, FLOODS[(lang, kind)], hang_bound=40)
    assert ran.reason == "output", ran.describe()
    relayed = len(ran.out("stdout")) + len(ran.out("stderr"))
    assert 0 < relayed <= 1 * MiB, relayed
    cells.aftermath(ran, lang)


def test_display_frame_flood(cells):
    """The program knows its own nonce ($DK_NONCE) and can send display frames: a flood of them is
    cut at the rich-output budget; nothing beyond it is delivered."""
    code = (
        "import json, os, sys\n"
        "nonce = os.environ['DK_NONCE'].encode()\n"
        "body = json.dumps({'data': {'text/plain': 'z' * (256 << 10)}}).encode()\n"
        "frame = b'\\x1bDK ' + nonce + b' display %d\\n' % len(body) + body\n"
        "while True:\n"
        "    sys.stdout.buffer.write(frame)\n"
    )
    ran = cells.run("python", code, display_budget=4 * MiB, hang_bound=40)
    assert ran.reason == "output", ran.describe()
    delivered = sum(len(str(f.payload)) for f in ran.frames)
    assert delivered <= 4 * MiB + (300 << 10), delivered
    cells.aftermath(ran, "python")


def test_oversized_display_frame_is_dropped(cells):
    """One frame larger than max_frame is dropped with a notice, never buffered."""
    code = (
        "import json, os, sys\n"
        "nonce = os.environ['DK_NONCE'].encode()\n"
        "body = json.dumps({'data': {'text/plain': 'z' * (3 << 20)}}).encode()\n"
        "sys.stdout.buffer.write(b'\\x1bDK ' + nonce + b' display %d\\n' % len(body) + body)\n"
        "sys.stdout.buffer.flush()\n"
        "print('after')\n"
    )
    ran = cells.run("python", code, max_frame=1 * MiB, hang_bound=40)
    assert ran.reason == "ok", ran.describe()
    assert ran.frames == [] and any("exceeds" in n.text for n in ran.notices), ran.describe()
    assert ran.out().endswith(b"after\n"), ran.describe()
    cells.aftermath(ran, "python")


BIG_WRITE = {
    # one write() of 300 000 bytes: longer than a pipe's buffer, so the kernel side must get it all
    "python": "import sys\nsys.stdout.write('a' * 300000)\nprint('<end>')\n",
    "bash": "head -c 300000 /dev/zero | tr '\\0' a\necho '<end>'\n",
    "c": "static char a[300000];\nmemset(a, 'a', sizeof a);\nfwrite(a, 1, sizeof a, stdout);\nputs(\"<end>\");\n",
}


@pytest.mark.parametrize("lang", LANGS)
def test_large_single_write_arrives_whole(cells, lang):
    """A single large write is delivered whole (under gVisor a pipe write can be short; a program
    or boot code that does not retry loses the rest silently)."""
    ran = cells.run(lang, BIG_WRITE[lang], hang_bound=40)
    assert ran.reason == "ok", ran.describe()
    assert ran.out() == b"a" * 300000 + b"<end>\n", f"{len(ran.out())} bytes arrived of {300000 + 6}"
    cells.aftermath(ran, lang)


ALL_BYTES = bytes(range(256)) * 64  # every byte value, NUL and ESC included (no frame magic)

BINARY = {
    "python": "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 64)\n",
    "bash": "for b in $(seq 0 255); do printf \"\\\\$(printf %03o $b)\"; done > /tmp/all\nfor i in $(seq 64); do cat /tmp/all; done\n",
    "c": "for (int r = 0; r < 64; r++) for (int b = 0; b < 256; b++) putchar(b);\n",
}


@pytest.mark.parametrize("lang", LANGS)
def test_binary_output_is_relayed_byte_exact(cells, lang):
    """Binary output (all 256 byte values, NUL, ESC, invalid UTF-8) passes the sandbox unchanged."""
    ran = cells.run(lang, BINARY[lang], hang_bound=40)
    assert ran.reason == "ok", ran.describe()
    assert ran.out() == ALL_BYTES
    cells.aftermath(ran, lang)


def test_hostile_bytes_reach_jupyter_as_valid_text(kernel_factory, docker_client):
    """Through Jupyter: invalid UTF-8 becomes U+FFFD, NUL becomes U+2400, a UTF-8 character split
    across writes stays whole, terminal escapes pass as text (the frontend renders them), and
    bytes that merely look like a frame are shown, not interpreted. The kernel stays healthy."""
    kernel = kernel_factory("docker-python", *kernel_args())
    code = (
        "import os, sys, time\n"
        "w = sys.stdout.buffer\n"
        "w.write(b'A\\xff\\xfeB\\x00C'); w.flush(); time.sleep(0.1)\n"
        "w.write(b'\\xe2\\x82'); w.flush(); time.sleep(0.1); w.write(b'\\xac\\n'); w.flush()\n"  # € split
        "w.write(b'\\x1b[2J\\x1b[31mred\\x1b[0m\\x1b]0;title\\x07\\x1b]52;c;cHduZWQ=\\x07\\r\\n'); w.flush()\n"
        "w.write(b'\\x1bDK 0123456789abcdef0123456789abcdef display 2\\n{}\\n'); w.flush()\n"
        "w.write(b'\\xed\\xa0\\x80 surrogate \\xf4\\x90\\x80\\x80 too-high\\n'); w.flush()\n"
    )
    result = kernel.run(code)
    assert result.status == "ok", result.reply
    text = result.stream()
    assert text.startswith("A\ufffd\ufffdB\u2400C€\n"), repr(text[:40])
    assert "\x1b[31mred\x1b[0m" in text and "\x1b]52;c;cHduZWQ=\x07" in text  # passed through verbatim
    assert "\x1bDK 0123456789abcdef0123456789abcdef display 2\n{}\n" in text
    assert not result.of_type("display_data")
    assert "\x00" not in text and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    assert "\ufffd surrogate" in text and "\ufffd too-high" in text
    nxt = kernel.run("print('fine')")
    assert nxt.status == "ok" and nxt.stream() == "fine\n"
    kernel_settled(docker_client, kernel.kernel_id())


def test_flood_through_jupyter_is_capped_and_coalesced(kernel_factory, docker_client):
    """Through Jupyter: a newline flood is cut at the cap, arrives as few coalesced stream messages,
    ends as OutputLimitExceeded with a notice, and the kernel answers the next cell normally."""
    kernel = kernel_factory("docker-bash", *kernel_args("--DockerKernel.output_limit=256k"))
    result = kernel.run("yes 'flood line'")
    assert result.status == "error" and result.ename == "OutputLimitExceeded", result.reply
    out = result.stream("stdout")
    assert 0 < len(out.encode()) <= 256 * 1024
    assert "output limit of" in result.stream("stderr")
    assert len(result.of_type("stream")) < 500, len(result.of_type("stream"))
    nxt = kernel.run("echo fine")
    assert nxt.status == "ok" and nxt.stream() == "fine\n"
    kernel_settled(docker_client, kernel.kernel_id())
