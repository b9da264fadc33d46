"""Compiled languages: the notebook is one program, against the real daemon.

For C, C++, Go, Rust and Java: declarations of earlier cells are kept, top-level variables
carry their values, a trailing expression's value is an ``execute_result``, a redefinition
replaces, a cell that failed to compile adds nothing, a whole program runs alone, errors name
their own cell and line, restart clears. One kernel per language for the module.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

@pytest.fixture(scope="module")
def kernel(module_kernels):
    """One kernel per language for the module, started on first use (nothing may be left after)."""
    return lambda lang: module_kernels(f"docker-{lang}")


def ok(result, stdout=None):
    assert result.status == "ok", (result.reply["content"], result.stream("stderr"))
    if stdout is not None:
        assert result.stream() == stdout, (result.stream(), result.stream("stderr"))
    return result


def shown(result) -> list[str]:
    """The text/plain of the cell's execute_result messages."""
    return [m["content"]["data"]["text/plain"] for m in result.of_type("execute_result")]


def error(result, ename="CompileError"):
    assert result.status == "error", result.reply["content"]
    assert result.ename == ename, result.reply["content"]
    return result.reply["content"]


# ---- the issue's table: definitions in one cell, used in the next ------------------------------------------

ISSUE_ROWS = {
    "java": (["int x = 5;"], "x * 2", "10"),
    "go": (['import "strings"\nfunc shout(s string) string { return strings.ToUpper(s) + "!" }'], 'shout("go")', "GO!"),
    "cpp": (['#include <string>\nstd::string greet(std::string n) { return "hi " + n; }'], 'greet("c++")', '"hi c++"'),
    "rust": (["fn square(n: i64) -> i64 { n * n }\nlet base = 7;"], "square(base)", "49"),
    "c": (["int square(int n) { return n * n; }\nint base = 7;"], 'printf("%d\\n", square(base));', None),
}


@pytest.mark.parametrize("lang", list(ISSUE_ROWS))
def test_issue_row(kernel, lang):
    before, cell, value = ISSUE_ROWS[lang]
    handle = kernel(lang)
    for code in before:
        ok(handle.run(code), "")
    result = ok(handle.run(cell))
    if value is None:
        assert result.stream() == "49\n"
    else:
        assert shown(result) == [value], result.messages


# ---- values of every kind carry (and mutations in a later cell carry on) ------------------------------------

ROUND_TRIPS = {
    "cpp": [
        ('int i = -7; long long big = 1LL << 40; double d = 0.1; bool b = true; char c = \'z\';\n'
         'std::string s = "a \\"q\\"\\nb"; std::vector<int> v{1, 2}; std::map<std::string, double> m{{"pi", 3.14}};\n'
         'std::set<int> st{3, 1}; std::pair<int, std::string> pr{1, "one"}; auto nested = std::vector<std::vector<int>>{{1}, {2, 3}};', []),
        ("v.push_back(i); m[\"e\"] = 2.5;", []),
        ('cout << i << " " << big << " " << (d == 0.1) << " " << b << " " << c << " " << s.size() << " " << v.size() << " " '
         '<< m["e"] << " " << *st.begin() << " " << pr.second << " " << nested[1][1] << endl;', "-7 1099511627776 1 1 z 7 3 2.5 1 one 3\n"),
    ],
    "go": [
        ('x := 5\nf := 0.1\ns := "héllo"\nxs := []string{"a"}\nm := map[string]int{"k": 1}\ntype P struct{ X, Y int }\np := P{1, 2}', []),
        ('xs = append(xs, "b")\nm["z"] = 26\np.Y = 20', []),
        ('import "fmt"\nfmt.Println(x, f == 0.1, s, xs, m["z"], p.X+p.Y)', "5 true héllo [a b] 26 21\n"),
    ],
    "rust": [
        ('let i: i64 = -7;\nlet f = 0.1;\nlet s = String::from("héllo");\nlet name = "bob";\nlet mut v = vec![1u8, 2];\n'
         'let o: Option<char> = Some(\'q\');\nlet t = (1, String::from("x"));\nlet mut m = std::collections::HashMap::new();\nm.insert(String::from("k"), 1.5f32);', []),
        ("v.push(3);\nm.insert(String::from(\"j\"), 2.0);", []),
        ('println!("{} {} {} {} {:?} {:?} {:?} {}", i, f == 0.1, s, name, v, o, t, m["j"] + m["k"]);', '-7 true héllo bob [1, 2, 3] Some(\'q\') (1, "x") 3.5\n'),
    ],
    "java": [
        ('import java.util.*;\nint i = -7;\nlong big = 1L << 40;\ndouble d = 0.1;\nchar c = \'z\';\nString s = "héllo";\n'
         'List<Integer> l = new ArrayList<>(List.of(3, 1));\nMap<String, Integer> m = new HashMap<>();\nint[] arr = {4, 5};', []),
        ("l.add(i); m.put(\"k\", 9); arr[0] = 40;", []),
        ('System.out.println(i + " " + big + " " + (d == 0.1) + " " + c + " " + s + " " + l + " " + m + " " + arr[0]);', "-7 1099511627776 true z héllo [3, 1, -7] {k=9} 40\n"),
    ],
    "c": [
        ('int i = -7; double d = 0.1; char *s = "h\\xc3\\xa9llo"; long xs[3] = {1, 2, 3};\nstruct pt { int x, y; };\nstruct pt p = {1, 2};', []),
        ("xs[2] = 30; p.y = 20; i--;", []),
        ('printf("%d %d %s %ld %d\\n", i, d == 0.1, s, xs[0] + xs[2], p.x + p.y);', "-8 1 héllo 31 21\n"),
    ],
}


@pytest.mark.parametrize("lang", list(ROUND_TRIPS))
def test_values_round_trip(kernel, lang):
    handle = kernel(lang)
    for code, expected in ROUND_TRIPS[lang]:
        result = ok(handle.run(code))
        if isinstance(expected, str):
            assert result.stream() == expected, (result.stream(), result.stream("stderr"))
        assert "not carried" not in result.stream("stderr"), result.stream("stderr")


