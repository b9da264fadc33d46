"""Issue 13, JavaScript: top-level bindings carry across fresh containers, like Node's REPL.

Every cell runs in a new container; what carries over does so through ``boot.js`` and the
per-kernel ``/workspace/.dockerkernel/javascript-state.bin``: values with the V8 serializer,
functions and classes by their source, ``require``d modules by name. Decided behaviour (as
Python): a cell that throws carries what it did before it threw; a cell killed by a limit
carries nothing; restart clears; ``%state off`` neither restores nor saves.
"""

from __future__ import annotations

import pytest

from tests.support import assert_error, assert_ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

@pytest.fixture(scope="module")
def js(module_kernels):
    """The module's docker-javascript kernel (the shared fixture checks nothing is left after it)."""
    return module_kernels("docker-javascript")


@pytest.fixture
def fresh(kernel_factory):
    """Kernels of their own (an empty state), shut down after the test, leaving nothing."""
    return lambda name="docker-javascript": kernel_factory(name)


def shown(result) -> list[str]:
    """The text/plain of the execute_result messages."""
    return [m["content"]["data"]["text/plain"] for m in result.of_type("execute_result")]


def test_issue_table_row(fresh):
    js = fresh()
    first = js.run("var a = 41; const b = {n: 1}; function f(){ return a + 1 }")
    assert_ok(first, "")
    assert shown(first) == []  # declarations show nothing
    second = js.run("f() + b.n")
    assert_ok(second, "")
    assert shown(second) == ["43"]


def test_every_kind_of_value_round_trips(js):
    assert_ok(js.run(
        "const num1 = -0.5, big1 = 2n ** 70n, str1 = 'é\\n\"q\"', bool1 = true, nul1 = null;\n"
        "let arr1 = [1, [2, [3]], , 'x']; const obj1 = {a: {b: [1, {c: 'deep'}]}};\n"
        "const map1 = new Map([[1, 'one'], ['k', {v: 2}]]); const set1 = new Set([1, 'two']);\n"
        "const date1 = new Date(86400000); const re1 = /a+b/gi; const bytes1 = new Uint8Array([1, 2, 255]);\n"
        "const buf1 = Buffer.from('hi'); const shared = {s: 1}; const pair1 = [shared, shared];\n"
        "const cyc1 = {name: 'cyc'}; cyc1.self = cyc1; var und1 = undefined; globalThis.prop1 = 'on globalThis'; implicit1 = 7;"
    ))
    result = js.run(
        "console.log(num1, big1, JSON.stringify(str1), bool1, nul1, und1, prop1, implicit1);\n"
        "console.log(JSON.stringify(arr1), 2 in arr1, obj1.a.b[1].c);\n"
        "console.log(map1.get('k').v, map1 instanceof Map, set1.has('two'), date1.toISOString(), re1.flags, re1.test('xAAB'));\n"
        "console.log(bytes1 instanceof Uint8Array, bytes1[2], Buffer.isBuffer(buf1), buf1.toString());\n"
        "console.log(pair1[0] === pair1[1], cyc1.self === cyc1)"
    )
    assert_ok(result, (
        '-0.5 1180591620717411303424n "é\\n\\"q\\"" true null undefined on globalThis 7\n'
        '[1,[2,[3]],null,"x"] false deep\n'
        "2 true true 1970-01-02T00:00:00.000Z gi true\n"
        "true 255 true hi\n"
        "true true\n"
    ))


def test_functions_classes_and_modules(js):
    assert_ok(js.run(
        "const path = require('path'); const { join } = require('path'); const util1 = require('util');\n"
        "class Shape { constructor(n) { this.n = n } area() { return 0 } describe() { return `${this.constructor.name} ${this.area()}` } }\n"
        "class Square extends Shape { area() { return this.n * this.n } }\n"
        "const sq1 = new Square(3);\n"
        "const twice1 = (x) => x * 2; async function later1(x) { return x + 1 } function* gen1() { yield 1; yield 2 }\n"
        "const helper1 = function named1() { return twice1(path.basename('/a/b.txt').length) }"
    ))
    result = js.run(
        "console.log(sq1 instanceof Square, sq1 instanceof Shape, sq1.describe(), new Square(2).describe());\n"
        "console.log(join('a', 'b'), path.sep, typeof util1.inspect, twice1(21), [...gen1()].join(','), helper1());\n"
        "await later1(1)"
    )
    assert_ok(result, "true true Square 9 Square 4\na/b / function 42 1,2 10\n")
    assert shown(result) == ["2"]


def test_top_level_await_declarations_carry(js):
    assert_ok(js.run("const waited1 = await new Promise((r) => setTimeout(() => r('done'), 50)); let { deep1 } = await Promise.resolve({deep1: 3});"))
    result = js.run("`${waited1} ${deep1}`")
    assert_ok(result, "")
    assert shown(result) == ["'done 3'"]


