"""The runner's reading of a warm program's announcement on the done pipe (runner.wait_for_end)."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path

import dockerkernel
from dockerkernel import wire

_PATH = Path(dockerkernel.__file__).parent / "incontainer" / "runner.py"
sys.modules.setdefault("dkwire", wire)  # the image build copies wire.py in as dkwire.py
_SPEC = importlib.util.spec_from_file_location("dkrunner", _PATH)
runner = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(runner)


class EndedChild:
    """A process that has ended with ``status`` (what wait_for_end falls back to)."""

    def __init__(self, status):
        self.status = status

    def wait(self):
        return self.status


def announce(*chunks: bytes, close: bool = True) -> int:
    """The read end of a done pipe that received ``chunks`` (written from a thread, one by one)."""
    done_r, done_w = os.pipe()

    def write():
        for chunk in chunks:
            os.write(done_w, chunk)
        if close:
            os.close(done_w)

    threading.Thread(target=write).start()
    return done_r


def test_a_status_is_the_exit_status():
    assert runner.wait_for_end(EndedChild(9), announce(b"3\n")) == (3, None)


def test_a_failed_compile_carries_its_diagnostics():
    body = b"Main.java:1: error: ';' expected\n1 error\n"
    done = announce(b"compile_failed 1 %d\n" % len(body) + body)
    assert runner.wait_for_end(EndedChild(9), done) == (1, body.decode())


def test_long_diagnostics_arriving_in_pieces_are_read_whole():
    body = ("x" * 5000 + "\u00e9\n").encode()
    done = announce(b"compile_failed 2 %d\n" % len(body), body[:3000], body[3000:])
    assert runner.wait_for_end(EndedChild(9), done) == (2, body.decode())


def test_diagnostics_cut_short_by_the_end_of_the_program_are_what_came():
    done = announce(b"compile_failed 1 100\nonly this")
    assert runner.wait_for_end(EndedChild(9), done) == (1, "only this")


def test_no_valid_announcement_waits_for_the_process():
    assert runner.wait_for_end(EndedChild(7), announce(b"garbage")) == (7, None)
    assert runner.wait_for_end(EndedChild(5), announce()) == (5, None)


def test_without_a_done_pipe_the_process_status_counts():
    assert runner.wait_for_end(EndedChild(4), None) == (4, None)