# ---- what cannot be carried is named once, never silently wrong --------------------------------------------

NOT_CARRIED = {
    "cpp": ("struct Q { int a; int *p; };\nQ q{3, nullptr};", "q.a"),
    "go": ("type counter struct{ n int; ch chan int }\nc := counter{3, nil}", "c.n"),
    "rust": ("struct Q { a: i32, shared: std::rc::Rc<i32> }\nlet q = Q { a: 3, shared: std::rc::Rc::new(1) };", "q.a"),
    "java": ("Thread th = new Thread(() -> {});", "th.getName()"),
    "c": ("int n = 3;\nint *ptr = &n;", "*ptr"),
}


@pytest.mark.parametrize("lang", list(NOT_CARRIED))
def test_what_does_not_carry_is_named(kernel, lang):
    handle = kernel(lang)
    declare, use = NOT_CARRIED[lang]
    result = ok(handle.run(declare))
    stderr = result.stream("stderr")
    name = re.match(r".*?\b(q|c|th|ptr)\b", declare.split("\n")[-1]).group(1)
    assert f"{name} " in stderr and "not carried" in stderr, stderr
    later = handle.run(use if lang != "c" else f'printf("%d\\n", {use});')
    # the next cell never sees a wrong value: it fails, or (Java) sees null
    if lang == "java":
        error(later, "java.lang.NullPointerException")
    elif lang == "rust":
        error(later)
    else:
        error(later)
    assert "not carried" not in later.stream("stderr"), "named once, not again"


# ---- trailing expressions --------------------------------------------------------------------------------

TRAILING = {
    "cpp": [("std::vector<int>{1, 2, 3}", ["{ 1, 2, 3 }"]), ('std::string("a") + "b"', ['"ab"']), ('puts("void");', []),
            ("3.5 * 2", ["7"]), ('printf("")', ["0"])],
    "go": [("[]int{1, 2}", ["[1 2]"]), ('func hello() { println("x") }\nhello()', []), ("len(\"abc\") > 2", ["true"])],
    # evcxr shows a trailing unit value as `()`: a `println!` without `;`, an `if`, a loop, a block
    "rust": [("vec![1, 2]", ["[1, 2]"]), ('String::from("s")', ['"s"']), ('println!("x")', ["()"]), ("1 + 1;", []),
             ('if true {\n    println!("y");\n}', ["()"]), ("for i in [1, 2] { print!(\"{}\", i); }", ["()"]),
             ('if true { println!("z"); };', []), ('match 2 { 2 => "two", _ => "other" }', ['"two"'])],
    "java": [('"a" + 1', ['"a1"']), ("new int[] {1, 2}", ["int[2] { 1, 2 }"]), ('System.out.print("")', []), ("3 > 2", ["true"])],
}


@pytest.mark.parametrize(("lang", "index"), [(lang, i) for lang, cases in TRAILING.items() for i in range(len(cases))])
def test_trailing_expression_is_an_execute_result(kernel, lang, index):
    code, expected = TRAILING[lang][index]
    result = ok(kernel(lang).run(code))
    assert shown(result) == expected, result.messages
    for message in result.of_type("execute_result"):
        assert message["content"]["execution_count"] == result.reply["content"]["execution_count"]


# ---- replacement, failures, whole programs, diagnostics --------------------------------------------------

REDEFINE = {
    "cpp": ("int twice(int n) { return n * 2; }", "int twice(int n) { return n * 3; }", 'cout << twice(5) << endl;', "15\n"),
    "c": ("int twice(int n) { return n * 2; }", "int twice(int n) { return n * 3; }", 'printf("%d\\n", twice(5));', "15\n"),
    "go": ("func twice(n int) int { return n * 2 }", "func twice(n int) int { return n * 3 }", 'println(twice(5))', None),
    "rust": ("fn twice(n: i32) -> i32 { n * 2 }", "fn twice(n: i32) -> i32 { n * 3 }", 'println!("{}", twice(5));', "15\n"),
    "java": ("int twice(int n) { return n * 2; }", "int twice(int n) { return n * 3; }", "System.out.println(twice(5));", "15\n"),
}


@pytest.mark.parametrize("lang", list(REDEFINE))
def test_redefinition_replaces_and_failed_compile_adds_nothing(kernel, lang):
    first, second, use, stdout = REDEFINE[lang]
    handle = kernel(lang)
    ok(handle.run(first))
    # a cell that does not compile: its (otherwise fine) redefinition is not kept
    broken = second + ("\nundefined_name_xyz;" if lang != "go" else "\nvar _ = undefinedNameXyz")
    error(handle.run(broken))
    result = ok(handle.run(use))
    if stdout is not None:
        assert result.stream() == stdout.replace("15", "10")
    else:
        assert result.stream("stderr").strip().endswith("10")
    ok(handle.run(second))
    result = ok(handle.run(use))
    if stdout is not None:
        assert result.stream() == stdout
    else:
        assert result.stream("stderr").strip().endswith("15")


WHOLE = {
    "c": '#include <stdio.h>\nint main(void) { puts("alone"); return 0; }',
    "cpp": '#include <cstdio>\nint main() { puts("alone"); }',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("alone") }',
    "rust": 'fn main() { println!("alone"); }',
    "java": 'public class Alone { public static void main(String[] a) { System.out.println("alone"); } }',
}


@pytest.mark.parametrize("lang", list(WHOLE))
def test_whole_program_runs_alone(kernel, lang):
    ok(kernel(lang).run(WHOLE[lang]), "alone\n")


