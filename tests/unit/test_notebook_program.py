"""notebook_program: splitting cells and building the accumulated program (pure, no daemon)."""

from __future__ import annotations

import re

import pytest

from dockerkernel.notebook_program import (
    NOTEBOOK_MARK,
    NotebookProgram,
    classify_c,
    classify_go,
    classify_java,
    classify_rust,
    parse_var_decl,
    split_chunks,
)


def kinds(text, lang, classify):
    out = []
    for chunk in split_chunks(text, lang):
        classify(chunk)
        out.append((chunk.kind, chunk.key, chunk.names))
    return out


# ---- splitting and classification --------------------------------------------------------------


def test_cpp_overloads_are_kept_apart_and_a_signature_replaces():
    """C++ functions are keyed by their parameter types (names and defaults left out)."""
    keys = [kinds(cell, "cpp", lambda c: classify_c(c, "cpp"))[0][1] for cell in (
        "int operate (int a, int b) { return a * b; }", "double operate (double a, double b) { return a / b; }",
        "int operate(int x, int y = 2) { return x - y; }", "void Rect::set(unsigned int w, const Shape&) {}")]
    assert keys == ["fn operate(int,int)", "fn operate(double,double)", "fn operate(int,int)",
                    "fn Rect::set(unsigned int,const Shape&)"]


def test_cpp_chunks_and_kinds():
    cell = (
        '#include <string>\nstd::string greet(std::string n) { return "hi; {" + n; }\n'
        "int x = 5, *p, a[3] = {1, 2, 3};\nstruct P { int a; };\nfor (int i = 0; i < 3; i++) { x++; }\n"
        "auto f = [](int a) { return a; };\nbool operator<(const P& a, const P& b) { return a.a < b.a; }\n"
        'greet("c++")'
    )
    got = kinds(cell, "cpp", lambda c: classify_c(c, "cpp"))
    assert got == [
        ("include", "#include <string>", ()),
        ("decl", "fn greet(std::string)", ()),
        ("statement", "", ("x", "p", "a")),
        ("decl", "type P", ()),
        ("statement", "", ()),
        ("statement", "", ("f",)),
        ("decl", "fn operator<(const P&,const P&)", ()),
        ("statement", "", ()),
    ]


def test_braces_in_strings_and_comments_do_not_split():
    cell = 'printf("}");\n/* { */ int y = 1; // }\nchar c = \'{\';'
    chunks = split_chunks(cell, "c")
    assert [c.text.strip() for c in chunks] == ['printf("}");', "int y = 1;", "char c = '{';"]


def test_go_chunks_end_at_newlines_where_go_puts_semicolons():
    cell = 'import "strings"\nfunc shout(s string) string {\n\treturn strings.ToUpper(s)\n}\nxs := []int{1,\n2}\nif len(xs) > 1 {\n} else {\n}\nshout("go")'
    got = kinds(cell, "go", classify_go)
    assert got == [
        ("import", "", ()),
        ("decl", "func shout", ()),
        ("statement", "", ("xs",)),
        ("statement", "", ()),
        ("statement", "", ()),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("func (p *Point) Sum() int {\n\treturn 1\n}", ("decl", "func Point.Sum", ())),
        ("type Point struct {\n\tX int\n}", ("decl", "type Point", ())),
        ("const K = 3", ("decl", "const K", ())),
        ("var y int = 3", ("statement", "", ("y",))),
        ("a, _ := f()", ("statement", "", ("a",))),
        ("func main() {\n}", ("main", "func main", ())),
    ],
)
def test_go_kinds(text, expected):
    assert kinds(text, "go", classify_go) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fn square(n: i64) -> i64 { n * n }", ("decl", "fn square", ())),
        ("#[derive(Debug)]\nstruct P { x: i32 }", ("decl", "struct P", ())),
        ("impl P { fn f(&self) {} }", ("decl", "impl impl P", ())),
        ("use std::collections::HashMap;", ("decl", "use use std::collections::HashMap;", ())),
        ("let (mut a, b): (i32, i32) = (1, 2);", ("statement", "", ("a", "b"))),
        ("let base = 7;", ("statement", "", ("base",))),
        ("if let Some(x) = o { println!(\"{}\", x); }", ("statement", "", ())),
        ("fn main() { }", ("main", "", ())),
    ],
)
def test_rust_kinds(text, expected):
    assert kinds(text, "rust", classify_rust) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import java.util.*;", ("import", "", ())),
        ("int x = 5;", ("field", "", ("x",))),
        ("long n = 5;", ("field", "", ("n",))),
        ("List<Map<String, Integer>> l = new ArrayList<>();", ("field", "", ("l",))),
        ("var q = 3;", ("statement", "", ())),
        ("public int twice(int n) { return n * 2; }", ("decl", "method twice/1", ())),
        ("record P(int x, int y) {}", ("decl", "type P", ())),
        ("System.out.println(x);", ("statement", "", ())),
        ("x * 2", ("statement", "", ())),
    ],
)
def test_java_kinds(text, expected):
    assert kinds(text, "java", classify_java) == [expected]


