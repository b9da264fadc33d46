"""How an outcome is told: the Reason table, compile summaries, exceptions read from stderr, exit statuses."""

from __future__ import annotations

import pytest

from dockerkernel.cells import CellOutcome, Limits, Reason, build_request
from dockerkernel.kernel import replies
from dockerkernel.languages import get_language
from dockerkernel.magics import SessionSettings

# real compiler output (gcc 12, rustc 1.63 of the images), the file already relabelled
C_WARNING_THEN_ERROR = """\
Cell In[1]: In function 'main':
Cell In[1]:1:1: warning: implicit declaration of function 'foo' [-Wimplicit-function-declaration]
    1 | foo();
      | ^~~
Cell In[1]:2:10: error: expected ';' before 'return'
    2 | int x = 1
      |          ^
      |          ;
"""
RUST_WARNING_THEN_ERROR = """\
warning: unused variable: `y`
 --> Cell In[1]:1:17
  |
1 | fn main() { let y = 1; let x = 1;
  |                 ^ help: if this is intentional, prefix it with an underscore: `_y`
  |
  = note: `#[warn(unused_variables)]` on by default

error[E0384]: cannot assign twice to immutable variable `x`
 --> Cell In[1]:2:1
  |
2 | x = 2;
  | ^^^^^ cannot assign twice to immutable variable

error: aborting due to previous error; 1 warning emitted
"""
GO_ERROR = "# command-line-arguments\n./Cell In[1]:3:2: undefined: x\n"
JAVA_ERROR = "Cell In[1]:3: error: ';' expected\n        int x = 1\n                 ^\n1 error\n"


@pytest.mark.parametrize(
    "diagnostics,summary",
    [
        (C_WARNING_THEN_ERROR, "Cell In[1]:2:10: error: expected ';' before 'return'"),
        (RUST_WARNING_THEN_ERROR, "error[E0384]: cannot assign twice to immutable variable `x`"),
        (GO_ERROR, "./Cell In[1]:3:2: undefined: x"),
        (JAVA_ERROR, "Cell In[1]:3: error: ';' expected"),
        # the kernel's notice that a kept definition was dropped quotes an error: not the summary
        ("dockerkernel: aa from Cell In[3] is dropped: it no longer compiles (Cell In[3]:3: undefined: err)\n"
         + GO_ERROR, "./Cell In[1]:3:2: undefined: x"),
        ("dockerkernel: twice from Cell In[2] is dropped: it no longer compiles (Cell In[2]:3: error: no)\n"
         + C_WARNING_THEN_ERROR, "Cell In[1]:2:10: error: expected ';' before 'return'"),
    ],
)
def test_compile_summary_is_the_first_error_never_a_warning(diagnostics, summary):
    assert replies.compile_summary(diagnostics.rstrip("\n").split("\n")) == summary


def request_of(lang: str, count: int = 1, **limits):
    language = get_language(lang)
    return build_request(language, "x", SessionSettings(language, base_limits=Limits(**limits)), count)


def test_every_reason_has_a_row():
    assert set(replies.REPLIES) == set(Reason)


@pytest.mark.parametrize(
    "outcome,status",
    [
        (CellOutcome(Reason.OK), 0),
        (CellOutcome(Reason.EXIT, exit_code=3), 3),
        (CellOutcome(Reason.COMPILE, exit_code=1), 1),
        (CellOutcome(Reason.TIMEOUT), 124),
        (CellOutcome(Reason.SIGNAL, signal=9), 137),
        (CellOutcome(Reason.OOM), 137),
        (CellOutcome(Reason.INTERRUPT), 130),
        (CellOutcome(Reason.PIDS), 125),
    ],
)
def test_exit_status_of_dockerkernel_run(outcome, status):
    assert replies.exit_status(outcome) == status


def test_timeout_message_names_the_limit():
    found = replies.verdict(CellOutcome(Reason.TIMEOUT), request_of("python", timeout=2.5))
    assert (found.ename, found.traceback) == ("CellTimeout", [])
    assert "2.5 s" in found.evalue


def test_signal_is_named():
    found = replies.verdict(CellOutcome(Reason.SIGNAL, signal=11), request_of("c"))
    assert found.ename == "SIGSEGV" and "SIGSEGV" in found.evalue


def test_output_limit_adds_a_notice():
    found = replies.verdict(CellOutcome(Reason.OUTPUT), request_of("python", output=1 << 20))
    assert found.ename == "OutputLimitExceeded" and "output limit of 1 MiB" in found.stderr


GO_PANIC = "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/tmp/dk/cell.go:4 +0x27\n"
JAVA_EXCEPTION = 'Exception in thread "main" java.lang.IllegalStateException: boom\n\tat Main.main(Main.java:3)\n'
RUST_PANIC = "thread 'main' panicked at 'boom', /tmp/dk/cell.rs:1:13\nnote: run with `RUST_BACKTRACE=1`\n"


@pytest.mark.parametrize(
    "lang,held,ename,evalue,first",
    [
        ("go", "log line\n" + GO_PANIC, "Panic", "boom", "panic: boom"),
        ("java", JAVA_EXCEPTION, "java.lang.IllegalStateException", "boom", JAVA_EXCEPTION.split("\n")[0]),
        ("rust", RUST_PANIC, "Panic", "'boom', Cell In[1]:1:13", "thread 'main' panicked at 'boom', Cell In[1]:1:13"),
    ],
)
def test_a_panic_is_one_error_carrying_the_traceback(lang, held, ename, evalue, first):
    """The held-back stderr becomes the error's traceback, not a stream before it (one output)."""
    outcome = CellOutcome(Reason.EXIT, exit_code=2, stderr_tail=held)
    found = replies.verdict(outcome, request_of(lang), held)
    assert (found.ename, found.evalue) == (ename, evalue)
    assert found.traceback[0] == first
    assert found.stderr == ("log line\n" if held.startswith("log line") else "")
    assert "/tmp/dk/" not in "\n".join(found.traceback)


def test_a_traceback_published_early_still_names_the_exception():
    """Only the traceback's tail was held (its first line went out as a stream): the error is still Java's."""
    tail = JAVA_EXCEPTION.split("\n", 1)[1]
    outcome = CellOutcome(Reason.EXIT, exit_code=1, stderr_tail=JAVA_EXCEPTION)
    found = replies.verdict(outcome, request_of("java"), tail)
    assert (found.ename, found.evalue) == ("java.lang.IllegalStateException", "boom")
    assert found.stderr == tail  # published, not lost


def test_a_program_without_a_pattern_match_is_an_exit_code():
    found = replies.verdict(CellOutcome(Reason.EXIT, exit_code=3), request_of("go"), "just stderr\n")
    assert (found.ename, found.stderr) == ("ExitCode", "just stderr\n")


def test_provenance_is_plain_json():
    record = replies.provenance(request_of("python"), CellOutcome(Reason.OK, elapsed=0.5), 1.0)
    assert record["outcome"] == "ok" and type(record["outcome"]) is str