ERROR_ON_LINE_2 = {
    "c": "int fine = 1;\nint bad = undefined_q;",
    "cpp": "int fine = 1;\nint bad = undefined_q;",
    "go": "fine := 1\nbad := undefinedQ + fine",
    "rust": "let fine = 1;\nlet bad = undefined_q + fine;",
    "java": "int fine = 1;\nint bad = undefinedQ;",
}


@pytest.mark.parametrize("lang", list(ERROR_ON_LINE_2))
def test_error_names_its_cell_and_line_after_kept_code(kernel, lang):
    handle = kernel(lang)
    content = error(handle.run(ERROR_ON_LINE_2[lang]))
    label = f"Cell In[{content['execution_count']}]"
    text = "\n".join(content["traceback"])
    lines = re.findall(re.escape(label) + r":(\d+)", text)
    assert lines and lines[0] == "2", text
    assert not re.search(r"Cell In\[(?!" + str(content["execution_count"]) + r"\])", text), text


def test_restart_clears_the_program(kernel_factory):
    handle = kernel_factory("docker-cpp")
    ok(handle.run("int kept_value = 41;\nint kept_fn() { return 1; }"))
    ok(handle.run("kept_value + kept_fn()"))
    handle.km.restart_kernel(now=True)
    handle.kc.wait_for_ready(timeout=120)
    error(handle.run("kept_value"))
    error(handle.run("kept_fn()"))


def test_polyglot_languages_accumulate_separately(kernel_factory):
    handle = kernel_factory("docker-polyglot")
    ok(handle.run("%%c\nint twice(int n) { return n * 2; }\nint cv = 4;"))
    ok(handle.run('%%cpp\nint twice(int n) { return n * 3; }\nstd::string cppv = "x";'))
    ok(handle.run('%%c\nprintf("%d\\n", twice(cv));'), "8\n")
    result = ok(handle.run("%%cpp\ntwice(2)"))
    assert shown(result) == ["6"]
    error(handle.run('%%cpp\ncout << cv << endl;'))


def test_state_off_compiles_each_cell_alone(kernel_factory):
    handle = kernel_factory("docker-c")
    ok(handle.run("%state off"))
    ok(handle.run("int alone = 5;"))
    error(handle.run('printf("%d\\n", alone);'))  # nothing kept: `alone` is unknown
    ok(handle.run("%state on"))
    ok(handle.run("int kept = 6;"))
    ok(handle.run('printf("%d\\n", kept);'), "6\n")


PANIC_AFTER_STATE = {
    "rust": ("let kept = vec![1, 2];", 'panic!("boom");', "Panic", "thread 'main' panicked at 'boom'"),
    "go": ("kept := []int{1, 2}", 'panic("boom")', "Panic", "panic: boom"),
    "java": ("var kept = new java.util.ArrayList<Integer>();", 'throw new IllegalStateException("boom");',
             "java.lang.IllegalStateException", 'Exception in thread "main" java.lang.IllegalStateException: boom'),
}


@pytest.mark.parametrize("lang", list(PANIC_AFTER_STATE))
def test_a_panic_with_carried_variables_is_one_error_and_no_warning(kernel, lang):
    """The saves after a diverging cell are unreachable: the compiler's warning about them is not shown."""
    first, dying, ename, start = PANIC_AFTER_STATE[lang]
    handle = kernel(lang)
    ok(handle.run(first))
    result = handle.run(dying)
    content = error(result, ename)
    assert content["traceback"][0].startswith(start), content
    assert result.stream("stderr") == "", result.stream("stderr")
    # the variable is still there for the next cell
    ok(handle.run("kept.size()" if lang == "java" else "kept.len()" if lang == "rust" else "len(kept)"))


STATE_LISTS = {
    "c": ("int x = 5;\nint *p = &x;", "p", "pointer"),
    "cpp": ("int x = 5;\nauto f = [](){ return 1; };", "f", "only numbers, strings"),
    "go": ("x := 5\nch := make(chan int)", "ch", "chan"),
    "rust": ("let x = 5;\nlet f = |y: i32| y + 1;", "f", "closure"),
    "java": ("int x = 5;\nThread t = new Thread();", "t", "not Serializable"),
}


@pytest.mark.parametrize("lang", list(STATE_LISTS))
def test_state_lists_what_a_compiled_notebook_carries(kernel_factory, lang):
    """``%state`` and the reply's provenance name the carried variables and what did not carry (and why)."""
    code, name, why = STATE_LISTS[lang]
    handle = kernel_factory(f"docker-{lang}")
    result = handle.run(code)
    assert result.status == "ok", result.reply["content"]
    state = result.reply["metadata"]["dockerkernel"]["state"]
    assert state["names"] == ["x"], state
    assert state["carried"]["variables"] == 1, state
    assert why in state["not_carried"][name], state
    shown = handle.run("%state").stream()
    assert f"{lang}: 1 carried" in shown and "variables: x" in shown, shown
    assert f"not carried: {name}:" in shown, shown
    # declared again (as something that carries), it is no longer listed as not carried
    again = {"c": "int p = 1;", "cpp": "int f = 1;", "go": "ch := 1", "rust": "let f = 1;", "java": "int t = 1;"}[lang]
    assert handle.run(again).status == "ok"
    shown = handle.run("%state").stream()
    assert "not carried" not in shown and f"{lang}: 2 carried" in shown, shown


def test_cpp_c_arrays_carry_and_the_saves_raise_no_warnings(kernel):
    """`int a[5]`, `int m[2][3]`, `char s[16]` carry as C arrays (xeus-cling keeps them); an `int b;` the
    cell never set draws no "may be used uninitialized" from the program's own save of it."""
    handle = kernel("cpp")
    first = ok(handle.run('int arr5[5] = {16, 2, 77, 40, 12071};\nint mat23[2][3] = {{1, 2, 3}, {4, 5, 6}};\n'
                          'char word16[16] = "hello";\nint unset1;'))
    assert first.stream("stderr") == "", first.stream("stderr")
    ok(handle.run('arr5[0] = 1;\nstd::cout << word16 << " " << sizeof(arr5) / sizeof(arr5[0]) << "\\n";'), "hello 5\n")
    assert shown(handle.run("arr5[0] + arr5[2] + mat23[1][2]")) == ["84"]


