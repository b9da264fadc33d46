"""Issue 13, Ruby: globals, top-level locals, main's instance variables, constants and top-level
definitions carry across fresh containers, values are shown as IRuby shows them, and an
exception is one in-band ``error`` message.

Every cell runs in a new container; what carries over does so through ``rubyboot.rb`` and the
per-kernel ``/workspace/.dockerkernel/ruby-state.bin`` (values by Marshal, definitions by
their source). Decided behaviour (as Python): a cell that raises carries what it did before
it raised; a cell killed by a limit carries nothing; restart clears; ``%state off`` neither
restores nor saves.
"""

from __future__ import annotations

import time

import pytest

from tests.support import assert_error, assert_ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

@pytest.fixture(scope="module")
def rb(module_kernels):
    """The module's docker-ruby kernel (the shared fixture checks nothing is left after it)."""
    return module_kernels("docker-ruby")


@pytest.fixture
def fresh(kernel_factory):
    """Kernels of their own (an empty state), shut down after the test, leaving nothing."""
    return lambda name="docker-ruby": kernel_factory(name)


def shown(result) -> list[str]:
    """The text/plain of the execute_result messages."""
    return [m["content"]["data"]["text/plain"] for m in result.of_type("execute_result")]


def test_issue_table_row(fresh):
    rb = fresh()
    assert_ok(rb.run("$count = 1; total = 2; def twice(n) = n * 2"), "")
    second = rb.run("twice(total) + $count")
    assert_ok(second, "")
    assert shown(second) == ["5"]


def test_every_kind_of_value_round_trips(rb):
    assert_ok(rb.run(
        "require 'set'\n"
        "$g1 = [1, 2.5, 2**80, 3r/4, Complex(1, 2), nil, true, :sym, 'é', 1..3]\n"
        "loc1 = {'k' => {nested: [1, 'two']}, 3 => Set[1, 2]}\n"
        "@iv1 = Time.at(0).utc\n"
        "LIMIT1 = 10\n"
        "shared = 'same object'; pair1 = [shared, shared]\n"
        "bin1 = \"\\xFF\\x00\".b\n"
        "nil"
    ))
    result = rb.run(
        "p $g1\n"
        "p loc1\n"
        "p @iv1, LIMIT1, pair1[0].equal?(pair1[1]), bin1.encoding, bin1.bytes\n"
        "nil"
    )
    assert_ok(result, (
        '[1, 2.5, 1208925819614629174706176, (3/4), (1+2i), nil, true, :sym, "é", 1..3]\n'
        '{"k"=>{:nested=>[1, "two"]}, 3=>#<Set: {1, 2}>}\n'
        "1970-01-01 00:00:00 UTC\n10\ntrue\n#<Encoding:ASCII-8BIT>\n[255, 0]\n"
    ))


def test_methods_classes_modules_and_their_instances(rb):
    assert_ok(rb.run(
        "Point1 = Struct.new(:x, :y) do\n  def norm = Math.sqrt(x * x + y * y)\nend\n"
        "module Greeter1\n  def greet = \"hi #{name}\"\nend\n"
        "class Pet1\n  include Greeter1\n  attr_reader :name\n  def initialize(name) = @name = name\nend\n"
        "def self.on_main1 = 'singleton of main'\n"
        "def helper1(x)\n  x * 3\nend\n"
        "pt1 = Point1.new(3, 4); pet1 = Pet1.new('rex'); nil"
    ))
    # reopening a class adds to it, in a later cell
    assert_ok(rb.run("class Pet1\n  def wag = \"#{name} wags\"\nend"))
    result = rb.run("[pt1.norm, pet1.greet, pet1.wag, Pet1.new('tom').wag, on_main1, helper1(2), pet1.is_a?(Greeter1)]")
    assert_ok(result, "")
    assert shown(result) == ['[5.0, "hi rex", "rex wags", "tom wags", "singleton of main", 6, true]']


def test_result_is_shown_as_iruby_does(rb):
    assert shown(rb.run("{a: [1, 'x']}")) == ['{:a=>[1, "x"]}']
    assert shown(rb.run("puts 'only output'")) == []  # nil is not shown
    assert shown(rb.run("42;")) == []  # a trailing semicolon suppresses it
    assert shown(rb.run("def shown_def1 = 1")) == [":shown_def1"]


def test_exception_is_one_in_band_error(rb):
    result = rb.run("puts 'before'\nraise 'x'")
    content = assert_error(result, "RuntimeError")
    assert content["evalue"] == "x"
    assert content["traceback"][0].startswith(f"Cell In[{content['execution_count']}]:2:in "), content
    assert "(RuntimeError)" in content["traceback"][0]
    assert result.stream() == "before\n"
    assert result.stream("stderr") == "", result.stream("stderr")  # no second, raw traceback
    nested = assert_error(rb.run("def inner1 = Integer('zz')\ndef outer1 = inner1\nouter1"), "ArgumentError")
    assert len(nested["traceback"]) >= 3 and all("/opt/dockerkernel" not in line for line in nested["traceback"]), nested
    assert_error(rb.run("exit 3"), "ExitCode")


def test_output_is_not_held_back(rb):
    arrivals = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            arrivals.append((time.monotonic(), msg["content"]["name"], msg["content"]["text"]))

    rb.kc.execute_interactive('puts "first"; $stderr.puts "second"; sleep 1; puts "third"', timeout=60, output_hook=hook)
    texts = [(name, text) for _, name, text in arrivals]
    # stdout and stderr written a microsecond apart reach the kernel through the daemon's attach
    # stream, which copies each in its own goroutine: their order is the pipes' (seen both ways
    # in CI); within a stream, and against the sleep, the order is the program's
    assert sorted(texts[:2]) == [("stderr", "second\n"), ("stdout", "first\n")], texts
    assert texts[2:] == [("stdout", "third\n")], texts
    assert arrivals[2][0] - max(a[0] for a in arrivals[:2]) > 0.7, arrivals  # both came before the sleep


