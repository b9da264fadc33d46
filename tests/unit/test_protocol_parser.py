"""The kernel side of the wire: FrameParser splits output into text and frames, whatever the chunking."""

from __future__ import annotations

import importlib.util
import json
import secrets
import sys
from pathlib import Path

import pytest

from dockerkernel import wire
from dockerkernel.protocol import FRAME_MAGIC, Frame, FrameError, FrameParser, Text, encode_frame

NONCE = secrets.token_hex(16)
END = secrets.token_hex(16)
MiB = 1 << 20


# ---- helpers ---------------------------------------------------------------------------


def normalize(events) -> list:
    """Merge adjacent Text events (how text is chunked is not part of the contract)."""
    out: list = []
    for event in events:
        if isinstance(event, Text):
            if not event.data:
                continue
            if out and isinstance(out[-1], Text):
                out[-1] = Text(out[-1].data + event.data)
                continue
        out.append(event)
    return out


def parse(chunks, *, max_frame: int = 16 * MiB, nonce: str = NONCE, end: str = END) -> list:
    """Feed ``chunks`` and close; all events, text merged."""
    parser = FrameParser(nonce, end, max_frame=max_frame)
    events = []
    for chunk in chunks:
        events += list(parser.feed(chunk))
    events += list(parser.close())
    return normalize(events)


def text_of(events) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Text))


def splits(data: bytes):
    """``data`` split in two at every byte boundary."""
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]


STREAM = (
    b"hello \xff\x00 world\n"
    + encode_frame(NONCE, "display", {"data": {"text/plain": "d1"}})
    + b"between\x1b[31mred\x1b[0m"
    + encode_frame(NONCE, "error", {"ename": "E", "evalue": "\u00e9"})
    + encode_frame(NONCE, "result", {"data": {"text/plain": "r"}})
    + b"\x1bDK"  # a truncated look-alike in the middle of text
    + b" tail text"
    + encode_frame(END, "limit", {"which": "pids"})
    + encode_frame(END, "end", {"exit_code": 0})
    + b"after end\n"
)
EXPECTED = [
    Text(b"hello \xff\x00 world\n"),
    Frame("display", {"data": {"text/plain": "d1"}}, from_runner=False),
    Text(b"between\x1b[31mred\x1b[0m"),
    Frame("error", {"ename": "E", "evalue": "\u00e9"}, from_runner=False),
    Frame("result", {"data": {"text/plain": "r"}}, from_runner=False),
    Text(b"\x1bDK tail text"),
    Frame("limit", {"which": "pids"}, from_runner=True),
    Frame("end", {"exit_code": 0}, from_runner=True),
    Text(b"after end\n"),
]


# ---- FrameParser: splitting ------------------------------------------------------------


def test_parser_whole_stream():
    assert parse([STREAM]) == EXPECTED


def test_parser_split_at_every_byte_boundary():
    for chunks in splits(STREAM):
        assert parse(chunks) == EXPECTED, f"split at {len(chunks[0])}"