def test_go_colon_import_of_early_gophernotes(kernel):
    handle = kernel("go")
    ok(handle.run(':import "strconv"'))
    assert shown(handle.run("strconv.Itoa(42)")) == ['42']


def test_go_types_that_encode_themselves_carry(kernel):
    """time.Time has unexported fields but is a GobEncoder: gob carries it (real notebook: time formatting)."""
    handle = kernel("go")
    ok(handle.run('import "time"'))
    first = ok(handle.run("when := time.Date(2016, 1, 23, 20, 15, 0, 0, time.UTC)\nwhens := []time.Time{when}"))
    assert "not carried" not in first.stream("stderr"), first.stream("stderr")
    assert shown(handle.run("when.Format(time.RFC3339)")) == ["2016-01-23T20:15:00Z"]
    assert shown(handle.run("whens[0].Year()")) == ["2016"]


# ---- C++ kinds found in xeus-cling notebooks (iferca/cpp_training, cplusplus.com's tutorial) -----------------

CPP_KINDS = {
    "instances of the notebook's plain classes carry": (
        ["class Rect { int w, h; public: Rect(int a, int b) : w(a), h(b) {} int area() const { return w * h; } };",
         "Rect rect34(3, 4);"], "rect34.area()", ["12"]),
    "C strings carry their text": (['auto greeting = "How do you do?";'], "std::string(greeting)", ['"How do you do?"']),
    "null pointers carry": (["int* nothing = nullptr;"], "nothing == nullptr", ["true"]),
    "variables declared with their struct": (
        ["struct product { int weight; double price; } apple, banana;\napple.weight = 7;"], "apple.weight + banana.weight",
        ["7"]),
    "a prototype is a declaration": (
        ["int protofunction (int first, int second);", "int protofunction (int, int);",
         "int protofunction(int a, int b) { return a * b; }"], "protofunction(6, 7)", ["42"]),
    "a last declaration without its semicolon": (["int c4b = 0x4b       // hexadecimal"], "c4b", ["75"]),
    "a redefined class drops the old one's member definitions": (
        ["class Box { int w; public: void set(int x); };", "void Box::set(int x) { w = x; }",
         "class Box { int w; public: Box(int x) : w(x) {} int get() { return w; } };"], "Box(5).get()", ["5"]),
    "a redefinition naming a later class moves after it": (
        ["class Square2 {};", "class Polygon2 { protected: int w = 2; public: void set(int a) { w = a; } };",
         "class Square2 : public Polygon2 { public: int area() { return w * w; } };"],
        "Square2 sq;\nsq.set(3);\nsq.area()", ["9"]),
    "a class's static member defined outside it": (
        ["class Dummy { public: static int n; Dummy() { n++; } };", "int Dummy::n = 0;"], "Dummy a;\nDummy b;\nDummy::n",
        ["2"]),
    "const stays const": (["const int limit = 10;"], "limit * 2", ["20"]),
    "structs of strings and containers carry member by member": (
        ["struct movies_t { std::string title; int year; std::vector<std::string> cast; } mine;",
         'mine.title = "2001 A Space Odyssey";\nmine.year = 1968;\nmine.cast = {"Keir", "Gary"};'],
        "mine.title + \" \" + std::to_string(mine.year) + \" \" + mine.cast[1]", ['"2001 A Space Odyssey 1968 Gary"']),
    "arrays of the notebook's structs": (
        ["struct film { std::string title; int year; };", 'film films[2];\nfilms[1].title = "Alien";\nfilms[1].year = 1979;'],
        "films[1].title + \" \" + std::to_string(films[1].year)", ['"Alien 1979"']),
    "overloads of one arity live side by side": (
        ["int operate (int a, int b) { return a * b; }", "double operate (double a, double b) { return a / b; }"],
        "operate(5, 2) + operate(5.0, 2.0)", ["12.5"]),
}


def test_cpp_a_const_variable_stays_const(kernel):
    handle = kernel("cpp")
    ok(handle.run("const int frozen = 10;"))
    assert "read-only" in error(handle.run("frozen = 3;"))["evalue"]


@pytest.mark.parametrize("kind", list(CPP_KINDS))
def test_cpp_kinds_of_real_notebooks(kernel_factory, kind):
    handle = kernel_factory("docker-cpp")
    cells, last, expected = CPP_KINDS[kind]
    for cell in cells:
        result = ok(handle.run(cell))
        assert result.stream("stderr") == "", (cell, result.stream("stderr"))
    assert shown(ok(handle.run(last))) == expected


def test_go_structs_with_unexported_fields_carry(kernel):
    """The notebook's own structs keep lowercase fields (`type person struct{ firstName string }`): they
    carry, nested values, pointers, maps and a time.Time inside included (real notebooks: samuelastech/go)."""
    handle = kernel("go")
    ok(handle.run('import "time"\nimport "fmt"'))
    ok(handle.run("type person struct {\n\tfirstName string\n\tage int\n\tborn time.Time\n\ttags []string\n"
                  "\tboss *person\n\tscores map[string]float64\n}"))
    first = ok(handle.run('ajay := person{firstName: "Ajay", age: 13, born: time.Date(2010, 1, 2, 0, 0, 0, 0, time.UTC), '
                          'tags: []string{"a"}, boss: &person{firstName: "Tom"}, scores: map[string]float64{"x": 0.1}}'))
    assert first.stream("stderr") == "", first.stream("stderr")
    ok(handle.run("ajay.age++"))
    assert shown(handle.run('fmt.Sprintf("%s %d %d %v %s %v", ajay.firstName, ajay.age, ajay.born.Year(), ajay.tags, '
                            'ajay.boss.firstName, ajay.scores["x"])')) == ["Ajay 14 2010 [a] Tom 0.1"]


