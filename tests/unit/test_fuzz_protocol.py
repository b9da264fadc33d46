"""Fuzzing the in-band frame parser (dockerkernel/protocol.py) with hypothesis.

Properties, for any bytes split anywhere:
* no exception escapes ``FrameParser.feed`` or ``close``;
* every byte that is not part of a valid frame comes out as ``Text``, in order;
* valid frames come out as ``Frame`` events, in order, with their payloads;
* a runner frame (signed with the secret end token) is never swallowed by a program frame
  that lies about its length, however the stream is split;
* the parser's buffer stays bounded (≤ header + max_frame) after every feed.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockerkernel.protocol import (
    _MAX_HEADER,
    FRAME_MAGIC,
    PROGRAM_KINDS,
    RUNNER_KINDS,
    Frame,
    FrameError,
    FrameParser,
    Text,
    encode_frame,
)

NONCE = secrets.token_hex(16)
END = secrets.token_hex(16)
MAX_FRAME = 512  # small, so that oversized frames are cheap to generate
BOUND = len(FRAME_MAGIC) + _MAX_HEADER + MAX_FRAME

FUZZ = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given positions (taken modulo its length)."""
    if not data:
        return [b""]
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)] or [data]


def run_parser(chunks: list[bytes], max_frame: int = MAX_FRAME) -> list:
    """Feed every chunk, checking the buffer bound after each; then close."""
    parser = FrameParser(NONCE, END, max_frame=max_frame)
    events = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
        assert len(parser._buf) <= len(FRAME_MAGIC) + _MAX_HEADER + max_frame, len(parser._buf)
    events.extend(parser.close())
    assert not parser._buf and parser._pending is None
    return events


def text_of(events: list) -> bytes:
    """All Text bytes, in order."""
    return b"".join(e.data for e in events if isinstance(e, Text))


def frames_of(events: list) -> list[tuple]:
    """(kind, payload, from_runner) of every Frame, in order."""
    return [(e.kind, e.payload, e.from_runner) for e in events if isinstance(e, Frame)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


@st.composite
def valid_frame(draw):
    """A frame the parser must accept: (bytes, expected (kind, payload, from_runner))."""
    runner = draw(st.booleans())
    kind = draw(st.sampled_from(sorted(RUNNER_KINDS if runner else PROGRAM_KINDS)))
    payload = draw(payloads)
    data = encode_frame(END if runner else NONCE, kind, payload)
    if len(data) - data.index(b"\n") - 1 > MAX_FRAME:
        payload = {}
        data = encode_frame(END if runner else NONCE, kind, payload)
    return data, (kind, json.loads(json.dumps(payload)), runner)


@st.composite
def look_alike(draw):
    """Bytes that look like a frame but are not one (wrong token, wrong kind for the token,
    malformed header): they must come out as text, unchanged."""
    choice = draw(st.integers(0, 5))
    wrong = secrets.token_hex(16)
    if choice == 0:
        return FRAME_MAGIC + wrong.encode() + b" display 2\n{}"
    if choice == 1:
        return FRAME_MAGIC + NONCE.encode() + b" end 2\n{}"  # runner kind, program token
    if choice == 2:
        return FRAME_MAGIC + END.encode() + b" display 2\n{}"  # program kind, runner token
    if choice == 3:
        return FRAME_MAGIC + NONCE.encode() + b" DISPLAY 2\n{}"
    if choice == 4:
        return FRAME_MAGIC + NONCE.encode()[:-1] + b" display 2\n{}"
    return FRAME_MAGIC + draw(st.binary(max_size=90))


def _safe_text(data: bytes) -> bytes:
    """Random bytes, never containing one of our real tokens (hypothesis cannot guess them anyway)."""
    return data.replace(NONCE.encode(), b"x").replace(END.encode(), b"x")


segments = st.lists(
    st.one_of(
        st.binary(max_size=300).map(lambda b: ("text", _safe_text(b))),
        st.sampled_from([b"\x1b", b"\x1bD", b"\x1bDK", FRAME_MAGIC, b"\n", b"\x1bDK \n"]).map(lambda b: ("text", b)),
        look_alike().map(lambda b: ("text", b)),
        valid_frame().map(lambda f: ("frame", f)),
    ),
    max_size=25,
)


@FUZZ
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 1 << 16), max_size=20))
def test_arbitrary_bytes_come_out_unchanged(data, cuts):
    """Arbitrary bytes, arbitrary splits: no exception, and every byte comes out as text, in order."""
    events = run_parser(split(data, cuts))
    assert text_of(events) == data
    assert frames_of(events) == []