def test_parser_byte_by_byte():
    assert parse([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_parser_split_in_three_everywhere_around_a_frame():
    frame = encode_frame(NONCE, "display", {"data": {"text/plain": "x"}})
    data = b"ab" + frame + b"cd"
    want = [Text(b"ab"), Frame("display", {"data": {"text/plain": "x"}}), Text(b"cd")]
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            assert parse([data[:i], data[i:j], data[j:]]) == want, (i, j)


def test_parser_text_only_is_delivered_unchanged():
    data = bytes(range(256)) * 4
    for chunks in splits(data[:300]):
        assert parse(chunks) == [Text(data[:300])]
    assert parse([data]) == [Text(data)]


def test_parser_magic_prefix_at_end_of_stream_is_text():
    for tail in (b"\x1b", b"\x1bD", b"\x1bDK", b"\x1bDK ", b"\x1bDK " + NONCE.encode()):
        assert parse([b"x" + tail]) == [Text(b"x" + tail)]


# ---- FrameParser: look-alikes pass through ---------------------------------------------


LOOK_ALIKES = [
    FRAME_MAGIC + secrets.token_hex(16).encode() + b" end 2\n{}",  # wrong token
    FRAME_MAGIC + secrets.token_hex(16).encode() + b" display 2\n{}",  # wrong token
    FRAME_MAGIC + NONCE.encode() + b" end 2\n{}",  # program-signed runner kind
    FRAME_MAGIC + NONCE.encode() + b" limit 2\n{}",  # program-signed runner kind
    FRAME_MAGIC + END.encode() + b" display 2\n{}",  # runner token, program kind
    FRAME_MAGIC + NONCE.encode() + b" nosuchkind 2\n{}",  # unknown kind
    FRAME_MAGIC + NONCE.encode() + b" display two\n{}",  # malformed length
    FRAME_MAGIC + NONCE.encode() + b" display\n{}",  # missing length
    FRAME_MAGIC + NONCE.encode().upper() + b" display 2\n{}",  # token not lowercase hex
    FRAME_MAGIC + NONCE.encode() + b"  display 2\n{}",  # double space
    FRAME_MAGIC + NONCE.encode()[:-1] + b" display 2\n{}",  # short token
    FRAME_MAGIC + NONCE.encode() + b" display 2" + b" " * 100 + b"\n{}",  # overlong header
    FRAME_MAGIC + NONCE.encode() + b" display 2",  # no newline at all
    FRAME_MAGIC + b"\n",
    FRAME_MAGIC + FRAME_MAGIC + FRAME_MAGIC,
]


@pytest.mark.parametrize("fake", LOOK_ALIKES, ids=range(len(LOOK_ALIKES)))
def test_parser_look_alikes_are_text(fake):
    data = b"before " + fake + b" after\n"
    want = [Text(data)]
    assert parse([data]) == want
    for chunks in splits(data):
        assert parse(chunks) == want, f"split at {len(chunks[0])}"


def test_parser_look_alike_followed_by_real_frame():
    fake = FRAME_MAGIC + secrets.token_hex(16).encode() + b" end 2\n{}"
    real = encode_frame(END, "end", {"exit_code": 3})
    data = fake + real + b"x"
    want = [Text(fake), Frame("end", {"exit_code": 3}, from_runner=True), Text(b"x")]
    assert parse([data]) == want
    for chunks in splits(data):
        assert parse(chunks) == want


def test_parser_magic_inside_look_alike_header_finds_the_real_frame():
    real = encode_frame(NONCE, "display", {"a": 1})
    data = FRAME_MAGIC + b"zz" + real
    want = [Text(FRAME_MAGIC + b"zz"), Frame("display", {"a": 1})]
    assert parse([data]) == want
    for chunks in splits(data):
        assert parse(chunks) == want


def test_parser_tokens_are_per_parser():
    other = FrameParser(secrets.token_hex(16), secrets.token_hex(16))
    data = encode_frame(NONCE, "display", {"a": 1}) + encode_frame(END, "end", {})
    events = normalize(list(other.feed(data)) + list(other.close()))
    assert events == [Text(data)]


# ---- FrameParser: size limit -----------------------------------------------------------


def test_parser_oversized_frame_small_limit_whole_and_split():
    body = json.dumps({"data": "y" * 1000}).encode()
    big = FRAME_MAGIC + b"%s display %d\n" % (NONCE.encode(), len(body)) + body
    data = b"pre" + big + b"post" + encode_frame(NONCE, "display", {"ok": 1}) + b"end"
    want_text = b"prepostend"

    def check(events):
        errors = [e for e in events if isinstance(e, FrameError)]
        assert len(errors) == 1 and errors[0].size == len(body), events
        assert text_of(events) == want_text
        assert [e for e in events if isinstance(e, Frame)] == [Frame("display", {"ok": 1})]
        # order: pre, error, post, frame, end
        kinds = [type(e).__name__ for e in events]
        assert kinds == ["Text", "FrameError", "Text", "Frame", "Text"]

    check(parse([data], max_frame=100))
    for chunks in splits(data):
        check(parse(chunks, max_frame=100))
    check(parse([data[i : i + 1] for i in range(len(data))], max_frame=100))


def test_parser_oversized_frame_is_never_buffered_small_limit():
    parser = FrameParser(NONCE, END, max_frame=100)
    body = b"z" * 5000
    data = FRAME_MAGIC + b"%s display %d\n" % (NONCE.encode(), len(body)) + body + b"after"
    events = []
    for i in range(0, len(data), 7):
        events += list(parser.feed(data[i : i + 7]))
        assert len(parser._buf) < 100, len(parser._buf)
    events += list(parser.close())
    events = normalize(events)
    assert [type(e) for e in events] == [FrameError, Text]
    assert events[1].data == b"after"


def test_parser_frame_at_exactly_max_frame_is_accepted():
    body = json.dumps({"k": "v" * 50}).encode()
    data = FRAME_MAGIC + b"%s display %d\n" % (NONCE.encode(), len(body)) + body
    assert parse([data], max_frame=len(body)) == [Frame("display", {"k": "v" * 50})]
    events = parse([data], max_frame=len(body) - 1)
    assert len(events) == 1 and isinstance(events[0], FrameError)


def test_parser_50mib_frame_default_limit_fed_in_1mib_chunks():
    parser = FrameParser(NONCE, END)  # the real default max_frame
    assert parser.max_frame < 50 * MiB
    size = 50 * MiB
    header = b"text before" + FRAME_MAGIC + b"%s display %d\n" % (NONCE.encode(), size)
    chunk = b"[" * MiB
    events = list(parser.feed(header))
    max_buf = len(parser._buf)
    sent = 0
    while sent < size:
        piece = chunk[: min(MiB, size - sent)]
        if sent == 0:
            piece = piece[: MiB - 10]  # misalign the chunks with the frame body
        events += list(parser.feed(piece))
        sent += len(piece)
        max_buf = max(max_buf, len(parser._buf))
    events += list(parser.feed(b"text after"))
    events += list(parser.feed(encode_frame(END, "end", {"exit_code": 0})))
    events += list(parser.close())
    max_buf = max(max_buf, len(parser._buf))
    assert max_buf < 64 * 1024, f"the parser buffered {max_buf} bytes of an oversized frame"
    events = normalize(events)
    assert [type(e) for e in events] == [Text, FrameError, Text, Frame]
    assert events[0].data == b"text before"
    assert events[1].size == size
    assert events[2].data == b"text after"
    assert events[3] == Frame("end", {"exit_code": 0}, from_runner=True)


# ---- FrameParser: bad bodies, truncation -----------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"str"', b"\xff\xfe", b"{}}"])
def test_parser_malformed_json_is_frame_error(body):
    data = b"a" + FRAME_MAGIC + b"%s display %d\n" % (NONCE.encode(), len(body)) + body + b"b"
    for chunks in [[data], *splits(data)]:
        events = parse(chunks)
        errors = [e for e in events if isinstance(e, FrameError)]
        assert len(errors) == 1 and errors[0].size == len(body)
        assert not [e for e in events if isinstance(e, Frame)]
        assert text_of(events) == b"ab"


def test_parser_truncated_frame_at_close():
    frame = encode_frame(END, "end", {"exit_code": 0, "files": ["a", "b"]})
    data = b"out" + frame[:-5]
    for chunks in [[data], *splits(data)]:
        events = parse(chunks)
        errors = [e for e in events if isinstance(e, FrameError)]
        assert len(errors) == 1 and "truncated" in errors[0].reason
        assert not [e for e in events if isinstance(e, Frame)]
        assert events[0] == Text(b"out")


def test_parser_zero_length_frame_is_error_not_hang():
    data = FRAME_MAGIC + b"%s display 0\n" % NONCE.encode() + b"x"
    events = parse([data])
    assert text_of(events) == b"x"
    assert [type(e) for e in events if not isinstance(e, Text)] == [FrameError]


# ---- the in-container runner's frames parse ---------------------------------------------


def load_runner(monkeypatch):
    """The in-container runner as a module; its ``dkwire`` is this checkout's wire.py (as in the image)."""
    monkeypatch.setitem(sys.modules, "dkwire", wire)
    path = Path(__file__).resolve().parents[2] / "dockerkernel" / "incontainer" / "runner.py"
    spec = importlib.util.spec_from_file_location("dk_incontainer_runner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runner_frame_parses_and_matches_encode_frame(monkeypatch):
    runner = load_runner(monkeypatch)
    assert runner.encode_frame is encode_frame  # the runner writes with the very codec tested here
    report = {"exit_code": 0, "signal": None, "oom_killed": False, "files": ["é.txt", "dir/"], "elapsed": 0.01}
    data = b"out" + encode_frame(END, "end", report) + encode_frame(END, "limit", {"which": "pids"})
    data += encode_frame(END, "end")
    want = [
        Text(b"out"),
        Frame("end", report, from_runner=True),
        Frame("limit", {"which": "pids"}, from_runner=True),
        Frame("end", {}, from_runner=True),
    ]
    assert parse([data]) == want
    for chunks in splits(data):
        assert parse(chunks) == want


def test_runner_frame_with_program_nonce_is_not_a_runner_frame():
    data = encode_frame(NONCE, "end", {"exit_code": 0})
    assert parse([data]) == [Text(data)]
