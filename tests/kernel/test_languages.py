"""The Ruby, C, C++, Go, Rust and Java kernels, against the real Docker daemon.

Two parts:

* one ``jupyter_kernel_test.KernelTests`` subclass per kernelspec (hello world, stderr, one
  ``error`` message, completion and is_complete samples, language_info for editors), built on
  ``test_conformance.DockerKernelTests`` so inherited tests that would only skip stay removed;
* per-language behaviour, parametrized: a compile error on line 3 of a cell is reported as
  line 3 of ``Cell In[n]`` (whole program, statements-only cell, and after a magic line),
  warning-only compiles run, every convenience rule works and is not applied to a full
  program, ``%cflags`` and the ``compile_flags`` traitlet reach the compiler, an endless loop
  ends with ``CellTimeout``, a fork bomb with a limit error, and the next cell runs each time.

All kernels of this module are started once (``kernel_for``) and shared by the conformance
class and the parametrized tests of the same language; tests that change a setting with a
magic put it back. After the module, none of these kernels' containers or volumes remain.
"""

from __future__ import annotations

import re

import pytest

from tests.support import KernelHandle, leftovers_of_kernels, wait_until
from tests.support.conformance import TIMEOUT, DockerKernelTests

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

LANGS = ("ruby", "c", "cpp", "go", "rust", "java")
COMPILED = ("c", "cpp", "go", "rust", "java")
# what a cell that exceeds a limit may end with (README "How a cell can end")
LIMIT_ERRORS = {"PidsLimitExceeded", "CellTimeout", "OutOfMemory"}

# One kernel per language for the whole module (conformance class and parametrized tests).
_KERNELS: dict[str, KernelHandle] = {}
_STARTED_PIDS: set[int] = set()


def kernel_for(lang: str, *extra: str) -> KernelHandle:
    """The module's kernel of ``docker-<lang>`` (extra argv: a separate kernel)."""
    key = " ".join((lang, *extra))
    if key not in _KERNELS:
        handle = KernelHandle(f"docker-{lang}", list(extra) or None)
        _STARTED_PIDS.add(handle.pid())
        _KERNELS[key] = handle
    return _KERNELS[key]


@pytest.fixture(scope="module", autouse=True)
def shared_kernels():
    """Shut the module's kernels down at the end; their objects must all be gone."""
    yield
    for handle in list(_KERNELS.values()):
        handle.shutdown()
    _KERNELS.clear()
    assert wait_until(lambda: not leftovers_of_kernels(_STARTED_PIDS), timeout=30), leftovers_of_kernels(_STARTED_PIDS)


@pytest.fixture
def kernel(request):
    """The shared kernel of the test's ``lang`` parameter."""
    return kernel_for(request.getfixturevalue("lang"))


def assert_ok(result, stdout: str | None = None) -> None:
    assert result.status == "ok", (result.reply["content"], result.stream("stderr"))
    assert not result.of_type("error"), result.of_type("error")
    if stdout is not None:
        assert result.stream() == stdout, (result.stream(), result.stream("stderr"))


def assert_error(result, ename: str) -> dict:
    """Exactly one error message, with ``ename``, matching the reply."""
    content = result.reply["content"]
    assert result.status == "error", (content, result.stream(), result.stream("stderr"))
    assert content["ename"] == ename, content
    errors = result.of_type("error")
    assert len(errors) == 1, errors
    assert errors[0]["content"]["ename"] == ename
    return content


# ---- conformance: one KernelTests class per kernel --------------------------------------------------


class SharedKernelTests(DockerKernelTests):
    """A conformance class on the module's shared kernel of ``language_name``."""

    __test__ = False
    # A cell of these languages is a program, not an expression: no execute_result to test.
    test_execute_result = None
    mimetype = ""
    codemirror_mode = ""
    version_prefix = ""

    @classmethod
    def setUpClass(cls):
        handle = kernel_for(cls.kernel_name.removeprefix("docker-"))
        cls.km, cls.kc = handle.km, handle.kc

    @classmethod
    def tearDownClass(cls):
        """The module fixture shuts the shared kernel down."""

    def test_language_info_for_editors(self):
        """JupyterLab's highlighting and nbconvert's file extension come from language_info."""
        self.flush_channels()
        self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)
        info = reply["content"]["language_info"]
        assert info["name"] == self.language_name
        assert info["file_extension"] == self.file_extension
        assert info["mimetype"] == self.mimetype
        assert info["codemirror_mode"] == self.codemirror_mode
        # Debian bookworm's toolchain, read from the image
        assert info["version"].startswith(self.version_prefix), info