def test_go_a_main_the_cell_calls_is_a_function(kernel):
    """`func main() {...}` followed by `main()` in the same cell: gophernotes calls it like any function."""
    handle = kernel("go")
    ok(handle.run('import "fmt"\n\nfunc main() {\n    fmt.Println("Hello World")\n}\n\nmain()'), "Hello World\n")


def test_go_a_trailing_receive_or_map_index_shows_its_comma_ok_form(kernel):
    """gophernotes (gomacro) shows `<-ch` and `m[k]` as two values, `v ok` (real notebook:
    kylekizirian/gonotes' `<- closedChan` is `0 false`); a slice index is still one value and
    out of range is Go's own panic."""
    handle = kernel("go")
    ok(handle.run('colors := map[string]string{"red": "#ff0000"}\nids := map[int64]string{1: "one"}\nxs := []int{5, 6}'))
    assert shown(ok(handle.run('colors["red"]'))) == ["#ff0000 true"]
    assert shown(ok(handle.run('colors["blue"]'))) == [" false"]
    assert shown(ok(handle.run("ids[1]"))) == ["one true"]  # an untyped constant key of another integer type
    assert shown(ok(handle.run("xs[1]"))) == ["6"]
    assert shown(ok(handle.run("closed := make(chan int)\nclose(closed)\n<- closed"))) == ["0 false"]
    assert shown(ok(handle.run('buf := make(chan string, 1)\nbuf <- "x"\n<-buf'))) == ["x true"]
    assert "index out of range [5]" in error(handle.run("xs[5]"), "Panic")["evalue"]


def test_go_goroutines_about_to_end_finish_before_the_cell_does(kernel):
    """A goroutine the cell released runs to its end (its deferred print shows, its write to a
    variable is carried) as it would in gophernotes, where goroutines outlive the cell; one that
    never ends does not hold the cell (real notebook: kylekizirian/gonotes' concurrency)."""
    handle = kernel("go")
    ok(handle.run('import "fmt"\ndone := make(chan bool)\nx := 1\ngo func() {\n    defer fmt.Println("finished")\n'
                  "    <-done\n    x = 2\n}()\ndone <- true"), "finished\n")
    assert shown(ok(handle.run("x"))) == ["2"]
    stuck = ok(handle.run('stuck := make(chan int)\ngo func() { stuck <- 1 }()\nfmt.Println("end")'), "end\n")
    # what gophernotes would keep running is named: the goroutine, and its channel
    assert ("dockerkernel: 1 goroutine is not carried to the next cell: still running when the cell ended"
            in stuck.stream("stderr"))
    assert ("stuck (chan int) is not carried to the next cell: a channel lives only as long as the cell's process"
            in stuck.stream("stderr"))


def test_go_what_gophernotes_takes_that_go_refuses(kernel):
    """gophernotes (gomacro) runs cells Go's compiler refuses, and notebooks rely on it: an
    unused loop variable or result (kylekizirian/gonotes' `for i := range recv`), a func
    without a body (gophernotes' own Display.ipynb documents its API so); and its `$ cmd`
    lines run commands. Other errors of the same cell are still Go's."""
    handle = kernel("go")
    ok(handle.run('import "fmt"\nfunc drain(c <-chan int) int {\n    n := 0\n    for i := range c { // each\n'
                  '        n++\n    }\n    big := []int{\n        1,\n    }\n    return n\n}\n'
                  "func quiet() { q := 1 }\nc := make(chan int, 2)\nc <- 1\nc <- 2\nclose(c)\nfmt.Println(drain(c))"),
       "2\n")
    # the function kept from the cell above compiles with the next cells too
    assert shown(ok(handle.run("quiet()\n7"))) == ["7"]
    failed = error(handle.run("func typo() {\n    a := 1\n    b := undefinedName\n}"), "CompileError")
    assert "undefined: undefinedName" in failed["evalue"] and "not used" not in failed["evalue"]
    # a panic's line is the cell's own, after a variable was used for it
    failed = error(handle.run("func boom() {\n    x := 1\n    panic(\"at three\")\n}\nboom()"), "Panic")
    assert re.search(r"main\.boom\(.*\)\n\tCell In\[\d+\]:3\n", "\n".join(failed["traceback"]))
    result = ok(handle.run("func PNG([]byte) error\nfunc SVG(string) error\n3"))
    assert shown(result) == ["3"]
    assert "func PNG is dropped: a func without a body" in result.stream("stderr")
    assert "func SVG is dropped" in result.stream("stderr")
    # a carried variable declared again as a func or a type is replaced, and named
    ok(handle.run('shape := 5\nlabel := "s"\nwidth := 2.5'))
    result = ok(handle.run("func shape() int { return 1 }\ntype label struct{}\nshape()"))
    assert shown(result) == ["1"]
    assert "shape is not carried to the next cell: this cell declares shape again" in result.stream("stderr")
    assert "label is not carried" in result.stream("stderr")
    assert shown(ok(handle.run("shape() + int(width)"))) == ["3"]
    ok(handle.run("$ echo one two\n\n$ printf x\nfmt.Println(\"after\")"), "one two\nxafter\n")
    failed = error(handle.run("$ ls /no/such/dir\nfmt.Println(\"not reached\")"), "Panic")
    assert "$ ls /no/such/dir: exit status" in failed["evalue"]