def test_parse_var_decl_types_and_declarators():
    assert parse_var_decl("unsigned long long z = 1;")[0] == "unsigned long long"
    spec, decls = parse_var_decl("double xs[3] = {1, 2, 3}, *p, q;")
    assert spec == "double"
    assert [(d.name, d.pointers, d.dims) for d in decls] == [("xs", 0, "[3]"), ("p", 1, ""), ("q", 0, "")]
    for statement in ("x = 3;", "cout << x;", "return 1;", "f(3);"):
        assert parse_var_decl(statement) is None, statement


# ---- the accumulated program -------------------------------------------------------------------


def line_of(program: str, needle: str, file_label: str) -> int:
    """The line number a #line-directed program reports for the line holding ``needle``."""
    current, label = 0, None
    for line in program.split("\n"):
        m = re.match(r'#line (\d+) "([^"]+)"', line)
        if m:
            current, label = int(m.group(1)), m.group(2)
            continue
        if needle in line:
            assert label == file_label
            return current
        current += 1
    raise AssertionError(needle)


def test_cpp_declarations_accumulate_and_keep_their_lines():
    p = NotebookProgram("cpp", "cell.cpp")
    first = p.build('#include <string>\n\nstd::string greet(std::string n) { return "hi " + n; }', 1)
    assert not first.whole_program
    p.commit(first, compiled=True, succeeded=True)
    second = p.build('greet("c++")', 2)
    assert line_of(second.program, "std::string greet", "Cell In[1]") == 3
    assert "#include <string>" in second.program
    # the trailing expression is shown; it keeps its own line
    assert "dk::show(" in second.program
    assert line_of(second.program, 'greet("c++")', "cell.cpp") == 1


def test_failed_compile_adds_nothing_and_redefinition_replaces():
    p = NotebookProgram("cpp", "cell.cpp")
    p.commit(p.build("int f() { return 1; }", 1), compiled=True, succeeded=True)
    p.commit(p.build("int g() { return f() + broken; }", 2), compiled=False, succeeded=False)
    third = p.build("int f() { return 2; }\nf()", 3)
    assert "broken" not in third.program
    assert third.program.count("int f()") == 1 and "return 2" in third.program
    p.commit(third, compiled=True, succeeded=True)
    assert [d.text for d in p.decls.values()] == ["int f() { return 2; }"]


def test_a_whole_program_runs_alone_and_keeps_nothing():
    p = NotebookProgram("c", "cell.c")
    p.commit(p.build("int f(void) { return 1; }", 1), compiled=True, succeeded=True)
    built = p.build('#include <stdio.h>\nint main(void) { puts("x"); return 0; }', 2)
    assert built.whole_program and "int f(void)" not in built.program
    p.commit(built, compiled=True, succeeded=True)
    assert list(p.decls) == ["fn f/0"]