class TestDockerRuby(SharedKernelTests):
    __test__ = True
    kernel_name = "docker-ruby"
    language_name = "ruby"
    file_extension = ".rb"
    mimetype = "text/x-ruby"
    codemirror_mode = "ruby"
    version_prefix = "3.1."

    code_hello_world = 'puts "hello, world"'
    code_stderr = '$stderr.puts "oops"'
    # an uncaught Ruby exception also prints its message on stderr (a second output message),
    # so the one-message sample is an exit status
    code_generate_error = "exit 3"
    error_name = "ExitCode"
    code_write_zebra = 'File.write("zebra_notes.txt", "z")'

    # rich output from any language: the image's `display` command, run by the program
    code_display_data = [{"code": 'system("echo \'<b>x</b>\' | display --html -")', "mime": "text/html"}]
    code_clear_output = 'puts "soon gone"\n$stdout.flush\nsystem("display --clear")'

    completion_samples = [
        {"text": "pu", "matches": {"puts"}},
        {"text": "x = ni", "matches": {"nil"}},
        {"text": "unl", "matches": {"unless"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        'puts "hi"',
        "def f(x)\n  x * 2\nend",
        "[1, 2].each do |x|\n  puts x\nend",
        "x = 1 # a comment (with a bracket",
    ]
    incomplete_code_samples = ["def f(x)", "[1, 2].each do |x|", "if true", "x = [1,"]
    invalid_code_samples = ["end", "puts(1))"]


class TestDockerC(SharedKernelTests):
    __test__ = True
    kernel_name = "docker-c"
    language_name = "c"
    file_extension = ".c"
    mimetype = "text/x-csrc"
    codemirror_mode = "text/x-csrc"
    version_prefix = "12."

    code_hello_world = 'printf("hello, world\\n");'
    code_stderr = 'fprintf(stderr, "oops\\n");'
    code_generate_error = "int x = ;"
    error_name = "CompileError"
    code_write_zebra = 'FILE *f = fopen("zebra_notes.txt", "w");\nfputs("z", f);\nfclose(f);'

    code_display_data = [{"code": 'system("echo \'<b>x</b>\' | display --html -");', "mime": "text/html"}]
    code_clear_output = 'puts("soon gone");\nfflush(stdout);\nsystem("display --clear");'

    completion_samples = [
        {"text": "prin", "matches": {"printf"}},
        {"text": "whi", "matches": {"while"}},
        {"text": "int n = siz", "matches": {"sizeof"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        'printf("hi\\n");',
        "int main(void) {\n  return 0;\n}",
        "char c = '}';",
        "// a comment (with a bracket\nint x = 1;",
    ]
    incomplete_code_samples = ["int main(void) {", "int a[] = {1,", "/* open comment", "printf(\"%d\",\n"]
    invalid_code_samples = ["}", "f(]", '"unterminated']


class TestDockerCpp(SharedKernelTests):
    __test__ = True
    kernel_name = "docker-cpp"
    language_name = "c++"  # language_info's name, as the reference C++ kernel (xeus-cling) says
    file_extension = ".cpp"
    mimetype = "text/x-c++src"
    codemirror_mode = "text/x-c++src"
    version_prefix = "12."

    code_hello_world = 'cout << "hello, world" << endl;'
    code_stderr = 'cerr << "oops" << endl;'
    code_generate_error = 'int x = "s";'
    error_name = "CompileError"
    code_write_zebra = '#include <fstream>\nstd::ofstream("zebra_notes.txt") << "z";'

    code_display_data = [{"code": 'system("echo \'<b>x</b>\' | display --html -");', "mime": "text/html"}]
    code_clear_output = 'cout << "soon gone" << endl;\nsystem("display --clear");'

    completion_samples = [
        {"text": "nullp", "matches": {"nullptr"}},
        {"text": "templ", "matches": {"template"}},
        {"text": "auto v = vec", "matches": {"vector"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        'cout << "hi" << endl;',
        "template <typename T>\nT twice(T x) { return x * 2; }",
        "char c = '{';",
    ]
    incomplete_code_samples = ["class A {", "vector<int> v = {1,", "/* open comment"]
    invalid_code_samples = ["}", "f(]", '"unterminated']


class TestDockerGo(SharedKernelTests):
    __test__ = True
    kernel_name = "docker-go"
    language_name = "go"
    file_extension = ".go"
    mimetype = "text/x-go"
    codemirror_mode = "text/x-go"
    version_prefix = "1.19"

    code_hello_world = 'import "fmt"\nfunc main() { fmt.Println("hello, world") }'
    code_stderr = 'import (\n\t"fmt"\n\t"os"\n)\nfunc main() { fmt.Fprintln(os.Stderr, "oops") }'
    code_generate_error = "func main() { x := 1 }"  # declared and not used
    error_name = "CompileError"
    code_write_zebra = 'import "os"\nfunc main() { os.WriteFile("zebra_notes.txt", []byte("z"), 0o644) }'

    code_display_data = [{
        "code": 'import (\n\t"os"\n\t"os/exec"\n)\nfunc main() {\n\tc := exec.Command("sh", "-c", "echo \'<b>x</b>\' | display --html -")\n'
                '\tc.Stdout = os.Stdout\n\tc.Run()\n}',
        "mime": "text/html",
    }]
    code_clear_output = (
        'import (\n\t"fmt"\n\t"os"\n\t"os/exec"\n)\nfunc main() {\n\tfmt.Println("soon gone")\n'
        '\tc := exec.Command("display", "--clear")\n\tc.Stdout = os.Stdout\n\tc.Run()\n}'
    )

    completion_samples = [
        {"text": "fun", "matches": {"func"}},
        {"text": "fallt", "matches": {"fallthrough"}},
        {"text": "for i := ran", "matches": {"range"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        'import "fmt"\nfunc main() {\n\tfmt.Println(1)\n}',
        "x := `raw\nstring`",
        "r := '}'",
    ]
    incomplete_code_samples = ["func main() {", "x := `open raw string", "xs := []int{1,"]
    invalid_code_samples = ["}", "f(]", '"unterminated']


class TestDockerRust(SharedKernelTests):
    __test__ = True
    kernel_name = "docker-rust"
    language_name = "rust"
    file_extension = ".rs"
    mimetype = "text/rust"
    codemirror_mode = "rust"
    version_prefix = "1.63"

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("oops");'
    code_generate_error = 'let x: i32 = "s";'
    error_name = "CompileError"
    code_write_zebra = 'std::fs::write("zebra_notes.txt", "z").unwrap();'

    code_display_data = [{
        "code": 'std::process::Command::new("sh").args(["-c", "echo \'<b>x</b>\' | display --html -"]).status().unwrap();',
        "mime": "text/html",
    }]
    code_clear_output = 'println!("soon gone");\nstd::process::Command::new("display").arg("--clear").status().unwrap();'

    completion_samples = [
        {"text": "prin", "matches": {"println"}},
        {"text": "mat", "matches": {"match"}},
        {"text": "let x = So", "matches": {"Some"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        'println!("hi");',
        "fn first<'a>(x: &'a str) -> &'a str { x }",  # lifetimes are not char literals
        "let c = '}';",
    ]
    incomplete_code_samples = ["fn main() {", "let v = vec![1,", "/* open comment"]
    invalid_code_samples = ["}", "f(]", '"unterminated']


class TestDockerJava(SharedKernelTests):
    __test__ = True
    kernel_name = "docker-java"
    language_name = "java"
    file_extension = ".java"
    mimetype = "text/x-java"
    codemirror_mode = "text/x-java"
    version_prefix = "17"

    code_hello_world = 'System.out.println("hello, world");'
    code_stderr = 'System.err.println("oops");'
    code_generate_error = 'int x = "s";'
    error_name = "CompileError"
    code_write_zebra = 'java.nio.file.Files.writeString(java.nio.file.Path.of("zebra_notes.txt"), "z");'

    code_display_data = [{
        "code": 'new ProcessBuilder("sh", "-c", "echo \'<b>x</b>\' | display --html -").inheritIO().start().waitFor();',
        "mime": "text/html",
    }]
    code_clear_output = 'System.out.println("soon gone");\nSystem.out.flush();\nnew ProcessBuilder("display", "--clear").inheritIO().start().waitFor();'

    completion_samples = [
        {"text": "Syst", "matches": {"System"}},
        {"text": "interf", "matches": {"interface"}},
        {"text": "if (o instan", "matches": {"instanceof"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        "System.out.println(1);",
        "public class A {\n  public static void main(String[] a) {}\n}",
        "char c = '{';",
    ]
    incomplete_code_samples = ["public class A {", "int[] a = {1,", "/* open comment"]
    invalid_code_samples = ["}", "f(]", '"unterminated']


# ---- compile errors name the cell and its line -----------------------------------------------------------

# (language, form) -> a cell whose only error is on line 3
LINE3_ERRORS = {
    ("c", "program"): "#include <stdio.h>\nint main(void) {\n  int x = undefined_name;\n  return x;\n}\n",
    ("c", "statements"): "int a = 1;\nint b = a + 1;\nint c = undefined_name;\n",
    ("c", "after-magic"): "%timeout 30\nint a = 1;\nint c = undefined_name + a;\n",
    ("cpp", "program"): "#include <iostream>\nint main() {\n  std::cout << undefined_name;\n}\n",
    ("cpp", "statements"): "vector<int> v{1, 2};\nint n = v.size();\nstring s = n;\n",
    ("cpp", "after-magic"): "%timeout 30\nint a = 1;\nstring s = a;\n",
    ("go", "program"): 'package main\nimport "fmt"\nfunc main() { var x int = "s"; fmt.Println(x) }\n',
    ("go", "no-package"): 'import "fmt"\nfunc main() {\n\tvar x int = "s"\n\tfmt.Println(x)\n}\n',
    ("go", "after-magic"): '%timeout 30\nimport "fmt"\nfunc main() { var x int = "s"; fmt.Println(x) }\n',
    ("rust", "program"): 'fn main() {\n    let x: i32 = 1;\n    let y: i32 = "s";\n    println!("{} {}", x, y);\n}\n',
    ("rust", "statements"): 'let x: i32 = 1;\nlet z = x + 1;\nlet y: i32 = "s";\nprintln!("{} {} {}", x, y, z);\n',
    ("rust", "after-magic"): '%timeout 30\nlet x: i32 = 1;\nlet y: i32 = "s";\nprintln!("{} {}", x, y);\n',
    ("java", "program"): "public class Foo {\n    public static void main(String[] a) {\n        int x = \"s\";\n    }\n}\n",
    ("java", "statements"): 'import java.util.*;\nList<Integer> l = new ArrayList<>();\nint x = "s";\n',
    ("java", "after-magic"): '%timeout 30\nint a = 1;\nint x = "s";\n',
}


@pytest.mark.parametrize(("lang", "form"), list(LINE3_ERRORS), ids=[f"{a}-{b}" for a, b in LINE3_ERRORS])
def test_compile_error_on_line_3_is_reported_as_line_3(kernel, lang, form):
    """One CompileError; its diagnostics show the file as ``Cell In[n]`` and the error at line 3."""
    result = kernel.run(LINE3_ERRORS[lang, form])
    content = assert_error(result, "CompileError")
    count = content["execution_count"]
    traceback = "\n".join(content["traceback"])
    label = f"Cell In[{count}]"
    assert label in traceback, traceback
    # the first place the diagnostics point to in the cell is its line 3
    lines = re.findall(re.escape(label) + r":(\d+)", traceback)
    assert lines and lines[0] == "3", traceback
    # the compiler's own file names are not shown (the user never saw them)
    assert "/tmp/dk" not in traceback, traceback
    assert content["evalue"], content
    # diagnostics go into the one error message only, not onto stdout/stderr as well
    assert not result.stream() and not result.stream("stderr"), (result.stream(), result.stream("stderr"))
    assert result.reply["metadata"]["dockerkernel"]["outcome"] == "compile"


@pytest.mark.parametrize("lang", COMPILED)
def test_compile_error_evalue_is_a_diagnostic(kernel, lang):
    """The one-line summary (``evalue``, what JupyterLab shows next to ``CompileError``) is a
    diagnostic of the cell, not a compiler banner such as go's ``# command-line-arguments``."""
    form = "no-package" if lang == "go" else "statements"
    content = assert_error(kernel.run(LINE3_ERRORS[lang, form]), "CompileError")
    evalue = content["evalue"]
    assert "Cell In[" in evalue or "error" in evalue.lower(), content
    assert evalue in "\n".join(content["traceback"]), content


# (issue 13: a top-level variable is carried to the next cell, so it is used and "unused variable"
# no longer applies; these warnings do not depend on it)
WARNING_ONLY = {
    "c": ('printf("start\\n");\nint big = 1 << 40;\nprintf("ran\\n");', "shift count"),
    "cpp": ('cout << "start" << endl;\nint big = 1 << 40;\ncout << "ran" << endl;', "shift count"),
    "rust": ('println!("start");\nlet parens = (3);\nprintln!("ran");', "unnecessary parentheses"),
}


@pytest.mark.parametrize("lang", list(WARNING_ONLY))
def test_warning_only_compile_still_runs(kernel, lang):
    """A compile with warnings runs the program; the warnings (line 2 of the cell) go to stderr."""
    code, warning = WARNING_ONLY[lang]
    result = kernel.run(code)
    assert_ok(result, "start\nran\n")
    stderr = result.stream("stderr")
    assert warning in stderr, stderr
    assert re.search(r":2:\d+", stderr), f"the warning does not name line 2 of the cell: {stderr!r}"


# ---- convenience rules, and never on a full program ----------------------------------------------------------

CONVENIENCE = {
    # statements only: wrapped in main, own #include lines moved above it
    "c-statements": ("c", '#include <unistd.h>\nint a = 6;\nprintf("%d %d\\n", a * 7, getpid() > 0);', "42 1\n"),
    # a full program with its own main and a helper function is compiled as written: if it
    # were wrapped, gcc would accept the nested functions and print nothing
    "c-full-program": (
        "c",
        '#include <stdio.h>\nstatic int helper(int a) { return a * 2; }\n'
        'int main(void) {\n  printf("%d\\n", helper(21));\n  return 0;\n}\n',
        "42\n",
    ),
    "cpp-statements": ("cpp", "vector<int> v{1, 2, 3};\ncout << accumulate(v.begin(), v.end(), 0) << endl;", "6\n"),
    "cpp-full-program": (
        "cpp",
        "#include <iostream>\ntemplate <typename T> T twice(T x) { return x * 2; }\n"
        "struct S { int v = 21; };\nint main() {\n  S s;\n  std::cout << twice(s.v) << std::endl;\n  return 0;\n}\n",
        "42\n",
    ),
    "go-without-package": ("go", 'import "fmt"\nfunc main() { fmt.Println("no package clause") }', "no package clause\n"),
    "go-full-program": (
        "go",
        '// a comment first\npackage main\n\nimport "fmt"\n\ntype pair struct{ a, b int }\n\n'
        "func (p pair) sum() int { return p.a + p.b }\n\nfunc main() { fmt.Println(pair{40, 2}.sum()) }\n",
        "42\n",
    ),
    "rust-statements": ("rust", "let v: Vec<i32> = (1..=3).collect();\nprintln!(\"{}\", v.iter().sum::<i32>());", "6\n"),
    # with fn main and a struct: if it were wrapped, the inner main would never be called
    "rust-full-program": (
        "rust",
        "struct Point { x: i32, y: i32 }\nimpl Point {\n    fn sum(&self) -> i32 { self.x + self.y }\n}\n"
        'fn main() {\n    let p = Point { x: 40, y: 2 };\n    println!("{}", p.sum());\n}\n',
        "42\n",
    ),
    "java-statements": (
        "java",
        "import java.util.*;\nList<Integer> l = new ArrayList<>(List.of(3, 1, 2));\nCollections.sort(l);\nSystem.out.println(l);",
        "[1, 2, 3]\n",
    ),
    "java-public-class-any-name": (
        "java",
        'public class Greeter {\n  static String greet(String n) { return "hi " + n; }\n'
        '  public static void main(String[] args) { System.out.println(greet("ada")); }\n}\n',
        "hi ada\n",
    ),
    "java-helper-class-before-public-class": (
        "java",
        "class Helper { static int two() { return 2; } }\n"
        "public class Zed { public static void main(String[] a) { System.out.println(Helper.two() * 21); } }\n",
        "42\n",
    ),
    "java-class-with-main-not-public": (
        "java",
        "class Solo {\n  public static void main(String[] a) { System.out.println(\"solo\"); }\n}\n",
        "solo\n",
    ),
}


@pytest.mark.parametrize(("lang", "code", "stdout"), list(CONVENIENCE.values()), ids=list(CONVENIENCE))
def test_convenience_rule(kernel, lang, code, stdout):
    assert_ok(kernel.run(code), stdout)


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_full_program_exit_status_is_its_own(kernel, lang):
    """A full program's ``return 3`` from main is the cell's exit status (it was not wrapped)."""
    code = "#include <stdio.h>\nint main(void) {\n  puts(\"mine\");\n  return 3;\n}\n"
    result = kernel.run(code)
    content = assert_error(result, "ExitCode")
    assert "3" in content["evalue"]
    assert result.stream() == "mine\n"
    assert result.reply["metadata"]["dockerkernel"]["exit_code"] == 3


# ---- compiler flags: %cflags and the compile_flags traitlet ----------------------------------------------------

CFLAGS = {
    "c": ("-O2 -lm -DANSWER=42", 'printf("%d %.3f\\n", ANSWER, sqrt(2.0));', "42 1.414\n", 'printf("%d\\n", ANSWER);'),
    "cpp": ("-O2 -DANSWER=42", "cout << ANSWER << endl;", "42\n", "cout << ANSWER << endl;"),
    "go": (
        "-ldflags=-X=main.answer=42",
        'import "fmt"\nvar answer = "unset"\nfunc main() { fmt.Println(answer) }',
        "42\n",
        None,
    ),
    "rust": (
        "-C opt-level=2 --cfg answer",
        "#[cfg(answer)]\nconst ANSWER: i32 = 42;\nfn main() { println!(\"{}\", ANSWER); }",
        "42\n",
        "#[cfg(answer)]\nconst ANSWER: i32 = 42;\nfn main() { println!(\"{}\", ANSWER); }",
    ),
}


@pytest.mark.parametrize("lang", list(CFLAGS))
def test_cflags_magic_reaches_the_compiler(kernel, lang):
    flags, code, stdout, without = CFLAGS[lang]
    try:
        assert_ok(kernel.run(f"%cflags {flags}"))
        assert_ok(kernel.run(code), stdout)
    finally:
        assert_ok(kernel.run("%cflags"))  # back to the language's default flags
    if without is not None:
        # without the flag the same source no longer compiles: the flag was what made it work
        assert_error(kernel.run(without), "CompileError")
    else:
        assert_ok(kernel.run(code), "unset\n")


def test_cflags_magic_reaches_javac():
    """javac gets the flags too: -Xlint:all -Werror turns a raw-type warning into a CompileError."""
    handle = kernel_for("java")
    code = "java.util.List l = new java.util.ArrayList();\nl.add(1);\nSystem.out.println(l);"
    assert_ok(handle.run(code), "[1]\n")
    try:
        assert_ok(handle.run("%cflags -Xlint:all -Werror"))
        content = assert_error(handle.run(code), "CompileError")
        assert "unchecked" in "\n".join(content["traceback"]), content
    finally:
        assert_ok(handle.run("%cflags"))
    assert_ok(handle.run(code), "[1]\n")


def test_compile_flags_traitlet_from_argv():
    """``--DockerKernel.compile_flags=...`` in the kernelspec argv reaches gcc."""
    handle = kernel_for("c", "--DockerKernel.compile_flags=-DANSWER=42 -lm")
    assert_ok(handle.run('printf("%d %.1f\\n", ANSWER, floor(2.5));'), "42 2.0\n")


# ---- limits: endless loops and fork bombs end, and the next cell runs ----------------------------------------------

ENDLESS = {
    "ruby": "loop { }",
    "c": "while (1) { }",
    "cpp": "volatile long n = 0;\nwhile (true) { n++; }",
    "go": "package main\nfunc main() {\n\tfor {\n\t}\n}",
    "rust": "let mut n: u64 = 0;\nloop { n = n.wrapping_add(1); }",
    "java": "long n = 0;\nwhile (true) { n++; }",
}
HELLO = {
    "ruby": 'puts "next"',
    "c": 'puts("next");',
    "cpp": 'cout << "next" << endl;',
    "go": 'import "fmt"\nfunc main() { fmt.Println("next") }',
    "rust": 'println!("next");',
    "java": 'System.out.println("next");',
}


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGS)
def test_endless_loop_is_a_cell_timeout(kernel, lang):
    try:
        result = kernel.run(f"%timeout 3\n{ENDLESS[lang]}", timeout=90)  # no-hang bound
        content = assert_error(result, "CellTimeout")
        assert "3 s" in content["evalue"]
        assert result.reply["metadata"]["dockerkernel"]["outcome"] == "timeout"
    finally:
        assert_ok(kernel.run("%timeout 30"))
    assert_ok(kernel.run(HELLO[lang]), "next\n")


# Observed on runc / cgroup v1 (this daemon): every one of these ends with PidsLimitExceeded.
FORK_BOMBS = {
    "ruby": "loop { fork }",
    "c": "#include <unistd.h>\nwhile (1) fork();",
    "cpp": "#include <unistd.h>\nwhile (true) fork();",
    "go": 'package main\nimport "syscall"\nfunc main() {\n\tfor {\n\t\tsyscall.RawSyscall(syscall.SYS_FORK, 0, 0, 0)\n\t}\n}',
    "go-exec": 'package main\nimport "os/exec"\nfunc main() {\n\tfor {\n\t\tif err := exec.Command("sleep", "100").Start(); err != nil {\n\t\t\tpanic(err)\n\t\t}\n\t}\n}',
    "rust": 'let mut kids = Vec::new();\nloop { kids.push(std::process::Command::new("sleep").arg("100").spawn().unwrap()); }',
    "rust-threads": "let mut ts = Vec::new();\nloop { ts.push(std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(100)))); }",
    "java": 'java.util.List<Process> ps = new java.util.ArrayList<>();\nwhile (true) ps.add(new ProcessBuilder("sleep", "100").start());',
    "java-threads": "while (true) {\n  Thread t = new Thread(() -> { try { Thread.sleep(100000); } catch (Exception e) {} });\n  t.start();\n}",
}


@pytest.mark.slow
@pytest.mark.parametrize("bomb", list(FORK_BOMBS))
def test_fork_bomb_ends_with_a_limit_error(bomb):
    lang = bomb.split("-")[0]
    handle = kernel_for(lang)
    result = handle.run(FORK_BOMBS[bomb], timeout=90)  # the 30 s cell limit, plus room
    content = result.reply["content"]
    assert result.status == "error", (content, result.stream(), result.stream("stderr"))
    assert content["ename"] in LIMIT_ERRORS, content
    assert [m["content"]["ename"] for m in result.of_type("error")] == [content["ename"]]
    assert content["evalue"], content
    assert_ok(handle.run(HELLO[lang]), "next\n")


# ---- exception names read from the program's stderr --------------------------------------------------------------

EXCEPTIONS = {
    "ruby-NameError": ("ruby", "undefined_name_xyz", "NameError", "undefined_name_xyz"),
    "ruby-NoMethodError": ("ruby", "nil.frobnicate", "NoMethodError", "frobnicate"),
    "java-ArithmeticException": ("java", "int zero = 0;\nint a = 1 / zero;", "java.lang.ArithmeticException", "/ by zero"),
    "go-panic": ("go", 'package main\nfunc main() { panic("boom") }', "Panic", "boom"),
    "rust-panic": ("rust", 'panic!("boom");', "Panic", "boom"),
}


@pytest.mark.parametrize(("lang", "code", "ename", "evalue"), list(EXCEPTIONS.values()), ids=list(EXCEPTIONS))
def test_exception_name_is_read(lang, code, ename, evalue):
    handle = kernel_for(lang)
    result = handle.run(code)
    content = assert_error(result, ename)
    assert evalue in content["evalue"], content
    # the program's own message and traceback are shown once, inside the error (not also on stderr)
    assert evalue in "\n".join(content["traceback"]), content
    assert result.stream("stderr") == "", result.messages
