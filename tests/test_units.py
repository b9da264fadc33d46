"""Pure units, no Docker daemon: the frame parser, magics, is_complete, stream coalescing."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import secrets
from pathlib import Path

import pytest

from dockerkernel import magics
from dockerkernel.completeness import is_complete
from dockerkernel.kernel import StreamCoalescer
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


def load_runner():
    path = Path(__file__).resolve().parents[1] / "dockerkernel" / "incontainer" / "runner.py"
    spec = importlib.util.spec_from_file_location("dk_incontainer_runner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runner_frame_parses_and_matches_encode_frame():
    runner = load_runner()
    report = {"exit_code": 0, "signal": None, "oom_killed": False, "files": ["é.txt", "dir/"], "elapsed": 0.01}
    data = b"out" + runner.frame(END, "end", report) + runner.frame(END, "limit", {"which": "pids"})
    data += runner.frame(END, "end")
    assert runner.frame(END, "end", report) == encode_frame(END, "end", report)
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
    runner = load_runner()
    data = runner.frame(NONCE, "end", {"exit_code": 0})
    assert parse([data]) == [Text(data)]


# ---- magics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code,comment,names,body",
    [
        ("%timeout 3\n%memory 1g\nprint(1)\n", "#", ["timeout", "memory"], "\n\nprint(1)\n"),
        ("# note\n\n%timeout 3\nx = 1\ny = 2", "#", ["timeout"], "# note\n\n\nx = 1\ny = 2"),
        ("// c\n%pids 10\nconsole.log(1)", "//", ["pids"], "// c\n\nconsole.log(1)"),
        ("x = 1\n%timeout 3\n", "#", [], "x = 1\n%timeout 3\n"),
        ("print(1)", "#", [], "print(1)"),
        ("", "#", [], ""),
    ],
)
def test_split_magics(code, comment, names, body):
    found, rest = magics.split_magics(code, comment)
    assert [m.name for m in found] == names
    assert rest == body
    assert rest.count("\n") == code.count("\n")  # the program keeps its line numbers
    assert all(not m.cell for m in found)


def test_split_magics_line_numbers_and_args():
    found, rest = magics.split_magics("\n%timeout  2.5 \n# c\n%env A=b c\n1/0\n")
    assert [(m.name, m.args, m.line_number) for m in found] == [("timeout", "2.5", 2), ("env", "A=b c", 4)]
    assert rest.split("\n")[4] == "1/0"  # still line 5 (index 4)


def test_split_magics_cell_magic_takes_the_rest():
    found, rest = magics.split_magics("%timeout 3\n%%file data.txt\nline1\n%timeout 9\nline3")
    assert [(m.name, m.args, m.cell) for m in found] == [("timeout", "3", False), ("file", "data.txt", True)]
    assert rest == "line1\n%timeout 9\nline3"


@pytest.mark.parametrize(
    "text,value",
    [
        ("512m", 512 * MiB),
        ("1g", 1 << 30),
        ("1G", 1 << 30),
        ("1048576", MiB),
        ("1.5k", 1536),
        (" 2 MiB ", 2 * MiB),
        ("64kb", 64 << 10),
        ("0", 0),
        ("10b", 10),
    ],
)
def test_parse_size(text, value):
    assert magics.parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-1m", "1x", "m", "1.2.3", "1 g b"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        magics.parse_size(text)


@pytest.mark.parametrize(
    "size,text",
    [(1 << 30, "1 GiB"), (512 * MiB, "512 MiB"), (1536, "1.5 KiB"), (100, "100 B"), (3 << 29, "1.5 GiB"), (64 << 10, "64 KiB")],
)
def test_format_size(size, text):
    assert magics.format_size(size) == text
    if not text.endswith("bytes"):
        assert magics.parse_size(text) == size  # what %limits shows, %memory accepts


@pytest.mark.parametrize(
    "args,pair",
    [
        ("A=1", ("A", "1")),
        ("A 1", ("A", "1")),
        ("_x=a=b", ("_x", "a=b")),
        ('MSG="hello world"', ("MSG", "hello world")),
        ("MSG='it is'", ("MSG", "it is")),
        (" B = 2 ", ("B", "2")),
        ("E=", ("E", "")),
    ],
)
def test_parse_env(args, pair):
    assert magics.parse_env(args) == pair


@pytest.mark.parametrize("args", ["A", "1A=2", "A-B=1", "=1", ""])
def test_parse_env_rejects(args):
    with pytest.raises(ValueError):
        magics.parse_env(args)


# ---- is_complete -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy,code,status,indent",
    [
        ("python", "print(1)", "complete", None),
        ("python", "", "complete", None),
        ("python", "%timeout 3", "complete", None),
        ("python", "for i in range(3):", "incomplete", "    "),
        ("python", "if x:\n    if y:", "incomplete", "        "),
        ("python", "for i in x:\n    pass", "incomplete", "    "),
        ("python", "for i in x:\n    pass\n", "complete", None),
        ("python", "x = (1,", "incomplete", ""),
        ("python", "def f(:", "invalid", None),
        ("python", "x = )", "invalid", None),
        ("bash", "echo hi", "complete", None),
        ("bash", "if true; then", "incomplete", "  "),
        ("bash", "for i in 1 2; do\n  echo $i", "incomplete", "  "),
        ("bash", "echo a \\", "incomplete", ""),
        ("bash", "fi", "invalid", None),
        ("bash", "echo 'abc", "incomplete", None),  # an open quote continues, as in bash itself
        ("bash", 'echo "abc', "incomplete", None),
        ("bash", "echo $(date", "incomplete", None),
        ("bash", "cat <<EOF\nabc", "incomplete", None),  # an unterminated here-document
        ("brackets", "console.log(1)", "complete", None),
        ("brackets", "function f() {", "incomplete", "  "),
        ("brackets", "x = [1, (2", "incomplete", "    "),
        ("brackets", "`abc", "incomplete", ""),
        ("brackets", "/* comment", "incomplete", ""),
        ("brackets", "// {", "complete", None),
        ("brackets", 'let s = "}//"', "complete", None),
        ("brackets", "}", "invalid", None),
        ("brackets", "f(]", "invalid", None),
        ("brackets", "'abc", "invalid", None),
    ],
)
def test_is_complete(strategy, code, status, indent):
    reply = is_complete(strategy, code, "//" if strategy == "brackets" else "#")
    assert reply["status"] == status, reply
    if status == "incomplete" and indent is not None:
        assert reply["indent"] == indent
    if status != "incomplete":
        assert "indent" not in reply


# ---- StreamCoalescer -----------------------------------------------------------------------


def coalesce(script, interval: float = 0.05) -> tuple[list, StreamCoalescer]:
    """Run ``script(coalescer)`` (a coroutine function) on a loop; the messages sent."""
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(lambda name, text: sent.append((name, text)), interval)
        await script(coalescer)
        coalescer.flush(final=True)
        return coalescer

    coalescer = asyncio.run(main())
    return sent, coalescer


def test_coalescer_many_small_adds_few_messages():
    async def script(c):
        for i in range(10_000):
            c.add("stdout", b"line %d\n" % i)
            if i % 1000 == 0:
                await asyncio.sleep(0)

    sent, coalescer = coalesce(script)
    assert "".join(t for _, t in sent) == "".join(f"line {i}\n" for i in range(10_000))
    assert {n for n, _ in sent} == {"stdout"}
    assert len(sent) <= 3
    assert coalescer.messages == len(sent)


def test_coalescer_flushes_on_its_own_after_the_interval():
    async def script(c):
        c.add("stdout", b"a")
        c.add("stdout", b"b")
        await asyncio.sleep(0.3)  # longer than the interval: the timer must have fired
        assert sent == [("stdout", "ab")]
        c.add("stdout", b"c")

    sent: list = []

    async def main():
        coalescer = StreamCoalescer(lambda name, text: sent.append((name, text)), 0.05)
        await script(coalescer)
        coalescer.flush(final=True)

    asyncio.run(main())
    assert sent == [("stdout", "ab"), ("stdout", "c")]


def test_coalescer_utf8_split_across_adds():
    text = "é€😀"
    data = text.encode()

    async def script(c):
        for i in range(len(data)):
            c.add("stdout", data[i : i + 1])

    sent, _ = coalesce(script)
    assert "".join(t for _, t in sent) == text
    assert "\ufffd" not in "".join(t for _, t in sent)


def test_coalescer_utf8_split_across_flushes():
    async def script(c):
        c.add("stdout", "x€".encode()[:2])
        c.flush()
        c.add("stdout", "x€".encode()[2:])

    sent, _ = coalesce(script)
    assert "".join(t for _, t in sent) == "x€"


def test_coalescer_invalid_utf8_and_nul():
    async def script(c):
        c.add("stdout", b"a\xffb\x00c")
        c.add("stderr", b"\xc3(\x00")
        c.add("stdout", b"d\xe2\x82")  # truncated at the end of the cell

    sent, _ = coalesce(script)
    assert sent == [("stdout", "a\ufffdb\u2400c"), ("stderr", "\ufffd(\u2400"), ("stdout", "d\ufffd")]


def test_coalescer_order_when_the_cell_ends_in_a_partial_utf8_char():
    # stderr text written before the dangling stdout bytes must be sent before them
    async def script(c):
        c.add("stdout", b"a")
        c.add("stderr", b"err")
        c.add("stdout", b"\xe2\x82")

    sent, _ = coalesce(script)
    assert sent == [("stdout", "a"), ("stderr", "err"), ("stdout", "\ufffd")]


def test_coalescer_keeps_stdout_stderr_order():
    async def script(c):
        c.add("stdout", b"1")
        c.add("stdout", b"2")
        c.add("stderr", b"3")
        c.add("stdout", b"4")
        c.add("stderr", b"5")
        c.add("stderr", b"6")

    sent, _ = coalesce(script)
    assert sent == [("stdout", "12"), ("stderr", "3"), ("stdout", "4"), ("stderr", "56")]


def test_coalescer_add_text_and_empty_adds():
    async def script(c):
        c.add("stdout", b"")
        c.add_text("stderr", "notice\n")
        c.add_text("stderr", "")

    sent, _ = coalesce(script)
    assert sent == [("stderr", "notice\n")]