def test_trailing_expression_is_shown_like_the_repl(js):
    assert shown(js.run("({a: [1, 2], s: 'x'})")) == ["{ a: [ 1, 2 ], s: 'x' }"]
    assert shown(js.run("console.log('only output')")) == []  # undefined is not shown
    assert shown(js.run("let notShown1 = 5")) == []
    assert shown(js.run("1 + 1; if (true) { 'a statement' }")) == []


def test_redefining_replaces(js):
    assert_ok(js.run("const rep1 = 'old'; function repFn() { return 'old' } class RepK { v() { return 'old' } }"))
    assert_ok(js.run("const rep1 = 'new'; function repFn() { return 'new' } class RepK { v() { return 'new' } }"))
    result = js.run("[rep1, repFn(), new RepK().v()]")
    assert shown(result) == ["[ 'new', 'new', 'new' ]"]
    # a const stays a const
    assert_error(js.run("rep1 = 'again'"), "TypeError")


def test_what_cannot_be_carried_is_named_once(js):
    first = js.run(
        "function makeSocketReader() { const s = new (require('net').Socket)(); return () => s }\n"
        "const reader1 = makeSocketReader(); const sock1 = process.stdout;\n"
        "const bound1 = process.stdout.write.bind(process.stdout); const kept1 = 'kept';"
    )
    assert_ok(first)
    notice = first.stream("stderr")
    assert "not carried over" in notice, notice
    assert notice.count("reader1:") == 1 and notice.count("sock1:") == 1 and notice.count("bound1:") == 1, notice
    assert "closed-over s" in notice, notice  # the reason names the variable the closure needs
    second = js.run("console.log(kept1, typeof makeSocketReader, typeof reader1, typeof sock1)")
    assert_ok(second, "kept function undefined undefined\n")
    assert "reader1" not in second.stream("stderr"), second.stream("stderr")


def test_cells_that_change_nothing_keep_the_state(js):
    """A cell that leaves the state as it found it does not write it again (boot.js compares
    the bytes): what earlier cells carried still arrives, and a later change is saved."""
    assert_ok(js.run("var same1 = [1, {a: 'b'}]; class SameK { v() { return 7 } }"))
    for _ in range(2):
        assert_ok(js.run("console.log('nothing new')"), "nothing new\n")
    assert shown(js.run("[same1, new SameK().v()]")) == ["[ [ 1, { a: 'b' } ], 7 ]"]
    assert_ok(js.run("same1.push(2)"))
    assert shown(js.run("same1.length")) == ["3"]
    # a notice is said once while the name stays uncarried, and again once it was carried between
    uncarried = "var sk1 = (() => { const hidden = new (require('net').Socket)(); return () => hidden })()"
    first = js.run(uncarried).stream("stderr")
    again = js.run(uncarried).stream("stderr")
    assert "sk1:" in first and "sk1" not in again, (first, again)
    # a Node object is named by its class, the same reason every time (not by whichever of
    # its internal functions failed first)
    for _ in range(2):
        notice = js.run("var sock2 = new (require('net').Socket)()").stream("stderr")
        assert "sock2: Socket instance, or holds one" in notice, notice
        assert_ok(js.run("sock2 = 0"))
    assert_ok(js.run("sk1 = 'plain'"))
    assert "sk1:" in js.run(uncarried).stream("stderr")


def test_closures_bound_functions_builtins_and_methods_carry(js):
    """What IJavascript keeps because its process lives on: made again from what the cell left."""
    first = js.run(
        "function Incrementer() { let count = 0; function collect(n) { count += n; return count } return collect }\n"
        "var keepCount = Incrementer(); keepCount(1)\n"
        "const powerSum = (p) => (a) => (b) => a ** p + b ** p; const sumSquares = powerSum(2)\n"
        "const compose = (f, g) => (x) => f(g(x)); const inc = (x) => x + 1; const comp = compose(inc, (x) => x * 2)\n"
        "function adder(a, b) { return a + b } const addTwo = adder.bind(adder, 2)\n"
        "const print = console.log; const terminal = console\n"
        "const person = { name: 'Alice', sayHello() { return `hi, ${this.name}` }, shout: (s) => s.toUpperCase() }"
    )
    assert_ok(first)
    assert "not carried" not in first.stream("stderr"), first.stream("stderr")
    second = js.run(
        "print(keepCount(-1), keepCount(5), sumSquares(2)(3), comp(3), addTwo(4))\n"
        "terminal.log(person.sayHello(), person.shout('x'), print === console.log)"
    )
    assert_ok(second, "0 5 13 7 6\nhi, Alice X true\n")
    assert shown(js.run("keepCount(0)")) == ["5"]  # its count went on carrying


def test_closures_that_may_share_variables_are_not_split(js):
    """Two functions over one scope would each get a copy: they are named as not carried instead."""
    first = js.run("const pair = (() => { let n = 0; return { inc: () => ++n, get: () => n } })(); pair.inc()")
    assert_ok(first)
    assert "pair: its functions may share closed-over variables" in first.stream("stderr"), first.stream("stderr")
    assert shown(js.run("typeof pair")) == ["'undefined'"]