def test_c_variables_carry_by_type_and_the_rest_is_named():
    p = NotebookProgram("c", "cell.c")
    built = p.build('struct pt { int x, y; };\nint base = 7;\nchar *name = "ann";\nstruct pt p = {1, 2};\nint *ptr = &base;\nint arr[] = {1};', 1)
    assert [v.declaration for v in built.variables] == ["int base;", "char *name;", "struct pt p;"]
    assert "ptr is not carried" in built.program and "arr is not carried" in built.program
    p.commit(built, compiled=True, succeeded=False)
    assert not p.c_variables  # the run failed: nothing was saved, nothing is restored
    p.commit(built, compiled=True, succeeded=True)
    nxt = p.build("base++;", 2)
    assert "int base;" in nxt.program and 'dk_load_raw("base", &base, sizeof base);' in nxt.program


def test_go_unused_imports_of_earlier_cells_do_not_break_later_cells():
    p = NotebookProgram("go", "cell.go")
    p.commit(p.build('import "strings"\nimport m "math"\nfunc shout(s string) string { return strings.ToUpper(s) }', 1), True, True)
    built = p.build('shout("go")', 2)
    assert 'import  "strings"' in built.program or 'import "strings"' in built.program.replace("  ", " ")
    assert 'import _ "math"' in built.program
    assert 'dkShow(shout("go")) //dk:alt@1:shout("go")' in built.program
    assert built.program.startswith("package main // " + NOTEBOOK_MARK)


def test_go_calls_without_results_are_not_shown_and_println_is_as_in_gophernotes():
    p = NotebookProgram("go", "cell.go")
    body = p.build('import "fmt"\nprintln("x")', 1).program.split("func main()")[1].split("dkSaveCarried")[0]
    assert "dkShow(" not in body
    body = p.build('import "fmt"\nfmt.Println("x")', 1).program.split("func main()")[1].split("dkSaveCarried")[0]
    assert "dkShow(fmt.Println(" in body  # gophernotes shows `2 <nil>`


def test_rust_cell_stays_in_main_and_variables_are_restored():
    p = NotebookProgram("rust", "cell.rs")
    first = p.build("fn square(n: i64) -> i64 { n * n }\nlet base = 7;", 1)
    assert first.program.startswith("#[allow(unused_variables)] fn main() { fn square")
    p.commit(first, True, True)
    second = p.build("square(base)", 2)
    line1 = second.program.split("\n")[0]
    assert 'let mut base = include!("/workspace/.dockerkernel/rust/base.rs");' in line1
    assert line1.endswith("(&&&DkShow(&(square(base)")
    assert "fn square(n: i64) -> i64 { n * n }" in second.program.split("fn main()", 1)[1]
    assert '(&DkSave("base", &base)).dk_save(); //dk:alt@' in second.program


def test_java_fields_methods_and_statements_become_static_members_in_place():
    p = NotebookProgram("java", "Main.java")
    built = p.build("int x = 5;\nint twice(int n) { return n * 2; }\nSystem.out.println(twice(x));\nx * 2", 1)
    lines = built.program.split("\n")
    assert lines[0].endswith("public class Main extends DkVars { static int x = 5;")
    assert lines[1] == "static int twice(int n) { return n * 2; }"
    assert lines[2] == "static { dkRun(() -> { System.out.println(twice(x)); }); }"
    assert lines[3] == "static { dkShow(() -> x * 2"
    assert built.file_name == "Main.java"


def test_relabel_points_kept_code_at_its_cell():
    p = NotebookProgram("java", "Main.java")
    p.commit(p.build("int twice(int n) {\n  return n * 2;\n}", 1), True, True)
    built = p.build("twice(3)", 2)
    first, count, label, line = built.kept_lines[0]
    assert label == "Cell In[1]" and line == 1
    assert built.relabel(f"Cell In[2]:{first + 1}: error", "Cell In[2]") == "Cell In[1]:2: error"


# ---- dkbuild.py (runs in the container; here with a stand-in compiler) ------------------------------------


