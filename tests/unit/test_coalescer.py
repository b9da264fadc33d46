"""StreamCoalescer: few stream messages, order kept, UTF-8 whole, stderr held for tracebacks."""

from __future__ import annotations

import asyncio

from dockerkernel.kernel import StreamCoalescer

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


def test_held_stderr_is_taken_not_published():
    """Java/Go/Rust: the traceback printed as the program dies goes into the error, not a stream."""
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(lambda name, text: sent.append((name, text)), 0.01, hold=5)
        coalescer.add("stdout", b"out\n")
        coalescer.add("stderr", b"panic: boom\n")
        await asyncio.sleep(0.05)  # longer than the interval, shorter than the hold
        return coalescer.take_held()

    assert asyncio.run(main()) == "panic: boom\n"
    assert sent == [("stdout", "out\n")]


def test_stdout_releases_held_stderr_in_order():
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(lambda name, text: sent.append((name, text)), 0.01, hold=5)
        coalescer.add("stderr", b"log\n")
        coalescer.add("stdout", b"out\n")
        held = coalescer.take_held()
        return held

    assert asyncio.run(main()) == ""
    assert sent == [("stderr", "log\n"), ("stdout", "out\n")]


def test_a_pending_traceback_outlives_the_hold():
    """A dying program (a JVM) may take longer than the hold to exit: its traceback stays held."""
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(
            lambda name, text: sent.append((name, text)), 0.01, hold=0.02, keep=lambda text: "panic:" in text
        )
        coalescer.add("stderr", b"log line\n")
        await asyncio.sleep(0.06)  # the log line is published after the hold
        coalescer.add("stderr", b"panic: boom\n")
        await asyncio.sleep(0.1)  # several holds: the traceback stays
        return coalescer.take_held()

    assert asyncio.run(main()) == "panic: boom\n"
    assert sent == [("stderr", "log line\n")]


def test_a_traceback_line_written_in_pieces_is_held_whole():
    """Rust writes ``thread 'main' panicked at …`` in several writes; a timer between them must not publish it."""
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(
            lambda name, text: sent.append((name, text)), 0.01, hold=0.02,
            keep=lambda text: "panicked at" in text,
        )
        coalescer.add("stderr", b"thread '")
        await asyncio.sleep(0.03)  # the hold passes with only part of the line
        coalescer.add("stderr", b"main' panicked at 'boom'\n")
        await asyncio.sleep(0.1)
        return coalescer.take_held()

    assert asyncio.run(main()) == "thread 'main' panicked at 'boom'\n"
    assert sent == []


def test_an_unfinished_stderr_line_is_published_after_a_few_holds():
    """A prompt on stderr without a newline (``eprint!("n? ")``) is not held for ever."""
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(
            lambda name, text: sent.append((name, text)), 0.01, hold=0.02, keep=lambda text: "panicked at" in text
        )
        coalescer.add("stderr", b"n? ")
        await asyncio.sleep(0.2)
        return coalescer.take_held()

    assert asyncio.run(main()) == ""
    assert sent == [("stderr", "n? ")]


def test_stdout_reaching_us_just_after_a_traceback_goes_before_it():
    """The daemon copies stdout and stderr separately: ``println("before"); panic!()`` can arrive stderr first."""
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(
            lambda name, text: sent.append((name, text)), 0.01, hold=5, keep=lambda text: "panic:" in text
        )
        coalescer.add("stderr", b"panic: boom\n")
        coalescer.add("stdout", b"before\n")
        return coalescer.take_held()

    assert asyncio.run(main()) == "panic: boom\n"
    assert sent == [("stdout", "before\n")]


def test_stdout_long_after_a_traceback_releases_it_in_order():
    """A thread's panic that the program survives is shown where it happened once the hold is over."""
    sent: list = []

    async def main():
        coalescer = StreamCoalescer(
            lambda name, text: sent.append((name, text)), 0.01, hold=0.02, keep=lambda text: "panicked at" in text
        )
        coalescer.add("stderr", b"thread 'worker' panicked at 'x'\n")
        await asyncio.sleep(0.05)
        coalescer.add("stdout", b"main goes on\n")
        return coalescer.take_held()

    assert asyncio.run(main()) == ""
    assert sent == [("stderr", "thread 'worker' panicked at 'x'\n"), ("stdout", "main goes on\n")]