def test_go_a_function_sees_the_variables_its_own_cell_declares(kernel):
    """In gophernotes a cell's variables are globals, so a function of the same cell uses them
    (kylekizirian/gonotes' concurrency: `var NumRunning int32` and `func handle` in one cell);
    the function is still there, and still sees them, in later cells."""
    handle = kernel("go")
    assert shown(ok(handle.run("count := 0\n// one more\nfunc inc() { count++ }\nfunc twice() { inc(); inc() }\n"
                               "twice()\ncount"))) == ["2"]
    assert shown(ok(handle.run("inc()\ncount"))) == ["3"]
    assert shown(ok(handle.run("var base int32 = 10\nfunc fib(n int) int {\n    if n < 2 {\n"
                               "        return n + int(base) - int(base)\n    }\n    return fib(n-1) + fib(n-2)\n}\n"
                               "fib(10)"))) == ["55"]
    assert shown(ok(handle.run("fib(6)"))) == ["8"]
    # declared after the function in the cell: not seen, as in gophernotes
    assert "undefined: later" in error(handle.run("func early() int { return later }\nlater := 1"))["evalue"]


def test_go_the_working_directory_and_environment_carry(kernel):
    """gophernotes' cells share a process: `os.Chdir` and `os.Setenv` last (as our Python and
    Bash carry them); a cell that fails carries none of it."""
    handle = kernel("go")
    ok(handle.run('import "os"\nos.MkdirAll("/workspace/gowd", 0o755)\nos.Chdir("/workspace/gowd")\n'
                  'os.Setenv("DK_TEST_FOO", "x")\nos.Setenv("GREETING", "hi")\nos.Unsetenv("LANG")'))
    ok(handle.run('import "fmt"\nwd, _ := os.Getwd()\nfmt.Println(wd, os.Getenv("GREETING"), os.Getenv("LANG") == "")'),
       "/workspace/gowd hi true\n")
    error(handle.run('os.Chdir("/tmp")\nos.Setenv("GREETING", "lost")\npanic("fails")'), "Panic")
    ok(handle.run('now, _ := os.Getwd()\nfmt.Println(now, os.Getenv("GREETING"))'), "/workspace/gowd hi\n")
    # the kernel's own DK_ variables are the container's, never carried
    ok(handle.run('fmt.Println(os.Getenv("DK_TEST_FOO"))'), "\n")
    ok(handle.run('os.Chdir("/workspace")'))


def test_go_a_kept_function_that_no_longer_compiles_is_dropped_and_named(kernel):
    """A function kept from an earlier cell that uses a variable which was not carried (a
    channel; a cell that panicked carries nothing) or now has another type is dropped and
    named, never left to fail every later cell; the cell's own error is its summary."""
    handle = kernel("go")
    ok(handle.run("pipe := make(chan int, 1)\nfunc send() { pipe <- 1 }\nsend()"))
    result = ok(handle.run("40 + 2"))
    assert shown(result) == ["42"]
    assert ("dockerkernel: send from Cell In[" in result.stream("stderr")
            and "is dropped: it no longer compiles" in result.stream("stderr"))
    assert "undefined: send" in error(handle.run("send()"))["evalue"]
    error(handle.run("hits := 0\nfunc hit() { hits++; panic(\"boom\") }\nhit()"), "Panic")
    assert shown(ok(handle.run('"next"'))) == ["next"]
    ok(handle.run("level := 1\nfunc up() { level++ }\nup()"))
    ok(handle.run('level := "high"'))  # another type: `up` no longer compiles
    assert shown(ok(handle.run("level"))) == ["high"]


def test_go_main_called_in_a_later_cell_is_the_kept_one_or_undefined(kernel_factory):
    """`main()` calls the `func main` a cell kept (gophernotes defines it); with none it is
    undefined, never the program's own main calling itself until memory runs out."""
    handle = kernel_factory("docker-go")
    assert "undefined: main" in error(handle.run("main()"))["evalue"]
    ok(handle.run('import "fmt"\nfunc main() { fmt.Println("from main") }\nx := 1'))
    ok(handle.run("main()"), "from main\n")


def test_go_nil_values_carry_and_gomacros_leniencies_have_their_places(kernel):
    """A nil error, pointer or slice carries as nil (gob cannot encode nil: `a, err :=
    strconv.Atoi(...)` is everywhere); a struct with a channel field is named, not carried with
    the channel silently nil. Unused variables are used where they are declared; a signature
    with `interface{}` in it is one function."""
    handle = kernel("go")
    ok(handle.run('import (\n    "fmt"\n    "strconv"\n)\ntype Link struct{ V int; Next *Link }\nvar first *Link\n'
                  'n, err := strconv.Atoi("42")\nvar none []int'))
    ok(handle.run('fmt.Println(err == nil, n, first == nil, none == nil)'), "true 42 true true\n")
    named = ok(handle.run("type Pipe struct{ C chan int; N int }\npp := Pipe{make(chan int, 1), 3}"))
    assert "pp (main.Pipe) is not carried to the next cell: its field C (chan int)" in named.stream("stderr")
    # unused, as gophernotes takes them: after the statement, in a deferred func, past Go's 10 errors
    ok(handle.run("func k() int { u := 1; return 3 }\nfunc d() { defer func() { r := recover() }() }\n"
                  "func pair() {\n    a, b := 1,\n        2\n}\nfunc kinds(x interface{}) {\n"
                  "    switch t := x.(type) {\n    case int:\n    }\n}\nfunc many() {\n"
                  + "".join(f"    v{i} := {i}\n" for i in range(12)) + "}\nmany()\nk()"))
    assert shown(ok(handle.run("cfg := 5\nfunc conf() interface{} { return cfg }\nconf()"))) == ["5"]
    # a name given to another kind of declaration replaces the old one
    ok(handle.run("func thing() int { return 1 }"))
    assert shown(ok(handle.run("type thing struct{ A int }\nthing{3}"))) == ["{3}"]