def test_a_failing_cell_carries_what_ran(js):
    assert_error(js.run("var failed1 = 'set before'; null.x; var failed2 = 'never'"), "TypeError")
    result = js.run("[failed1, typeof failed2]")
    assert shown(result) == ["[ 'set before', 'undefined' ]"]
    assert_error(js.run("const exited1 = 1; process.exit(3)"), "ExitCode")
    assert shown(js.run("exited1")) == ["1"]


def test_a_cell_killed_by_a_limit_carries_nothing(js):
    assert_ok(js.run("var limit1 = 'before'"))
    try:
        assert_error(js.run("%timeout 2\nlimit1 = 'changed'; var limit2 = 1; while (true) {}"), "CellTimeout")
    finally:
        assert_ok(js.run("%timeout 30"))
    assert shown(js.run("[limit1, typeof limit2]")) == ["[ 'before', 'undefined' ]"]


def test_state_off_neither_restores_nor_saves(js):
    assert_ok(js.run("var off1 = 'kept'"))
    try:
        assert_ok(js.run("%state off"))
        assert shown(js.run("var off2 = 'lost'; typeof off1")) == ["'undefined'"]
    finally:
        assert_ok(js.run("%state on"))
    assert shown(js.run("[off1, typeof off2]")) == ["[ 'kept', 'undefined' ]"]


def test_restart_clears_state(fresh):
    js = fresh()
    assert_ok(js.run("var gone1 = 1"))
    js.km.restart_kernel(now=False)
    js.kc.stop_channels()
    js.kc = js.km.client()
    js.kc.start_channels()
    js.kc.wait_for_ready(timeout=120)
    assert shown(js.run("typeof gone1")) == ["'undefined'"]


def test_polyglot_javascript_cells_share_state(fresh):
    poly = fresh("docker-polyglot")
    assert_ok(poly.run("%%javascript\nvar a = 41; const b = {n: 1}; function f(){ return a + 1 }"))
    assert_ok(poly.run("%%bash\necho between"), "between\n")
    assert shown(poly.run("%%javascript\nf() + b.n")) == ["43"]


def test_instances_inside_containers_keep_their_class_and_identity(js):
    assert_ok(js.run(
        "class Acct1 { constructor(b) { this.b = b } add(n) { this.b += n; return this } }\n"
        "const accts1 = new Map([['ann', new Acct1(10)]]); const nested1 = [{inner: new Acct1(1)}];\n"
        "const same1 = [accts1.get('ann')];"
    ))
    result = js.run("[accts1.get('ann').add(5).b, nested1[0].inner.add(1).b, same1[0] === accts1.get('ann'), same1[0].b]")
    assert shown(result) == ["[ 15, 2, true, 15 ]"]
    # an instance of a class no cell defined would come back as a plain object: not carried, named
    foreign = js.run("const url1 = {u: new URL('http://example/')}; const ok1 = 1;")
    assert "url1: URL instance" in foreign.stream("stderr"), foreign.stream("stderr")
    assert shown(js.run("[typeof url1, ok1]")) == ["[ 'undefined', 1 ]"]


def test_reply_metadata_says_what_was_carried(fresh):
    js = fresh()
    result = js.run("var meta1 = 1; function metaFn() {} const metaFs = require('fs'); const metaC = (() => { let q; return () => q })();"
                    " const metaS = process.stdout;")
    report = result.reply["metadata"]["dockerkernel"]["state"]
    assert report["language"] == "javascript", report
    assert report["carried"] == {"count": 4, "bytes": report["carried"]["bytes"], "values": 1, "definitions": 1, "rebuilt": 1,
                                 "modules": 1}, report
    assert report["carried"]["bytes"] > 0
    assert list(report["not_carried"]) == ["metaS"], report


def test_traceback_through_a_carried_function_names_its_cell(js):
    defined = js.run("var tb1 = 1\n\nfunction boomTb1() {\n  throw new Error('from an earlier cell')\n}")
    assert_ok(defined)
    where = f"Cell In[{defined.reply['content']['execution_count']}]"
    for _ in range(2):  # also after being carried a second time
        content = assert_error(js.run("boomTb1()"), "Error")
        assert f"    at boomTb1 ({where}:4:" in "\n".join(content["traceback"]), content["traceback"]


def test_state_saved_before_a_limit_struck_is_not_restored(js):
    """The program ends (and saves) at once; the processes it left then hit the pids limit: the
    cell ended by a limit, so what it saved is passed over (DK_STATE_DISCARD)."""
    assert_ok(js.run("var orphan1 = 'before'"))
    bomb = "var orphan1 = 'changed'; require('child_process').spawn('bash', ['-c', ':(){ :|:& };:'], {stdio: 'ignore'});"
    assert_error(js.run(bomb), "PidsLimitExceeded")
    assert shown(js.run("orphan1")) == ["'before'"]
    assert_ok(js.run("orphan1 = 'after'"))
    assert shown(js.run("orphan1")) == ["'after'"]