def test_dkbuild_retries_with_the_alternative_of_a_refused_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    dkbuild = Path(__file__).resolve().parents[2] / "dockerkernel" / "incontainer" / "dkbuild.py"
    source = tmp_path / "cell.rs"
    source.write_text(f"fn main() {{\nkeep();\nBAD(); //dk:alt@3:fine();\n}}\n// {NOTEBOOK_MARK}\n")
    compiler = tmp_path / "fakec.py"
    compiler.write_text(
        "import sys\ntext = open(sys.argv[1]).read()\n"
        "if 'BAD' in text:\n    print('error: refused\\n --> /tmp/dk/cell.rs:3:1')\n    sys.exit(1)\n"
        "print('compiled', ' '.join(sys.argv[2:]))\n"
    )
    done = subprocess.run([sys.executable, str(dkbuild), str(source), "--", sys.executable, str(compiler), str(source)],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fine();" in source.read_text() and "BAD" not in source.read_text()
    assert "refused" not in done.stdout  # the output is the last run's


def test_dkbuild_reports_a_real_error_unchanged(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    dkbuild = Path(__file__).resolve().parents[2] / "dockerkernel" / "incontainer" / "dkbuild.py"
    source = tmp_path / "cell.rs"
    source.write_text(f"fn main() {{\nBAD();\nx(); //dk:alt@3:y();\n}}\n// {NOTEBOOK_MARK}\n")
    compiler = tmp_path / "fakec.py"
    compiler.write_text("import sys\nprint('error here\\n --> cell.rs:2:1')\nsys.exit(1)\n")
    done = subprocess.run([sys.executable, str(dkbuild), str(source), "--", sys.executable, str(compiler), str(source)],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 1 and "cell.rs:2:1" in done.stdout
    assert "x(); //dk:alt@3" in source.read_text()  # line 3 was not blamed: left alone


# ---- %state for compiled notebooks --------------------------------------------------------------------------


def test_not_carried_notices_of_every_runtime_are_read():
    from dockerkernel.notebook_program import NotCarriedNotices

    notices = NotCarriedNotices()
    notices.add(b"log line\ndockerkernel: ch (chan int) is not carried to the next cell: gob can't handle chan int\n")
    notices.add(b"dockerkernel: p is not carried to the next cell: a pointer's target is not saved\n")
    notices.add(b"dockerkernel: sc (declared with var) is not kept after this cell: declare it with its type to keep it\n")
    assert notices.found == {
        "ch": "gob can't handle chan int",
        "p": "a pointer's target is not saved",
        "sc": "declare it with its type to keep it",
    }


def test_state_report_counts_variables_and_definitions_and_forgets_what_did_not_carry():
    program = NotebookProgram("go", "main.go")
    first = program.build('import "strings"\nfunc up(s string) string { return strings.ToUpper(s) }', 1)
    program.commit(first, compiled=True, succeeded=True)
    second = program.build("x := 5\nch := make(chan int)", 2)
    assert second.declared == ["x", "ch"]
    program.commit(second, compiled=True, succeeded=True)
    report = program.state_report({"ch": "gob can't handle chan int"})
    assert report["names"] == ["x"]
    assert report["carried"] == {"count": 3, "variables": 1, "definitions": 1, "imports": 1}
    assert report["not_carried"] == {"ch": "gob can't handle chan int"}
    third = program.build("ch := 1", 3)
    program.commit(third, compiled=True, succeeded=True)
    assert program.state_report({})["not_carried"] == {}
    failed = program.build("y := 2\npanic(1)", 4)
    program.commit(failed, compiled=True, succeeded=False)  # a cell that did not end well carries nothing
    assert program.state_report({})["names"] == ["x", "ch"]
    program.reset()
    assert program.state_report({})["carried"]["count"] == 0


def test_go_colon_import_of_early_gophernotes_is_an_import():
    program = NotebookProgram("go", "main.go")
    built = program.build(':import "time"', 1)
    program.commit(built, compiled=True, succeeded=True)
    assert any(d.kind == "import" and d.key.endswith(" time") for d in program.decls.values())
    later = program.build("t := time.Now()", 2).program
    assert 'import  "time"' in later and 'import _ "time"' not in later  # kept, and used by the later cell


def test_rust_main_is_renamed_where_defined_or_called_only():
    from dockerkernel.notebook_program import _rename_rust_main

    text = 'fn main() { main(); x.main(); m::main(); let s = "main()"; } // main()'
    assert _rename_rust_main(text, define=True) == 'fn dk_main() { dk_main(); x.main(); m::main(); let s = "main()"; } // main()'
    assert _rename_rust_main("impl H { fn main(&self) {} }\nmain();") == "impl H { fn main(&self) {} }\ndk_main();"


def test_a_rust_whole_program_runs_alone_and_keeps_its_items():
    program = NotebookProgram("rust", "main.rs")
    built = program.build('#![allow(unused)]\nstruct P(i32);\nfn main() {\n    println!("hi");\n}', 1)
    assert built.whole_program and "fn main()" in built.program
    program.commit(built, compiled=True, succeeded=True)
    later = program.build("main();", 2)
    assert "dk_main();" in later.program and "fn dk_main()" in later.program and "struct P(i32);" in later.program
    assert "#![" not in later.program  # a crate attribute would not compile there
    # a cell that does not call main() is not given the whole program's items (they may need
    # its %cflags, or clash with the notebook's own)
    other = program.build("let q = 1;", 3)
    assert "dk_main" not in other.program and "struct P" not in other.program
    # a whole program that did not compile keeps nothing: `main()` calls a dk_main nobody
    # defines (rustc: not found), never the cell's own `fn main`
    fresh = NotebookProgram("rust", "main.rs")
    fresh.commit(fresh.build("fn main() { nope }", 1), compiled=False, succeeded=False)
    alone = fresh.build("main();", 2).program
    assert "dk_main();" in alone and "fn dk_main" not in alone
    program.reset()
    assert "fn dk_main" not in program.build("main();", 4).program


def test_go_gophernotes_shell_lines_bodiless_funcs_and_closures():
    from dockerkernel.notebook_program import Chunk, _go_bodiless, _go_closure, _go_shell_lines

    # `$` lines open a cell; the first other line ends them; line numbers stay
    assert _go_shell_lines('$ ls -l\n\n  $ echo "a b"\nx := 1\n$ not this') == (
        'dkShell("ls -l")\n\ndkShell("echo \\"a b\\"")\nx := 1\n$ not this', True)
    assert _go_shell_lines("x := 1\n$ ls") == ("x := 1\n$ ls", False)

    def chunk(text):
        return Chunk(0, len(text), text, kind="decl", key="func " + text.split("func ")[1].split("(")[0].strip())

    assert _go_bodiless(chunk("func PNG([]byte) error"))
    assert _go_bodiless(chunk("func F(x interface{}) struct{}"))
    assert not _go_bodiless(chunk("func F() { return }"))
    # a func using a variable of its own cell becomes a closure in the same lines
    assert _go_closure(chunk("// c\nfunc inc(by int) (n int) {\n count += by\n return count\n}"), {"count"}) == (
        "var inc func(by int) (n int)\n", "// c\ninc = func(by int) (n int) {\n count += by\n return count\n}")
    assert _go_closure(chunk('func f() string { return "count" }'), {"count"}) is None  # a string, not the name
    assert _go_closure(chunk("func f() int { return other }"), {"count"}) is None
    assert _go_closure(Chunk(0, 30, "func (s S) m() int { return count }", kind="decl", key="func S.m"), {"count"}) is None
    assert _go_closure(chunk("func g[T any](x T) T { count++; return x }"), {"count"}) is None


def test_go_a_name_given_to_another_kind_replaces_it_but_const_groups_stay_apart():
    program = NotebookProgram("go", "cell.go")
    for count, cell in enumerate(["const (\n\tA = 1\n)", "const (\n\tB = 2\n)", "func foo() int { return A + B }",
                                  "func (p P) foo() {}", "type foo struct{}"], 1):
        program.commit(program.build(cell, count), compiled=True, succeeded=True)
    assert list(program.decls) == ["const const ( A = 1 )", "const const ( B = 2 )", "func P.foo", "type foo"]