def test_go_the_display_packages_types_show_a_renderers_value(kernel):
    """gophernotes' `display` package has types a notebook implements (gophernotes'
    Display.ipynb: a SimpleRenderer returns a display.MIMEMap, a Renderer a display.Data)."""
    handle = kernel("go")
    result = ok(handle.run("type S struct{}\nfunc (S) SimpleRender() display.MIMEMap {\n"
                           "    return display.MIMEMap{display.MIMETypeLatex: `$x^2$`}\n}\nS{}"))
    assert [m["content"]["data"] for m in result.of_type("execute_result")] == [{"text/latex": "$x^2$"}]
    result = ok(handle.run("type R struct{}\nfunc (R) Render() display.Data {\n    return display.Data{"
                           "Data: display.MIMEMap{display.MIMETypeHTML: `<i>r</i>`}}\n}\nDisplay(R{})\n"
                           'display.MakeData3(display.MIMETypeSVG, "svg", "<svg/>")'))
    assert [m["content"]["data"] for m in result.of_type("display_data")] == [{"text/html": "<i>r</i>"}]
    assert [m["content"]["data"] for m in result.of_type("execute_result")] == [
        {"image/svg+xml": "<svg/>", "text/plain": "svg"}]
    # images and files as gophernotes shows them: an image.Image as a PNG, (Data, nil) as Data
    result = ok(handle.run('import (\n    "image"\n    "os"\n)\nimg := image.NewRGBA(image.Rect(0, 0, 2, 2))\nimg'))
    assert [sorted(m["content"]["data"]) for m in result.of_type("execute_result")] == [["image/png", "text/plain"]]
    result = ok(handle.run("display.Image(img)"))
    assert [sorted(m["content"]["data"]) for m in result.of_type("execute_result")] == [["image/png", "text/plain"]]
    result = ok(handle.run('os.WriteFile("d.html", []byte("<b>f</b>"), 0o644)\ndisplay.File("", "d.html")'))
    assert [m["content"]["data"].get("text/html") for m in result.of_type("execute_result")] == ["<b>f</b>"]
    result = ok(handle.run('png, _ := os.ReadFile("d.html")\ndisplay.Auto([]byte("\\x89PNG\\r\\n\\x1a\\nxx"))'))
    assert [sorted(m["content"]["data"]) for m in result.of_type("execute_result")] == [["image/png", "text/plain"]]


def test_rust_a_whole_programs_main_is_a_function_later_cells_call(kernel):
    """A whole program runs alone, and its `fn main` stays for a later `main();` (evcxr keeps a
    cell's items; real notebook: cwrightlibrary/LearningRust). A method or path named main is
    not it."""
    handle = kernel("rust")
    ok(handle.run('#![allow(unused)]\n// main.rs\nfn main() {\n\tprintln!("Hello, world!");\n}'), "Hello, world!\n")
    ok(handle.run("main();"), "Hello, world!\n")
    ok(handle.run('struct Holder;\nimpl Holder { fn main(&self) -> i32 { 7 } }\nmain();\nprintln!("{}", Holder.main());'),
       "Hello, world!\n7\n")


def test_rust_main_called_before_any_whole_program_is_not_found(kernel_factory):
    """`main()` with no whole program kept is evcxr's "cannot find function `main`", not our own
    `fn main` calling itself until SIGABRT (real notebook: Glucosquidic/rust-jupyter-tutorial,
    whose `fn main` cell failed to compile)."""
    content = error(kernel_factory("docker-rust").run("main()"))
    assert "cannot find function `main`" in content["evalue"], content


def test_rust_a_whole_programs_items_reach_only_a_cell_that_calls_main(kernel):
    """A whole program may need its own flags (an item under `#[cfg(answer)]`): a later cell that
    does not call `main()` compiles without its items (they broke every later cell once)."""
    handle = kernel("rust")
    try:
        ok(handle.run("%cflags --cfg answer"))
        ok(handle.run('#[cfg(answer)]\nconst ANSWER: i32 = 42;\nfn main() { println!("{}", ANSWER); }'), "42\n")
    finally:
        ok(handle.run("%cflags"))
    ok(handle.run('println!("other");'), "other\n")
    assert handle.run("main();").reply["content"]["ename"] == "CompileError"  # ANSWER: not without the flag


def test_rust_evcxr_display_shows_a_value_in_its_mime_type(kernel):
    """A type with an inherent `fn evcxr_display(&self)` (evcxr's convention; real notebook: the
    evcxr tour's `Matrix`) is shown by it: what it prints between `EVCXR_BEGIN_CONTENT text/html`
    and `EVCXR_END_CONTENT` is the result's text/html, the rest stays output; in the defining cell
    and in later ones. Other values are still shown by `Debug`."""
    handle = kernel("rust")
    ok(handle.run(
        "use std::fmt::Debug;\npub struct Grid<T> { pub cells: Vec<T> }\nimpl<T: Debug> Grid<T> {\n"
        "    pub fn evcxr_display(&self) {\n        println!(\"drawn\");\n"
        "        println!(\"EVCXR_BEGIN_CONTENT text/html\\n<b>{:?}</b>\\nEVCXR_END_CONTENT\", self.cells);\n    }\n}\n"
        "Grid { cells: vec![1, 2] }"), "drawn\n")
    later = ok(handle.run('Grid { cells: vec!["x"] }'), "drawn\n")
    [data] = [m["content"]["data"] for m in later.of_type("execute_result")]
    assert data == {"text/html": '<b>["x"]</b>'}, data
    assert shown(ok(handle.run("vec![3, 4]"))) == ["[3, 4]"]


def test_rust_arrays_carry_and_a_bare_block_ends_its_statement(kernel):
    """`[T; N]` arrays carry like Vec (issue 13 names arrays); a bare block `{ ... }` is a
    statement of its own, so the expression after it is the cell's value (real notebooks:
    myhalard/rust-tutorial's `for i in items`, dskkato/plotters-demo's `{ ... }` then `canvas`)."""
    handle = kernel("rust")
    first = ok(handle.run('let items = [1, 2, 3];\nlet words: [String; 2] = [String::from("a b"), String::new()];'))
    assert "not carried" not in first.stream("stderr"), first.stream("stderr")
    assert shown(ok(handle.run("(items, words)"))) == ['([1, 2, 3], ["a b", ""])']
    assert shown(ok(handle.run("let mut total = 0;\n{\n    for i in items { total += i; }\n}\ntotal"))) == ["6"]