@FUZZ
@given(segs=segments, cuts=st.lists(st.integers(0, 1 << 16), max_size=30))
def test_embedded_frames_are_found_and_text_is_preserved(segs, cuts):
    """Text, look-alikes and valid frames (random tokens, kinds, lengths) interleaved and split
    anywhere: the text is exactly the input minus the valid frames; the frames come out in order."""
    stream = b"".join(seg[1] if seg[0] == "text" else seg[1][0] for seg in segs)
    expected_text = b"".join(seg[1] for seg in segs if seg[0] == "text")
    expected_frames = [seg[1][1] for seg in segs if seg[0] == "frame"]
    # a text segment ending in a partial magic right before a frame is still text: fine
    events = run_parser(split(stream, cuts))
    assert text_of(events) == expected_text
    assert frames_of(events) == expected_frames


@FUZZ
@given(
    prefix=st.binary(max_size=200).map(_safe_text),
    declared=st.one_of(st.integers(1, MAX_FRAME), st.integers(MAX_FRAME + 1, 10**12 - 1)),
    partial=st.binary(max_size=200).map(_safe_text),
    # the runner's reports are small (well under any max_frame); the parser caps every frame alike
    report=payloads.filter(lambda r: len(json.dumps(r).encode()) <= MAX_FRAME),
    trailer=st.binary(max_size=50).map(_safe_text),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=12),
)
def test_lying_program_frame_never_swallows_the_runner_frame(prefix, declared, partial, report, trailer, cuts):
    """A program frame declaring more bytes than it sends (within or beyond max_frame) followed by
    the runner's end frame: the end frame is always delivered, whatever the split."""
    partial = partial[: max(0, declared - 1)]
    lie = FRAME_MAGIC + NONCE.encode() + b" display %d\n" % declared + partial
    end = encode_frame(END, "end", report)
    events = run_parser(split(prefix + lie + end + trailer, cuts))
    runner_frames = [f for f in frames_of(events) if f[2]]
    assert runner_frames == [("end", json.loads(json.dumps(report)), True)], events[-4:]


def test_oversized_frame_and_runner_frame_in_one_read():
    """Regression (found by the adversarial suite): an oversized program frame header and the
    runner's end frame arriving in the same read. The end frame must not be dropped with the
    oversized body."""
    data = b"a" * 10 + FRAME_MAGIC + NONCE.encode() + b" display 999999999999\n"
    data += encode_frame(END, "end", {"exit_code": 0})
    events = run_parser([data])
    assert ("end", {"exit_code": 0}, True) in frames_of(events), events


def test_look_alike_flood_is_bounded_and_fast():
    """Megabytes of frame look-alikes (the worst case for the header search) are text, with a
    bounded buffer, in a generous no-hang bound."""
    junk = (FRAME_MAGIC + b"0" * 31 + b"\n" + FRAME_MAGIC + NONCE.encode() + b" nokind 1\nx" + b"\x1bD") * 20000
    started = time.monotonic()
    events = run_parser(split(junk, list(range(0, len(junk), 65536))))
    assert text_of(events) == junk
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("length", [MAX_FRAME + 1, 10**12 - 1])
def test_oversized_frames_are_skipped_without_buffering(length):
    """A frame declaring more than max_frame is reported and its body skipped, never buffered."""
    body = b"z" * min(length, 100_000)
    data = FRAME_MAGIC + NONCE.encode() + b" display %d\n" % length + body + (b"after" if length <= len(body) else b"")
    events = run_parser(split(data, list(range(0, len(data), 4096))))
    assert any(isinstance(e, FrameError) and "exceeds" in e.reason for e in events)
    assert frames_of(events) == []