def test_redefining_replaces(rb):
    assert_ok(rb.run("RATE1 = 1; def rate_fn1 = 'old'; val1 = 'old'"))
    replaced = rb.run("RATE1 = 2; def rate_fn1 = 'new'; val1 = 'new'; nil")
    assert_ok(replaced)
    assert "already initialized" not in replaced.stream("stderr"), replaced.stream("stderr")
    assert shown(rb.run("[RATE1, rate_fn1, val1]")) == ['[2, "new", "new"]']


def test_what_cannot_be_carried_is_named_once(rb):
    first = rb.run("proc1 = -> { 1 }; io1 = File.open('/tmp/x', 'w'); th1 = Thread.new { }; kept1 = 'kept'; nil")
    assert_ok(first)
    notice = first.stream("stderr")
    assert "not carried over" in notice, notice
    assert notice.count("proc1:") == 1 and notice.count("io1:") == 1 and notice.count("th1:") == 1, notice
    second = rb.run("[kept1, defined?(proc1), defined?(io1)]")
    assert shown(second) == ['["kept", nil, nil]']
    assert "proc1" not in second.stream("stderr"), second.stream("stderr")


def test_a_failing_cell_carries_what_ran(rb):
    assert_error(rb.run("failed1 = 'set before'\ndef failed_fn1 = 'defined before'\nnil.frobnicate\nfailed2 = 'never'"), "NoMethodError")
    # as in IRuby, the parser made failed2 a local variable of the top level: it exists, and is nil
    assert shown(rb.run("[failed1, failed_fn1, failed2]")) == ['["set before", "defined before", nil]']


def test_a_cell_killed_by_a_limit_carries_nothing(rb):
    assert_ok(rb.run("$limit1 = 'before'"))
    try:
        assert_error(rb.run("%timeout 2\n$limit1 = 'changed'; limit2 = 1; loop { }"), "CellTimeout")
    finally:
        assert_ok(rb.run("%timeout 30"))
    assert shown(rb.run("[$limit1, defined?(limit2)]")) == ['["before", nil]']


def test_state_off_neither_restores_nor_saves(rb):
    assert_ok(rb.run("off1 = 'kept'"))
    try:
        assert_ok(rb.run("%state off"))
        assert shown(rb.run("off2 = 'lost'; defined?(off1).inspect")) == ['"nil"']
    finally:
        assert_ok(rb.run("%state on"))
    assert shown(rb.run("[off1, defined?(off2)]")) == ['["kept", nil]']


def test_restart_clears_state(fresh):
    rb = fresh()
    assert_ok(rb.run("$gone1 = 1; def gone_fn1 = 1"))
    rb.km.restart_kernel(now=False)
    rb.kc.stop_channels()
    rb.kc = rb.km.client()
    rb.kc.start_channels()
    rb.kc.wait_for_ready(timeout=120)
    assert shown(rb.run("[$gone1, respond_to?(:gone_fn1, true)]")) == ["[nil, false]"]


def test_polyglot_ruby_cells_share_state(fresh):
    poly = fresh("docker-polyglot")
    assert_ok(poly.run("%%ruby\n$count = 1; total = 2; def twice(n) = n * 2"))
    assert_ok(poly.run("%%python\nprint('between')"), "between\n")
    assert shown(poly.run("%%ruby\ntwice(total) + $count")) == ["5"]


def test_reply_metadata_says_what_was_carried(fresh):
    rb = fresh()
    result = rb.run("$meta1 = 1; meta2 = 2; @meta3 = 3; META4 = 4; def meta5 = 5; meta6 = -> { }; nil")
    report = result.reply["metadata"]["dockerkernel"]["state"]
    assert report["language"] == "ruby", report
    carried = report["carried"]
    assert (carried["globals"], carried["locals"], carried["ivars"], carried["consts"], carried["definitions"]) == (1, 1, 1, 1, 1), report
    assert carried["count"] == 5 and carried["bytes"] > 0, report
    assert list(report["not_carried"]) == ["meta6"], report


def test_state_saved_before_a_limit_struck_is_not_restored(rb):
    """The program ends (and saves) at once; the processes it left then hit the pids limit: the
    cell ended by a limit, so what it saved is passed over (DK_STATE_DISCARD)."""
    assert_ok(rb.run("$orphan1 = 'before'"))
    assert_error(rb.run("$orphan1 = 'changed'; spawn('bash', '-c', ':(){ :|:& };:'); nil"), "PidsLimitExceeded")
    assert shown(rb.run("$orphan1")) == ['"before"']
    assert_ok(rb.run("$orphan1 = 'after'"))
    assert shown(rb.run("$orphan1")) == ['"after"']


def test_an_alias_keeps_the_body_it_named(rb):
    """`alias new old` then `def old` again: the alias still runs the first body, in later cells too."""
    first = rb.run('def old_al\n  "first"\nend\nalias new_al old_al\ndef old_al\n  "second"\nend\nputs old_al, new_al')
    assert_ok(first, "second\nfirst\n")
    assert "not carried" not in first.stream("stderr"), first.stream("stderr")
    assert_ok(rb.run("puts old_al, new_al"), "second\nfirst\n")
    assert_ok(rb.run('def old_al = "third"\nputs old_al, new_al'), "third\nfirst\n")
    assert_ok(rb.run("puts old_al, new_al"), "third\nfirst\n")