def test_rust_the_notebooks_structs_carry_and_one_defined_again_is_named(kernel_factory):
    """A struct of the notebook whose fields carry carries too (named and tuple fields, generic;
    real notebook: lnhutnam/rust-notebooks' `m`, a `Matrix<i32>` shown by its evcxr_display in
    the next cell); one with a field that does not carry (a File) is named, not a compile error.
    Defined again with the same fields the value stays; with other fields it is named as not
    carried, and the cell runs."""
    handle = kernel_factory("docker-rust")
    first = ok(handle.run(
        "#[derive(Debug)]\nstruct Person {\n    name: String, // who\n    age: u32,\n}\n"
        "#[derive(Debug)]\npub struct Grid<T> { pub cells: Vec<T>, pub width: usize }\n#[derive(Debug)]\nstruct Pt(i16, i16);\n"
        "struct Handle { file: std::fs::File }\n"
        'let p = Person { name: String::from("ann"), age: 3 };\nlet g = Grid { cells: vec![1, 2], width: 2 };\n'
        'let q = Pt(1, -2);\nlet h = Handle { file: std::fs::File::open("/etc/hostname").unwrap() };'))
    assert first.stream("stderr").count("is not carried") == 1 and "h is not carried" in first.stream("stderr")
    assert shown(ok(handle.run("(&p, &g, &q)"))) == ['(Person { name: "ann", age: 3 }, Grid { cells: [1, 2], width: 2 }, Pt(1, -2))']
    assert shown(ok(handle.run("#[derive(Debug)]\nstruct Person {\n    name: String,\n    age: u32,\n}\np.age"))) == ["3"]
    again = ok(handle.run("#[derive(Debug)]\nstruct Person { age: u32, name: String }\ng.width"))
    assert shown(again) == ["2"]
    assert "p is not carried to the next cell: its type Person was defined again with other fields" in again.stream("stderr")
    assert "was defined again" in shown(ok(handle.run("p")))[0]


def test_rust_lints_evcxr_allows_are_not_shown(kernel):
    """evcxr shows no warning for a cell that compiled; the notebook noise it allows (an unused
    loop variable, an item or import only a later cell uses) is not shown here either, while
    other warnings still are (test_languages.py::test_warning_only_compile_still_runs)."""
    result = ok(kernel("rust").run("use std::collections::HashMap;\nfn later() -> i32 { 1 }\nfor i in 0..2 {}\nlet mut n = 1;"))
    assert result.stream("stderr") == "", result.stream("stderr")


def test_java_instances_of_the_notebooks_classes_carry(kernel):
    """A cell's class becomes Serializable, so its instances carry (IJava keeps them; real notebook:
    Tejaswini-167/Java-in-Jupyter); a class that already implements an interface keeps it."""
    handle = kernel("java")
    ok(handle.run('class Student { String name; int age; void show() { System.out.println(name + " " + age); } }'))
    ok(handle.run("class Dog implements Comparable<Dog> { int w; public int compareTo(Dog o) { return w - o.w; } }"))
    first = ok(handle.run('Student s1 = new Student();\ns1.name = "Tejaswini";\ns1.age = 20;\nDog rex = new Dog();\nrex.w = 3;'))
    assert first.stream("stderr") == "", first.stream("stderr")
    ok(handle.run("s1.show();"), "Tejaswini 20\n")
    assert shown(handle.run("rex.compareTo(new Dog())")) == ["3"]


def test_cpp_a_kept_function_the_new_class_breaks_is_dropped_and_named(kernel_factory):
    """Defining a class again can break a function an earlier cell wrote against the old one (a
    friend reading a private member): that function is dropped, named once, and the cell runs."""
    handle = kernel_factory("docker-cpp")
    ok(handle.run("class Rect { int w; public: Rect(int x) : w(x) {} friend int twice(const Rect&); };"))
    ok(handle.run("int twice(const Rect& r) { return r.w * 2; }"))
    assert shown(ok(handle.run("twice(Rect(3))"))) == ["6"]
    again = ok(handle.run("class Rect { int w; public: Rect(int x) : w(x) {} int get() const { return w; } };"))
    assert "dockerkernel: twice from Cell In[2] is dropped: it no longer compiles" in again.stream("stderr"), again.stream("stderr")
    assert shown(ok(handle.run("Rect(4).get()"))) == ["4"]
    later = handle.run("twice(Rect(3))")
    assert later.status == "error" and "twice" in later.reply["content"]["evalue"], later.reply["content"]


def test_cpp_a_carried_instance_of_a_class_defined_again_is_named_not_fatal(kernel_factory):
    """A plain-data class's instance carries; the class defined again with a constructor and a
    private member (real notebook: Classes-I of a C++ tutorial) no longer reads that saved value:
    the variable is named as not carried and the cell runs; a cell that then fails to compile
    leaves the others as they were."""
    handle = kernel_factory("docker-cpp")
    ok(handle.run("struct MyClass { int x; };"))
    ok(handle.run("const MyClass foo{10};\nint keep = 5;"))
    again = ok(handle.run("class MyClass { int x; public: MyClass(int val) : x(val) {} "
                          "const int& get() const { return x; } };"))
    assert "dockerkernel: foo (MyClass) is not carried to the next cell: " in again.stream("stderr"), again.stream("stderr")
    assert handle.run("nope_q + 1").status == "error"
    assert shown(ok(handle.run("MyClass bar(3);\nbar.get() + keep"))) == ["8"]
    assert handle.run("foo").status == "error"


def test_go_a_trailing_println_shows_its_results_as_gophernotes_does(kernel):
    handle = kernel("go")
    ok(handle.run('import "fmt"'))
    result = ok(handle.run('fmt.Println("hi")'), "hi\n")
    assert shown(result) == ["3 <nil>"]
