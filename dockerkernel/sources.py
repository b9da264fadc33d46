"""From a cell to a program: the documented convenience rules for compiled languages.

Pure functions (no Docker, no Jupyter). Every rule keeps the cell's line numbers, so a
compiler error on line 3 of the cell says line 3, and no rule is applied when the user wrote
the full program:

* C / C++: a cell without a ``main`` function is wrapped in ``int main(void) { ... return 0; }``
  with the common headers included (C: stdio, stdlib, string, math, stdint, stdbool, ctype,
  time; C++: iostream, string, vector, map, set, algorithm, numeric, cmath, memory, ... and
  ``using namespace std``); its ``#include`` lines are
  moved above ``main``.
* Go: a cell without a ``package`` clause gets ``package main``.
* Rust: a cell without ``fn main`` becomes the body of ``fn main``.
* Java: the class is named after the first ``public class`` (else the first class with a
  ``main`` method); a cell without any class becomes the body of ``main`` in class ``Main``,
  its ``import`` lines moved in front of it.
"""

from __future__ import annotations

import re

_C_MAIN = re.compile(r"\bmain\s*\(")
_GO_PACKAGE = re.compile(r"^\s*package\s+\w+", re.MULTILINE)
_RUST_MAIN = re.compile(r"\bfn\s+main\s*\(")
_JAVA_PUBLIC_CLASS = re.compile(r"\bpublic\s+(?:final\s+|abstract\s+)*(?:class|record|enum|interface)\s+([A-Za-z_$][\w$]*)")
_JAVA_CLASS = re.compile(r"\b(?:class|record|enum|interface)\s+([A-Za-z_$][\w$]*)")
_JAVA_MAIN = re.compile(r"\bstatic\s+void\s+main\s*\(")

C_PRELUDE = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n#include <stdint.h>\n#include <stdbool.h>\n#include <ctype.h>\n#include <time.h>\n"
# the usual headers, not <bits/stdc++.h>: that one alone costs seconds of compile time per cell
CPP_PRELUDE = (
    "#include <iostream>\n#include <iomanip>\n#include <sstream>\n#include <string>\n#include <vector>\n"
    "#include <map>\n#include <set>\n#include <unordered_map>\n#include <algorithm>\n#include <numeric>\n"
    "#include <cmath>\n#include <cstdio>\n#include <cstdlib>\n#include <memory>\nusing namespace std;\n"
)


def _strip_comments(code: str) -> str:
    """C-family source without comments and string literals (for detecting declarations)."""
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.DOTALL)
    code = re.sub(r"//[^\n]*", "", code)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', code)


def wrap_c_family(code: str, file_name: str, prelude: str) -> str:
    """C/C++: wrap statement-only cells in ``main`` (line numbers kept with ``#line``)."""
    if _C_MAIN.search(_strip_comments(code)):
        return f'#line 1 "{file_name}"\n{code}'
    lines = code.split("\n")
    includes = []
    for index, line in enumerate(lines):
        if line.lstrip().startswith("#include"):
            includes.append(line.strip())
            lines[index] = ""
    head = prelude + "\n".join(includes) + "\nint main(void) {\n"
    return f'{head}#line 1 "{file_name}"\n' + "\n".join(lines) + "\n;return 0;\n}\n"


def wrap_go(code: str, file_name: str) -> str:
    """Go: add ``package main`` when the cell has no package clause."""
    if _GO_PACKAGE.search(_strip_comments(code)):
        return code
    return f"package main\n//line {file_name}:1\n{code}"


def wrap_rust(code: str) -> str:
    """Rust: statement-only cells become the body of ``fn main`` (same first line)."""
    if _RUST_MAIN.search(_strip_comments(code)):
        return code
    return "fn main() { " + code + "\n}\n"


def java_class_name(code: str) -> str | None:
    """The class a Java cell defines (public first, else the one with ``main``)."""
    clean = _strip_comments(code)
    match = _JAVA_PUBLIC_CLASS.search(clean)
    if match:
        return match.group(1)
    names = _JAVA_CLASS.findall(clean)
    if not names:
        return None
    main_at = _JAVA_MAIN.search(clean)
    if main_at:
        before = [m for m in _JAVA_CLASS.finditer(clean) if m.start() < main_at.start()]
        if before:
            return before[-1].group(1)
    return names[0]


def wrap_java(code: str) -> tuple[str, str]:
    """Java: (source, class name); statement-only cells go into ``Main.main``."""
    name = java_class_name(code)
    if name:
        return code, name
    lines = code.split("\n")
    imports = []
    for index, line in enumerate(lines):
        if line.lstrip().startswith("import "):
            imports.append(line.strip())
            lines[index] = ""
    first = " ".join(imports) + " public class Main { public static void main(String[] args) throws Exception { "
    return first + "\n".join(lines) + "\n}}\n", "Main"


def prepare(wrapper: str, code: str, source_file: str) -> tuple[str, str]:
    """Apply a language's wrapper rule: (program source, file name to write it to)."""
    if wrapper == "c":
        return wrap_c_family(code, source_file, C_PRELUDE), source_file
    if wrapper == "cpp":
        return wrap_c_family(code, source_file, CPP_PRELUDE), source_file
    if wrapper == "go":
        return wrap_go(code, source_file), source_file
    if wrapper == "rust":
        return wrap_rust(code), source_file
    if wrapper == "java":
        source, name = wrap_java(code)
        return source, f"{name}.java"
    return code, source_file
