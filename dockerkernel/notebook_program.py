"""The notebook is one program: accumulated declarations for the compiled languages.

Pure (no Docker, no Jupyter). One ``NotebookProgram`` per compiled language of a session
(C, C++, Go, Rust, Java; a polyglot kernel has one per language). For every cell,
``build(cell, execution_count)`` splits the cell into *declarations* (includes/imports,
functions, types, constants), *statements* and a *trailing expression*, and returns the
whole program to compile: the declarations kept from earlier cells, the cell's own, and an
entry point that runs the cell's statements, shows the trailing expression's value as an
``execute_result`` and, at its end, saves the values of the variables its statements declared
(and of those it restored) under ``/workspace/.dockerkernel/<language>/``. ``commit(built,
outcome)`` keeps the cell's declarations once it compiled (a cell that failed to compile adds
nothing), replacing earlier ones of the same name.

Values are restored at the start of the next program from what the previous one saved; how,
and what carries, per language:

* C: variables of scalar types, fixed-size arrays of them and structs without pointers
  (their bytes), ``char *`` (as a string). The kernel knows the types (C spells them).
* C++: numbers, ``bool``, ``char``, ``std::string``, and ``vector``/``array``/``deque``/
  ``list``/``set``/``map``/``unordered_*``/``pair``/``tuple``/``optional`` of those, by a text
  codec; the program writes the declarations of what it saved (``state.hpp``), since only the
  compiler knows what ``auto`` became.
* Go: whatever ``encoding/gob`` encodes; the program writes ``dkvars.go`` (package-level
  variables, their ``init`` restoring them) for the next build.
* Rust: numbers, ``bool``, ``char``, ``String``, ``&str``, ``Vec``, ``VecDeque``, ``Option``,
  tuples, ``HashMap``/``BTreeMap``/``HashSet``/``BTreeSet`` of those; the program writes one
  ``include!``-able restore expression per variable (with its type).
* Java: top-level variables are static fields (as in JShell); primitives, ``String`` and
  ``Serializable`` values carry (``ObjectOutputStream``); the program writes ``DkVars.java``,
  the superclass of the next cell's ``Main`` that declares and restores them.

What cannot be carried is named once on stderr by the program that declared it.

Line numbers: the cell's lines keep their numbers (C/C++ ``#line``, Go ``//line``; Java and
Rust keep the cell in place and put kept code after it), so diagnostics say ``Cell In[n]``
and the cell's own line. ``Built.relabel`` maps a kept line back to its own cell.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from . import sources

STATE_ROOT = "/workspace/.dockerkernel"
NOTEBOOK_MARK = "dockerkernel notebook program"  # dkbuild.py recognises the programs it may complete

# ---------------------------------------------------------------------------------------------
# Scanning: C-family text split into top-level chunks (statements / declarations)
# ---------------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """One top-level piece of a cell: ``text[start:end]`` of the cell."""

    start: int
    end: int
    text: str
    kind: str = "statement"  # statement | decl | include | import | trailing | main
    key: str = ""  # the name a declaration defines (for replacement)
    names: tuple[str, ...] = ()  # variables a statement declares
    terminated: bool = True  # False: the cell ended inside it (no ';' or closing block)


_OPEN = {"(": ")", "[": "]", "{": "}"}
_CONTROL = ("if", "for", "while", "switch", "do", "try", "else", "match", "loop", "unsafe", "select", "synchronized")


def _skip_literal(text: str, i: int, lang: str) -> int:
    """If a comment or literal starts at ``i``, the index after it; else ``i``."""
    c = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if c == "/" and nxt == "/":
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    if c == "/" and nxt == "*":
        if lang == "rust":  # nested block comments
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            return j
        end = text.find("*/", i + 2)
        return len(text) if end < 0 else end + 2
    if lang == "cpp" and c == "R" and nxt == '"' and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
        m = re.match(r'R"([^()\\\s]{0,16})\(', text[i:])
        if m:
            end = text.find(")" + m.group(1) + '"', i + m.end())
            return len(text) if end < 0 else end + len(m.group(1)) + 2
    if lang == "rust" and c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
        m = re.match(r'b?r(#*)"', text[i:])
        if m:
            end = text.find('"' + m.group(1), i + m.end())
            return len(text) if end < 0 else end + 1 + len(m.group(1))
    if lang == "java" and text.startswith('"""', i):
        end = text.find('"""', i + 3)
        return len(text) if end < 0 else end + 3
    if lang == "go" and c == "`":
        end = text.find("`", i + 1)
        return len(text) if end < 0 else end + 1
    if c == '"' or (c == "'" and lang != "rust"):
        j = i + 1
        while j < len(text) and text[j] != c and text[j] != "\n":
            j += 2 if text[j] == "\\" else 1
        return min(j + 1, len(text))
    if c == "'" and lang == "rust":
        # a char literal ('x', '\n', '\u{1F600}') or a lifetime ('a)
        m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'", text[i:])
        return i + m.end() if m else i + 1
    return i


def blank_literals(text: str, lang: str) -> str:
    """``text`` with comments and literals replaced by spaces (same length, newlines kept)."""
    out, i = [], 0
    while i < len(text):
        j = _skip_literal(text, i, lang)
        if j > i:
            piece = text[i:j]
            if piece[0] in "\"'`Rrb" and not piece.startswith("//") and not piece.startswith("/*"):
                out.append(piece[0] + re.sub(r"[^\n]", " ", piece[1:-1]) + piece[-1] if len(piece) > 1 else piece)
            else:
                out.append(re.sub(r"[^\n]", " ", piece))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_chunks(text: str, lang: str) -> list[Chunk]:
    """Top-level chunks of a C-family cell (C, C++, Java, Rust; Go by lines and braces).

    A chunk ends at ``;`` at depth 0, at a ``}`` back to depth 0 that closes a block-like
    head (a function, type, control statement; not an initializer or a lambda), or, for C
    and C++, at the end of a preprocessor line; Go ends a chunk at a newline where its
    automatic semicolon would go.
    """
    clean = blank_literals(text, lang)
    chunks: list[Chunk] = []
    depth, start, i, n = 0, None, 0, len(clean)
    stack: list[str] = []

    def close(end: int, terminated: bool = True) -> None:
        nonlocal start
        if start is not None and clean[start:end].strip():
            chunks.append(Chunk(start, end, text[start:end], terminated=terminated))
        start = None

    while i < n:
        c = clean[i]
        if start is None:
            if c.isspace():
                i += 1
                continue
            start = i
            if lang in ("c", "cpp") and c == "#":
                j = i
                while True:
                    nl = clean.find("\n", j)
                    if nl < 0:
                        j = n
                        break
                    if clean[nl - 1] == "\\":
                        j = nl + 1
                        continue
                    j = nl
                    break
                close(j)
                i = j
                continue
        if c in _OPEN:
            stack.append(i)
            depth += 1
        elif c in ")]}":
            opened = start
            if stack:
                opened = stack.pop()
                depth -= 1
            # Go: the braces of a type literal in a signature (`func f() interface{} {`) end nothing
            literal = lang == "go" and re.search(r"\b(?:interface|struct)\s*$", clean[start:opened])
            if c == "}" and depth == 0 and not literal and _block_like(clean[start:i + 1], lang):
                rest = clean[i + 1 :]
                m = re.match(r"\s*", rest)
                after = rest[m.end() :]
                if after.startswith(";"):
                    i = i + 1 + m.end() + 1
                    close(i)
                    continue
                if not re.match(r"(else|catch|finally|while)\b", after):
                    close(i + 1)
                    i += 1
                    continue
        elif c == ";" and depth == 0:
            close(i + 1)
            i += 1
            continue
        elif c == "\n" and depth == 0 and lang == "go":
            before = clean[start:i].rstrip()
            if before and (re.search(r"[\w\"'`)\]}]$", before) or before.endswith(("++", "--"))):
                close(i)
        i += 1
    close(n, terminated=lang == "go")
    return chunks


def _block_like(head_and_block: str, lang: str) -> bool:
    """Does a chunk ending with ``}`` end there (function, type, control statement)?"""
    # the head: what comes before the first brace at depth 0, attributes/annotations dropped
    head = head_and_block[: _first_brace(head_and_block)]
    words = re.sub(r"^(?:\s*#!?\s*\[[^\]]*\]|\s*@(?!interface)[\w.]+(?:\([^)]*\))?)*", "", head).strip()
    if not words:
        return True  # a bare block statement `{ ... }` (real notebook: dskkato/plotters-demo, then `canvas`)
    first = re.match(r"[A-Za-z_]\w*", words)
    if first and first.group(0) in _CONTROL + ("func", "fn", "impl", "trait", "struct", "enum", "union", "class",
                                                  "interface", "record", "namespace", "template", "extern", "mod",
                                                  "type", "macro_rules", "pub", "static", "public", "private",
                                                  "protected", "abstract", "final", "async", "const", "unsafe"):
        if first.group(0) in ("static", "const", "final", "pub", "public", "private", "protected") and "=" in _depth0(words).replace("==", "").replace("<=", "").replace(">=", "").replace("!=", "").replace("=>", ""):
            return False
        return True
    flat = _depth0(words)
    stripped = flat.replace("==", "").replace("<=", "").replace(">=", "").replace("!=", "").replace("->", "").replace("=>", "")
    if "=" in stripped and not re.search(r"\boperator\s*\S*=", words):
        return False
    if lang == "go" and re.search(r":=|\bvar\b", words):
        return False
    # a function definition: NAME(...) [qualifiers] {
    return bool(re.search(r"[\w>\]]\s*\([^;]*\)\s*[\w\s:&<>,*\[\]\->()]*$", words)) or words.endswith(")") or words.startswith("@")


def _depth0(text: str) -> str:
    """The characters of ``text`` at bracket depth 0."""
    out, depth = [], 0
    for c in text:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(c)
    return "".join(out)


def _first_brace(text: str) -> int:
    """Index of the first ``{`` at depth 0 (not inside parentheses or brackets), or len."""
    depth = 0
    for i, c in enumerate(text):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(0, depth - 1)
        elif c == "{" and depth == 0:
            return i
    return len(text)


# ---------------------------------------------------------------------------------------------
# Classification: what each chunk is, per language
# ---------------------------------------------------------------------------------------------

_C_SCALARS = set(
    ["char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool", "bool", "size_t", "ssize_t", "ptrdiff_t", "intptr_t", "uintptr_t", "wchar_t", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "intmax_t", "uintmax_t"]
)
_C_QUALIFIERS = ("const", "static", "volatile", "register", "constexpr", "inline", "mutable", "thread_local", "extern",
                 "unsigned", "signed", "long", "short", "struct", "enum", "union", "final", "transient")
_NOT_TYPES = set(
    ["return", "delete", "new", "throw", "goto", "case", "else", "typedef", "using", "do", "if", "for", "while", "switch", "break", "continue", "sizeof", "co_return", "co_await", "co_yield", "default", "printf", "puts", "cout", "cerr", "assert", "throw"]
)
_TYPE = r"(?:[A-Za-z_]\w*)(?:\s*::\s*[A-Za-z_]\w*)*(?:\s*<[^;{}]*?>)?(?:\s*::\s*[A-Za-z_]\w*)*(?:\s*\[\s*\])*"
_VAR_DECL = re.compile(
    r"^(?P<quals>(?:(?:" + "|".join(_C_QUALIFIERS) + r")\s+)*)(?P<type>" + _TYPE + r")(?P<rest>(?:\s|[*&])+(?:\s*[*&])*\s*[A-Za-z_]\w*\s*(?:=|\(|\{|\[|;|,|$).*)$",
    re.DOTALL,
)


def _split_depth0(text: str, sep: str = ",") -> list[str]:
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth = max(0, depth - 1)
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


@dataclass
class CDeclarator:
    """One variable of a C/C++/Java declaration statement."""

    name: str
    pointers: int
    dims: str  # "[3][4]", "[]", ""


def parse_var_decl(clean: str) -> tuple[str, list[CDeclarator]] | None:
    """``(type text, declarators)`` when a C-family statement declares variables, else None.

    ``clean`` is the statement with comments and literals blanked.
    """
    text = clean.strip().rstrip(";").strip()
    m = _VAR_DECL.match(text)
    if not m:
        return None
    type_text = m.group("type").strip()
    base = re.match(r"[A-Za-z_]\w*", type_text).group(0)
    if base in _NOT_TYPES or (base in _C_QUALIFIERS and base not in ("long", "short", "unsigned", "signed")):
        return None
    rest = m.group("rest")
    decls = []
    for part in _split_depth0(rest):
        # the initializer goes: after '=' at depth 0, or a (...) / {...} right after the name
        part = _split_depth0(part, "=")[0]
        dm = re.match(r"\s*((?:[*&]\s*|const\s+)*)([A-Za-z_]\w*)\s*((?:\[[^\]]*\]\s*)*)", part)
        if not dm:
            return None
        decls.append(CDeclarator(dm.group(2), dm.group(1).count("*"), re.sub(r"\s+", "", dm.group(3))))
    quals = m.group("quals") or ""
    return (quals + type_text).strip(), decls


def _arity(params: str) -> int:
    params = params.strip()
    if not params or params == "void":
        return 0
    return len(_split_depth0(params))


def _decl_name(key: str) -> str:
    """The name a declaration key defines: ``fn Rect::area/0`` → ``Rect::area``."""
    return re.split(r"[/(]", key.split(" ", 1)[-1], maxsplit=1)[0]


def _parameter_types(params: str) -> str:
    """``int a, const string& s = ""`` → ``int,const string&``: what tells C++ overloads apart."""
    types = []
    for part in _split_depth0(params):
        part = _split_depth0(part, "=")[0].strip()
        named = re.search(r"(\w+|[*&>])\s*([A-Za-z_]\w*)\s*((?:\[[^\]]*\]\s*)*)$", part)
        if named and named.group(2) not in _C_SCALARS and named.group(1) not in (
                "const", "volatile", "struct", "class", "enum", "union", "unsigned", "signed", "typename"):
            part = part[: named.start(2)] + named.group(3)
        types.append(re.sub(r"\s+", " ", part).strip().replace(" &", "&").replace(" *", "*").replace(" [", "["))
    return ",".join(t for t in types if t and t != "void")


def _function_key(clean: str, overloads: bool = False) -> str | None:
    """``name/arity`` of a C/C++/Java function definition chunk, else None; with
    ``overloads`` (C++), ``name(types)``: overloads with the same arity are kept side by side."""
    head = clean[: _first_brace(clean)]
    head = re.sub(r"^(?:\s*@(?!interface)[\w.]+(?:\([^)]*\))?)*", "", head).strip()
    first = re.match(r"[A-Za-z_]\w*", head)
    if not first or first.group(0) in _CONTROL or first.group(0) in _NOT_TYPES:
        return None
    m = re.search(r"((?:[A-Za-z_]\w*\s*::\s*)*(?:operator\s*(?:\(\)|[^\s(]+)|[A-Za-z_~]\w*))\s*\((.*)\)\s*(?:const|noexcept|override|final|throws\s+[\w.,\s]+|->\s*[^{]*|\s)*$", head, re.DOTALL)
    if not m:
        return None
    prefix = head[: m.start()]
    if "=" in _depth0(prefix) or not prefix.strip() and first.group(0) == m.group(1):
        # `f(x) {` with no return type is a call followed by a block only in broken code;
        # constructors do not occur at the top level of a cell
        if not prefix.strip():
            return None
    name = re.sub(r"\s+", "", m.group(1))
    if overloads:
        return f"{name}({_parameter_types(m.group(2))})"
    return f"{name}/{_arity(m.group(2))}"


def classify_c(chunk: Chunk, lang: str) -> None:
    """Set ``kind``/``key``/``names`` of a C or C++ chunk."""
    clean = blank_literals(chunk.text, lang).strip()
    if clean.startswith("#"):
        if re.match(r"#\s*include\b", clean):
            chunk.kind, chunk.key = "include", re.sub(r"\s+", " ", chunk.text.strip())
        else:
            m = re.match(r"#\s*(\w+)\s*(\w*)", clean)
            chunk.kind, chunk.key = "decl", f"#{m.group(1)} {m.group(2)}" if m else chunk.text.strip()
        return
    flat = re.sub(r"\s+", " ", clean)
    m = re.match(r"(?:typedef\b.*?([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*;$)", flat, re.DOTALL)
    if m:
        chunk.kind, chunk.key = "decl", "type " + m.group(1)
        return
    m = re.match(r"using\s+namespace\s+([\w:]+)", flat) or re.match(r"using\s+([\w:]+)\s*(?:=|;)", flat)
    if m:
        chunk.kind, chunk.key = "decl", "using " + m.group(1)
        return
    m = re.match(r"(?:(?:typedef|static|inline)\s+)*(?:template\s*<.*?>\s*)?(?:struct|class|union|enum(?:\s+class|\s+struct)?)\s+(?:alignas\([^)]*\)\s*)?([A-Za-z_]\w*)[^;=(]*(\{.*\})?\s*;?$", flat, re.DOTALL)
    if m and (m.group(2) or flat.endswith(";")) and not re.match(r"(?:struct|class|union|enum)\s+\w+\s+[*&]*\s*\w+\s*(=|;|\[|,)", flat):
        # `class Square;` declares what a later `class Square {...}` defines: both are kept
        chunk.kind, chunk.key = "decl", ("type " if m.group(2) or "{" in flat else "fwd ") + m.group(1)
        return
    if re.match(r"namespace\b|extern\s+\"", flat) or re.match(r"extern\s+\"\s*\"", flat):
        chunk.kind, chunk.key = "decl", flat[: _first_brace(flat)].strip()
        return
    if flat.endswith("}"):
        key = _function_key(re.sub(r"^template\s*<.*?>\s*", "", flat), overloads=lang == "cpp")
        if key:
            chunk.kind, chunk.key = "decl", "fn " + key
            return
    if re.match(r"template\s*<", flat):
        chunk.kind, chunk.key = "decl", flat[:80]
        return
    key = _prototype_key(flat) if lang == "cpp" else None
    if key:
        chunk.kind, chunk.key = "decl", "proto " + key
        return
    m = _STATIC_MEMBER.match(flat) if lang == "cpp" else None
    if m and m.group(1) != "std":
        # `int Dummy::n = 0;` defines a class's static member: only at namespace scope
        chunk.kind, chunk.key = "decl", f"static {m.group(1)}::{m.group(2)}"
        return
    parsed = parse_var_decl(clean)
    if parsed:
        chunk.names = tuple(d.name for d in parsed[1])
    chunk.kind = "statement"


_STATIC_MEMBER = re.compile(r"(?:(?:const|static|constexpr|inline|volatile)\s+)*[A-Za-z_][\w:]*(?:\s*<[^;]*?>)?[\s*&]+"
                            r"([A-Za-z_]\w*)(?:<[^;]*?>)?::([A-Za-z_]\w*)\s*(?:=|;|\{)")
_PARAMETER = re.compile(r"(?:const\s+|volatile\s+|unsigned\s+|signed\s+|long\s+|short\s+|struct\s+|class\s+)*"
                        r"(?P<type>[A-Za-z_][\w:]*(?:\s*<[^()]*>)?)\s*[*&\s]*(?:const\s*)?(?P<name>[A-Za-z_]\w*)?\s*(?:\[\s*\])?(?:=.*)?$")


def _prototype_key(flat: str) -> str | None:
    """``name/arity`` when a C++ statement is a function declaration without a body
    (``int add(int a, int b);``, ``void show();``), not a variable made by a constructor
    (``Circle c(10);``, ``Rectangle r(w, h);``)."""
    m = re.match(r"(?:(?:static|inline|extern|constexpr|virtual)\s+)*(?P<ret>[A-Za-z_][\w:]*(?:\s*<[^()]*>)?)[\s*&]+"
                 r"(?P<name>[A-Za-z_]\w*)\s*\((?P<params>[^()]*)\)\s*(?:const\s*)?(?:noexcept\s*)?;$", flat)
    if not m or m.group("ret") in _NOT_TYPES or m.group("ret") in _CONTROL:
        return None
    params = m.group("params").strip()
    if params in ("", "void"):
        return f"{m.group('name')}/0"  # `T f();` declares a function in C++ (the "most vexing parse")
    for part in _split_depth0(params):
        pm = _PARAMETER.match(part.strip())
        if not pm:
            return None
        # `int first`, `const string&`, `int`: a type (with a name); `w`, `3`, `x + 1`: an argument
        if not pm.group("name") and pm.group("type") not in _C_SCALARS and "::" not in pm.group("type") \
                and not re.search(r"[&*<]", part):
            return None
    return f"{m.group('name')}/{_arity(params)}"


def classify_go(chunk: Chunk) -> None:
    """Set ``kind``/``key``/``names`` of a Go chunk."""
    clean = blank_literals(chunk.text, "go").strip()
    if re.match(r"import\b", clean):
        chunk.kind = "import"
        return
    if re.match(r"package\b", clean):
        chunk.kind = "main"
        return
    m = re.match(r"func\s*\(\s*\w*\s*\*?\s*([A-Za-z_]\w*)[^)]*\)\s*([A-Za-z_]\w*)", clean)
    if m:
        chunk.kind, chunk.key = "decl", f"func {m.group(1)}.{m.group(2)}"
        return
    m = re.match(r"func\s+([A-Za-z_]\w*)", clean)
    if m:
        chunk.kind, chunk.key = ("main" if m.group(1) == "main" else "decl"), "func " + m.group(1)
        return
    m = re.match(r"(type|const)\s+(\(|[A-Za-z_]\w*)", clean)
    if m:
        key = m.group(2) if m.group(2) != "(" else re.sub(r"\s+", " ", clean)
        chunk.kind, chunk.key = "decl", f"{m.group(1)} {key}"
        return
    m = re.match(r"var\s+(\(.*\)|[^=]*)", clean, re.DOTALL)
    if m:
        body = m.group(1).strip()
        if body.startswith("("):
            names = [re.match(r"\s*([\w\s,]+)", line).group(1) for line in body[1:-1].split("\n") if re.match(r"\s*[A-Za-z_]", line)]
            chunk.names = tuple(x for x in (re.split(r"[\s,]+", g.strip())[0] for g in names) if x)
        else:
            head = body.split("=")[0]
            chunk.names = tuple(n for n in re.findall(r"[A-Za-z_]\w*", re.split(r"\s(?=[^\s,])", head.replace(", ", ","), maxsplit=1)[0]) if n != "_")
        return
    m = re.match(r"([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:=", clean)
    if m:
        chunk.names = tuple(n for n in re.split(r"\s*,\s*", m.group(1)) if n != "_")


_RUST_ITEM = re.compile(
    r"^(?:#!?\[.*?\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(?:(?:unsafe|async|const|extern(?:\s+\"[^\"]*\")?)\s+)*"
    r"(fn|struct|enum|trait|impl|type|const|static|mod|use|union|macro_rules!|extern\s+crate)\b\s*(?:mut\s+)?([A-Za-z_]\w*)?",
    re.DOTALL,
)


def classify_rust(chunk: Chunk) -> None:
    """Set ``kind``/``key``/``names`` of a Rust chunk."""
    clean = blank_literals(chunk.text, "rust").strip()
    m = _RUST_ITEM.match(clean)
    if m:
        what, name = m.group(1), m.group(2) or ""
        if what == "fn" and name == "main":
            chunk.kind = "main"
        elif what in ("impl", "use"):
            chunk.kind, chunk.key = "decl", what + " " + re.sub(r"\s+", " ", clean[: _first_brace(clean)]).strip()
        else:
            chunk.kind, chunk.key = "decl", f"{what} {name}"
        return
    m = re.match(r"let\s+(.*?)(?:=|;|$)", clean, re.DOTALL)
    if m:
        pattern = _split_depth0(m.group(1), ":")[0]
        chunk.names = tuple(n for n in re.findall(r"\b([a-z_]\w*)\b", pattern) if n not in ("mut", "ref", "_"))


_JAVA_MODIFIERS = r"(?:(?:public|private|protected|static|final|abstract|sealed|non-sealed|strictfp|synchronized|native|default|transient|volatile)\s+)*"


def classify_java(chunk: Chunk) -> None:
    """Set ``kind``/``key``/``names`` of a Java chunk."""
    clean = blank_literals(chunk.text, "java").strip()
    bare = re.sub(r"^(?:@(?!interface)[\w.]+(?:\([^)]*\))?\s*)*", "", clean)
    if re.match(r"import\b", bare):
        chunk.kind = "import"
        return
    if re.match(r"package\b", bare):
        chunk.kind = "main"
        return
    m = re.match(_JAVA_MODIFIERS + r"(class|interface|enum|record|@interface)\s+([A-Za-z_$][\w$]*)", bare)
    if m:
        chunk.kind, chunk.key = "decl", "type " + m.group(2)
        return
    if clean.endswith("}"):
        key = _function_key(re.sub(r"^" + _JAVA_MODIFIERS + r"(?:<[^>]*>\s*)?", "", bare))
        if key and not re.match(r"(new|return|throw)\b", bare):
            chunk.kind, chunk.key = "decl", "method " + key
            return
    parsed = parse_var_decl(re.sub(r"^(?:final\s+)", "", bare))
    if parsed and parsed[0] != "var" and not parsed[0].startswith("var "):
        chunk.kind = "field"
        chunk.names = tuple(d.name for d in parsed[1])
    elif _java_var_type(chunk.text):  # `var sc = new Scanner(...)`: the type is the constructor's
        chunk.kind = "field"
        chunk.names = (re.match(r"\s*(?:final\s+)?var\s+([A-Za-z_$][\w$]*)", chunk.text).group(1),)


_JAVA_VAR_NEW = re.compile(r"\s*(?:final\s+)?(var)\s+[A-Za-z_$][\w$]*\s*=\s*new\s+([A-Za-z_$][\w$.]*(?:<[^()]*>)?)\s*\(")


def _java_var_type(text: str) -> str:
    """The type of ``var NAME = new TYPE(...)`` (diamond ``<>`` dropped), or ''."""
    m = _JAVA_VAR_NEW.match(text)
    return m.group(2).replace("<>", "") if m else ""


# ---------------------------------------------------------------------------------------------
# The accumulated program
# ---------------------------------------------------------------------------------------------


@dataclass
class Decl:
    """A declaration kept from an earlier cell."""

    key: str
    text: str
    count: int  # the execution count of the cell it came from
    line: int  # its first line in that cell
    kind: str = "decl"  # decl | include | import


@dataclass
class CVar:
    """A C variable carried by its bytes (``str``: a ``char *`` carried as a string)."""

    name: str
    declaration: str  # the global declaration, e.g. "int x;" or "char *s;"
    as_string: bool = False


@dataclass
class Built:
    """One cell's program: what to compile, and what ``commit`` keeps once it compiled."""

    program: str
    file_name: str
    whole_program: bool = False
    decls: list[Decl] = field(default_factory=list)
    # C: the variables the cell declared that carry; Rust: the names it declared
    variables: list = field(default_factory=list)
    # (first program line, number of lines, label, first line in that cell) of kept code
    kept_lines: list[tuple[int, int, str, int]] = field(default_factory=list)
    # names of the variables the cell's top-level statements declare (every language): %state
    declared: list[str] = field(default_factory=list)

    def relabel(self, diagnostics: str, cell_label: str) -> str:
        """Point diagnostics about kept code (Java, Rust: after the cell) at their own cell."""
        if not self.kept_lines:
            return diagnostics

        def fix(m: re.Match) -> str:
            line = int(m.group(2))
            for first, count, label, cell_line in self.kept_lines:
                if first <= line < first + count:
                    return f"{label}:{cell_line + line - first}"
            return m.group(0)

        return re.sub(re.escape(cell_label) + r"(:)(\d+)", lambda m: fix(m), diagnostics)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace ``text[start:end]`` by each edit's text (edits do not overlap)."""
    out, last = [], 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        out.append(text[last:start])
        out.append(new)
        last = end
    out.append(text[last:])
    return "".join(out)


def _code_end(chunk: Chunk, lang: str) -> int:
    """Offset (in the cell) just after the chunk's last code character (trailing comment excluded)."""
    clean = blank_literals(chunk.text, lang)
    return chunk.start + len(clean.rstrip())


_DROPPED = re.compile(r"^dockerkernel: (\S+) from Cell In\[(\d+)\] is dropped: ", re.MULTILINE)
_NOT_CARRIED = re.compile(r"^dockerkernel: ([A-Za-z_$][\w$]*)(?: \([^\n]*?\))? is not (?:carried to the next cell|kept after this cell): (.*)$",
                          re.MULTILINE)


class NotCarriedNotices:
    """The ``dockerkernel: NAME (TYPE) is not carried to the next cell: WHY`` lines a compiled
    notebook program writes on stderr (its runtimes: notebook_runtime.py, dkrt.rs, dkprelude.hpp),
    collected from the cell's stderr as it passes; ``found`` maps NAME to WHY.

    Only the first ``LIMIT`` bytes of stderr are read (the notices come when the program ends,
    so a program that floods stderr may have them cut: then they are simply not listed).
    """

    LIMIT = 1 << 20

    def __init__(self):
        self._data = bytearray()

    def add(self, data: bytes) -> None:
        """Stderr bytes of the cell, in order."""
        room = self.LIMIT - len(self._data)
        if room > 0:
            self._data += data[:room]

    @property
    def found(self) -> dict[str, str]:
        text = self._data.decode("utf-8", "replace")
        return {m.group(1): m.group(2).strip() for m in _NOT_CARRIED.finditer(text)}

    @property
    def dropped(self) -> list[tuple[str, int]]:
        """``(name, cell count)`` of kept definitions dkbuild dropped (``… is dropped: …``)."""
        text = self._data.decode("utf-8", "replace")
        return [(m.group(1), int(m.group(2))) for m in _DROPPED.finditer(text)]


class NotebookProgram:
    """The program a notebook's cells of one compiled language add up to (see module doc)."""

    def __init__(self, language: str, source_file: str):
        """``language``: c, cpp, go, rust or java; ``source_file`` the language's file name."""
        self.language = language
        self.source_file = source_file
        self.decls: dict[str, Decl] = {}
        self.c_variables: dict[str, CVar] = {}
        self.rust_variables: list[str] = []
        self.rust_main_program: list[Decl] = []  # the last Rust whole program's items, main as dk_main
        self.variables: dict[str, None] = {}  # carried variables in declaration order, for %state
        self.not_carried: dict[str, str] = {}  # name -> why, until a later cell declares it again

    # -- public ---------------------------------------------------------------------------
    def build(self, cell: str, count: int) -> Built:
        """The program for ``cell`` (execution count ``count``) with everything kept so far."""
        builder = getattr(self, "_build_" + self.language)
        return builder(cell, count)

    def commit(self, built: Built, compiled: bool, succeeded: bool, dropped: list[tuple[str, int]] = ()) -> None:
        """Keep what ``built`` adds: its declarations once it compiled, C/Rust variables once
        it ran to the end (a cell that failed to compile adds nothing). ``dropped``: ``(name,
        cell count)`` of kept definitions the build dropped (``NotCarriedNotices.dropped``)."""
        if not compiled:
            return
        if built.whole_program:
            if self.language == "rust":
                self.rust_main_program = list(built.decls)  # see _build_rust
            return
        for name, cell in dropped:
            for key, d in list(self.decls.items()):
                if d.count == cell and _decl_name(key) == name:
                    del self.decls[key]
        if self.language in ("c", "cpp"):
            self.decls = {d.key: d for d in self._merged_c(built.decls)}
        for decl in built.decls if self.language not in ("c", "cpp") else ():
            for key in [k for k, d in self.decls.items() if self._renamed_away(d, [decl])]:
                del self.decls[key]
            self.decls.pop(decl.key, None)
            self.decls[decl.key] = decl
        if not succeeded:
            return
        for name in built.declared:
            self.variables.pop(name, None)
            self.variables[name] = None
            self.not_carried.pop(name, None)
        if self.language == "c":
            for var in built.variables:
                self.c_variables.pop(var.name, None)
                self.c_variables[var.name] = var
        elif self.language == "rust":
            for name in built.variables:
                if name not in self.rust_variables:
                    self.rust_variables.append(name)

    def reset(self) -> None:
        """Forget everything (kernel restart: the workspace is new as well)."""
        self.decls.clear()
        self.c_variables.clear()
        self.rust_variables.clear()
        self.rust_main_program = []
        self.variables.clear()
        self.not_carried.clear()

    def state_report(self, not_carried: dict[str, str]) -> dict:
        """What the program carries into the next cell, in the shape of the interpreted languages'
        ``state`` frame (see ``magics.state_text``): ``{"carried": {"count", "variables",
        "definitions", "includes"}, "not_carried": {name: why}}``.

        ``not_carried`` are the names the program's runtime said it could not save this cell
        (its ``dockerkernel: NAME … is not carried …`` notices): they are dropped from the kept
        variables, as the runtime starts them at zero or null, and listed until a later cell
        declares them again. Byte counts stay in the
        workspace (the host never reads it), so there is no ``bytes`` entry.
        """
        for name, why in not_carried.items():
            self.variables.pop(name, None)
            self.not_carried[name] = why
        definitions = sum(1 for d in self.decls.values() if d.kind == "decl")
        includes = len(self.decls) - definitions
        carried = {"count": len(self.variables) + len(self.decls), "variables": len(self.variables),
                   "definitions": definitions, "includes" if self.language in ("c", "cpp") else "imports": includes}
        return {"carried": carried, "not_carried": dict(self.not_carried), "names": list(self.variables)}

    # -- shared ---------------------------------------------------------------------------
    def _chunks(self, cell: str, classify) -> list[Chunk]:
        chunks = split_chunks(cell, self.language)
        for chunk in chunks:
            classify(chunk)
        return chunks

    def _kept(self, new: list[Decl]) -> list[Decl]:
        """Kept declarations for this build, a redefined key taking the new one's place."""
        by_key = {d.key: d for d in new}
        out = [by_key.pop(d.key, d) for d in self.decls.values() if not self._renamed_away(d, new)]
        return out + [d for d in new if d.key in by_key]

    def _renamed_away(self, old: Decl, new: list[Decl]) -> bool:
        """Go: does a new declaration give ``old``'s name to another kind (``func foo``, then
        ``type foo struct``)? Funcs, types and constants share one namespace: the new one
        replaces it, as in gophernotes."""
        if self.language != "go" or old.kind != "decl" or any(d.key == old.key for d in new):
            return False
        name = _decl_name(old.key)  # a method (`T.m`) or a `const (…)` group has no single name
        return bool(re.fullmatch(r"[A-Za-z_]\w*", name)) and any(
            d.kind == "decl" and _decl_name(d.key) == name for d in new)

    def _merged_c(self, new: list[Decl]) -> list[Decl]:
        """C/C++ kept declarations with ``new`` ones, in program order.

        A redefinition takes the old one's place (earlier code calling it still sees it
        first), unless it names a type defined after that place (`class Rectangle : public
        Polygon`): then it goes last. A redefined class drops the member functions that
        earlier cells defined outside it (`void Rectangle::set_values(...) {...}`): they
        belonged to the old class.
        """
        new_keys = {d.key for d in new}
        redefined = {d.key[5:] for d in new if d.key.startswith("type ") and d.key in self.decls}
        def member_of_redefined(d: Decl) -> bool:
            if not redefined or not d.key.startswith("fn ") or d.key in new_keys:
                return False
            head = d.text[: _first_brace(blank_literals(d.text, self.language))]
            return any(re.search(rf"\b{re.escape(t)}\s*::\s*~?[A-Za-z_]\w*\s*\(", head) for t in redefined)

        out = [d for d in self.decls.values() if not member_of_redefined(d)]
        def words(d: Decl) -> set[str]:
            return set(re.findall(r"[A-Za-z_]\w*", blank_literals(d.text, self.language)))

        def defines(d: Decl) -> str:
            return _decl_name(d.key).split("::")[-1]

        for d in new:
            at = next((i for i, o in enumerate(out) if o.key == d.key), None)
            if at is None:
                out.append(d)
                continue
            later = {defines(o) for o in out[at + 1:] if o.key.startswith(("type ", "fwd "))}
            if not later & words(d):
                out[at] = d
                continue
            # it goes after those types, and what came after it and uses it (or what moved) follows
            moved, stay, follow = {defines(d)}, [], []
            for o in out[at + 1:]:
                if moved & words(o):
                    follow.append(o)
                    moved.add(defines(o))
                else:
                    stay.append(o)
            out = out[:at] + stay + [d] + follow
        return out

    @staticmethod
    def _label(count: int) -> str:
        return f"Cell In[{count}]"

    # -- C and C++ ------------------------------------------------------------------------
    def _build_c(self, cell: str, count: int) -> Built:
        return self._build_c_family(cell, count, "c")

    def _build_cpp(self, cell: str, count: int) -> Built:
        return self._build_c_family(cell, count, "cpp")

    def _build_c_family(self, cell: str, count: int, lang: str) -> Built:
        from . import notebook_runtime

        name = self.source_file
        if sources._C_MAIN.search(sources._strip_comments(cell)):
            return Built(f'#line 1 "{name}"\n{cell}', name, whole_program=True)
        chunks = self._chunks(cell, lambda c: classify_c(c, lang))
        edits, new, variables, saves, notes = [], [], [], [], []
        _declarators_after_types(chunks, cell, edits)
        for chunk in chunks:
            if chunk.kind in ("include", "decl"):
                new.append(Decl(chunk.key, chunk.text, count, _line_of(cell, chunk.start), chunk.kind))
                edits.append((chunk.start, chunk.end, _blank(chunk.text)))
        last = chunks[-1] if chunks else None
        if last is not None and last.kind == "statement" and not last.terminated and last.names:
            # `int c = 0x4b` as a cell's last line: a declaration, not a value to show (cling
            # accepts it without its semicolon)
            edits.append((_code_end(last, lang), _code_end(last, lang), ";"))
        elif lang == "cpp" and last is not None and last.kind == "statement" and not last.terminated:
            # a trailing expression: its value is shown (void expressions just run)
            # on lines of their own, then #line: the expression keeps its line and column
            column = last.start - (cell.rfind("\n", 0, last.start) + 1)
            edits.append((last.start, last.start, f'\ndk::show([&]() -> decltype(auto) {{ return (\n#line {_line_of(cell, last.start)} "{name}"\n' + " " * column))
            edits.append((_code_end(last, lang), _code_end(last, lang), "); });"))
        # variables the cell's top-level statements declare: saved at the end of main
        for chunk in chunks:
            if chunk.kind != "statement" or not chunk.names:
                continue
            if lang == "cpp":
                saves.extend(f"DK_SAVE({n});" for n in chunk.names)
                continue
            parsed = parse_var_decl(blank_literals(chunk.text, lang))
            spec = re.sub(r"\b(const|static|register|volatile|extern|inline)\b\s*", "", parsed[0]).strip()
            for d in parsed[1]:
                var, why = self._c_carry(spec, d, new)
                if var:
                    variables.append(var)
                    saves.append(f'dk_save_str("{d.name}", {d.name});' if var.as_string else f'dk_save_raw("{d.name}", &{d.name}, sizeof {d.name});')
                else:
                    notes.append(f'fputs("dockerkernel: {d.name} is not carried to the next cell: {why}\\n", stderr);')
        body = _apply(cell, edits)
        kept = self._merged_c(new)
        out = [sources.C_PRELUDE + notebook_runtime.C] if lang == "c" else [notebook_runtime.CPP_INCLUDE, f"// {NOTEBOOK_MARK}\n"]
        includes = [d for d in kept if d.kind == "include"]
        others = [d for d in kept if d.kind != "include"]
        for d in includes:
            out.append(d.text.strip() + "\n")
        restores = []
        if lang == "cpp":
            out.append('#if __has_include("/workspace/.dockerkernel/cpp/state.hpp")\n#include "/workspace/.dockerkernel/cpp/state.hpp"\n'
                       "#else\ninline void dk_save_carried() {}\n#endif\n")
        else:
            types_first = [d for d in others if d.key.startswith(("type ", "#"))]
            for d in types_first:
                out.append(self._c_decl(d, count))
            others = [d for d in others if d not in types_first]
            for var in self.c_variables.values():
                out.append(var.declaration + "\n")
                restores.append(f'{var.name} = dk_load_str("{var.name}");' if var.as_string else f'dk_load_raw("{var.name}", &{var.name}, sizeof {var.name});')
                saves.insert(0, f'dk_save_str("{var.name}", {var.name});' if var.as_string else f'dk_save_raw("{var.name}", &{var.name}, sizeof {var.name});')
        known = {d.key: d for d in kept}
        for d in others:
            out.append(self._c_decl(d, count))
            if lang == "cpp" and d.key.startswith("type ") and _plain_data(d, known):
                # its instances carry as bytes (dkprelude.hpp's codec; the compiler checks that
                # the class is trivially copyable)
                out.append(f"namespace dk {{ template <> struct bytes_ok<::{d.key[5:]}> : std::true_type {{}}; }}\n")
            members = _public_fields(d) if lang == "cpp" and d.key.startswith("type ") else None
            if members:
                # or member by member (`std::string title; int year;`): dkprelude.hpp's fields codec
                t = "::" + d.key[5:]
                carry = " && ".join(f"codec<std::remove_cv_t<decltype({t}::{m})>>::ok" for m in members)
                calls = " ".join(f"f(v.{m});" for m in members)
                out.append(f"namespace dk {{ template <> struct fields<{t}> {{ static constexpr bool listed = true; "
                           f"static constexpr bool carry = {carry}; "
                           f"template <class F> static void each({t}& v, F f) {{ {calls} }} }}; }}\n")
        if lang == "cpp":
            out.append('#if __has_include("/workspace/.dockerkernel/cpp/state_late.hpp")\n'
                       '#include "/workspace/.dockerkernel/cpp/state_late.hpp"\n'
                       "#else\ninline void dk_save_carried_late() {}\n#endif\n")
            saves.insert(0, "dk_save_carried(); dk_save_carried_late();")
            saves.append("dk::finish();")
        out.append(("int main(void) { " if lang == "c" else "int main() { ") + " ".join(restores) + "\n")
        out.append(f'#line 1 "{name}"\n{body}\n;')
        out.append(" ".join(notes + saves) + "\nreturn 0;\n}\n")
        # saves of names declared twice in one cell (shadowing) would repeat: keep the last
        program = "".join(out)
        declared = [v.name for v in variables] if lang == "c" else [n for c in chunks if c.kind == "statement" for n in c.names]
        return Built(program, name, decls=new, variables=variables, declared=declared)

    def _c_decl(self, d: Decl, count: int) -> str:
        """A kept C/C++ declaration, its lines named after its cell. One from an earlier cell is
        marked ``//dk:kept LABEL|NAME|LINE|LINES``: dkbuild.py drops it when it alone no longer
        compiles (a class it uses was defined again) and says so on stderr."""
        text = d.text + (";" if d.key.startswith("type ") and d.text.rstrip().endswith("}") else "")
        if d.count == count:
            return f'#line {d.line} "{self.source_file}"\n{text}\n'
        label = self._label(d.count)
        name = _decl_name(d.key)
        return f'//dk:kept {label}|{name}|{d.line}|{text.count(chr(10)) + 1}\n#line {d.line} "{label}"\n{text}\n'

    def _c_carry(self, spec: str, d: CDeclarator, new: list[Decl]) -> tuple[CVar | None, str]:
        """How a C variable carries: its global declaration, or why it does not."""
        words = spec.split()
        if d.pointers == 1 and not d.dims and set(words) <= {"char", "unsigned", "signed"} and "char" in words:
            return CVar(d.name, f"{spec} *{d.name};", as_string=True), ""
        if d.pointers:
            return None, "a pointer's target is not saved (only char * strings are)"
        if "[]" in d.dims:
            return None, "an array without a size (give its size to carry it)"
        scalar = all(w in _C_SCALARS for w in words)
        if not scalar:
            if words and words[0] == "enum":
                scalar = True
            else:
                type_name = words[-1] if words else ""
                known = {x.key: x for x in list(self.decls.values()) + new}
                decl = known.get("type " + type_name)
                if decl is None:
                    return None, f"its type {spec} is not a known struct without pointers"
                if "*" in blank_literals(decl.text, "c"):
                    return None, f"its type {spec} holds pointers"
        return CVar(d.name, f"{spec} {d.name}{d.dims};"), ""

    # -- Go -------------------------------------------------------------------------------
    def _build_go(self, cell: str, count: int) -> Built:
        from . import notebook_runtime

        name = self.source_file
        # gophernotes' first releases (igo) imported with `:import "fmt"`: their notebooks still do
        # (a space keeps every column where it was)
        cell = re.sub(r"(?m)^:import\b", " import", cell)
        cell, shell = _go_shell_lines(cell)
        chunks = self._chunks(cell, classify_go)
        if any(c.kind == "main" for c in chunks):
            # a whole program may declare package variables (`var answer = "unset"`); a call is not one
            if not any(c.kind == "statement" and not re.match(r"\s*var\b", c.text) for c in chunks):
                return Built(sources.wrap_go(cell, name), name, whole_program=True)
            # `func main() {...}` and then `main()`: main is a function the cell calls (as in
            # gophernotes), not the program's entry point
            cell = _rename_go_main(cell, [c for c in chunks if c.kind == "main"])
            chunks = self._chunks(cell, classify_go)
        elif re.search(r"(?<![\w.])main\s*\(", blank_literals(cell, "go")):
            # `main()` is the `func main` an earlier cell kept (as `dkmain`); with none kept it
            # is undefined (dkbuild says `main`), never this program's own main calling itself
            cell = _rename_go_main(cell, [])
            chunks = self._chunks(cell, classify_go)
        edits, new, saves, closures = [], [], [], {}
        # variables the cell's own statements declare: they live in main (gophernotes has them
        # as globals), so a function of this cell that uses one is a closure (_go_closure)
        cell_variables = {n for c in chunks if c.kind == "statement" for n in c.names}
        imports: dict[str, tuple[str, str, int, int]] = {}  # path -> (alias, path, count, line)
        for decl in self.decls.values():
            if decl.kind == "import":
                alias, path = decl.key.split(" ", 1)
                imports[path] = (alias, path, decl.count, decl.line)
        for chunk in chunks:
            if chunk.kind == "import":
                for alias, path in re.findall(r'(?:(\w+|\.)\s+)?"([^"]+)"', re.sub(r"^\s*import\b", "", chunk.text)):
                    line = _line_of(cell, chunk.start + chunk.text.find('"' + path + '"'))
                    imports[path] = (alias, path, count, line)
                    new.append(Decl(f"{alias} {path}", "", count, line, "import"))
                edits.append((chunk.start, chunk.end, _blank(chunk.text)))
            elif chunk.kind == "decl" and _go_bodiless(chunk):
                # `func PNG([]byte) error` alone: gophernotes (gomacro) takes it, as the
                # documentation its own Display.ipynb shows; Go's compiler refuses it ("missing
                # function body"): nothing is kept, and the cell says so
                why = f"dockerkernel: {chunk.key} is dropped: a func without a body declares nothing to call"
                edits.append((chunk.start, chunk.end, f"dkfmt.Fprintln(dkos.Stderr, {json.dumps(why)})"))
            elif chunk.kind == "decl":
                new.append(Decl(chunk.key, chunk.text, count, _line_of(cell, chunk.start)))
                closure = _go_closure(chunk, cell_variables)
                if closure:  # `var inc func()` at the top level, `inc = func() {...}` in place
                    closures[chunk.key] = closure[0]
                    edits.append((chunk.start, chunk.end, closure[1]))
                else:
                    edits.append((chunk.start, chunk.end, _blank(chunk.text)))
            elif chunk.names:
                saves.extend(f'dkSave("{n}", &{n})' for n in chunk.names)  # a pointer: its static type
        last = chunks[-1] if chunks else None
        if last is not None and last.kind == "statement" and not last.names and "\n" not in last.text.strip():
            clean = blank_literals(last.text, "go").strip()
            flat = _depth0(clean).replace("==", "").replace("!=", "").replace("<=", "").replace(">=", "")
            keyword = re.match(r"(if|for|switch|select|go|defer|return|var|const|type|break|continue|goto|fallthrough)\b", clean)
            # a trailing fmt.Println(...) is shown like any call with results (`3 <nil>`), as
            # gophernotes shows it (gophernotes#179, #191: on purpose); these return nothing
            silent = re.match(r"(print|println|panic|log\.\w+|os\.Exit|close|delete|Display|dkShell)\s*\(", clean)
            if not keyword and not silent and "=" not in flat and not re.search(r"\S\s*<-", flat) and not clean.endswith(("++", "--")):
                end = _code_end(last, "go")
                line_no = _line_of(cell, last.start)
                original = cell.split("\n")[line_no - 1]
                code = last.text[: end - last.start]
                received = re.fullmatch(r"\s*<-\s*([A-Za-z_][\w.]*)\s*", code)
                indexed = re.fullmatch(r"\s*([A-Za-z_][\w.]*)\s*\[([^\[\]():]+)\]\s*", blank_literals(code, "go"))
                if received:  # gomacro's comma-ok forms (dkRecvOK, dkMapIndexOK in notebook_runtime)
                    shown = f"dkShow(dkRecvOK({received.group(1)})...)"
                elif indexed:
                    x, k = indexed.group(1), code[indexed.start(2): indexed.end(2)]
                    shown = f"if dkIsMap({x}) {{ dkShow(dkMapIndexOK({x}, {k})...) }} else {{ dkShow({code.strip()}) }}"
                else:
                    shown = None
                if shown:
                    edits.append((last.start, end, shown + f" //dk:alt@{line_no}:{original}"))
                else:
                    edits.append((last.start, last.start, "dkShow("))
                    edits.append((end, end, f") //dk:alt@{line_no}:{original}"))
        body = _apply(cell, edits)
        kept = self._kept(new)
        code_text = blank_literals("\n".join(d.text for d in kept) + "\n" + body, "go")
        # gophernotes' `display` package and `Display` function, unless the notebook declares
        # those names itself
        declares = code_text + "".join(f"{a} \"{p}\"\n" for a, p, _c, _l in imports.values())
        with_display, with_show = (
            re.search(used, code_text) and not re.search(
                r"\b(?:func|var|const|type)\s+%s\b|\b%s\s*(?:,[^=\n]*)?:?=|\bimport\s+%s\b|\b%s\s+\"|[/\"]%s\"" % ((own,) * 5),
                declares)
            for used, own in ((r"\bdisplay\s*\.", "display"), (r"\bDisplay\s*\(", "Display")))
        out = [f"package main // {NOTEBOOK_MARK}\n", notebook_runtime.GO_IMPORTS]
        if shell:
            out.append(notebook_runtime.GO_SHELL_IMPORT)
        images = any(path == "image" or path.startswith("image/") for path in imports)
        if images:
            out.append(notebook_runtime.GO_IMAGE_IMPORT)
        if with_display:  # images/go/display.go, on the image's GOPATH
            out.append('import "display"\n')
        for alias, path, icount, line in imports.values():
            short = alias or re.sub(r"^go-|[.-]v?\d+$", "", path.rstrip("/").split("/")[-1].split(".")[0])
            if re.fullmatch(r"v\d+", path.split("/")[-1]) and not alias:
                short = path.split("/")[-2]
            used = alias in (".", "_") or re.search(r"\b" + re.escape(short) + r"\s*\.", code_text)
            label = name if icount == count else self._label(icount)
            out.append(f"//line {label}:{line}\nimport {alias if used else '_'} \"{path}\"\n")
        for d in kept:
            if d.kind == "import":
                continue
            if d.count == count and d.key in closures:
                out.append(closures[d.key])
                continue
            label = name if d.count == count else self._label(d.count)
            out.append(f"//line {label}:{d.line}\n{d.text}\n")
        out.append(f"func main() {{\n//line {name}:1\n{body}\n")
        out.append("dkSettle()\ndkSaveCarried()\n" + "".join(s + "\n" for s in saves) + "dkFinish()\n}\n")
        # the runtime's own lines are its own, not lines after the cell's (a panic's frames)
        out.append("//line dkruntime.go:1\n" + notebook_runtime.GO + (notebook_runtime.GO_SHELL if shell else "")
                   + (notebook_runtime.GO_IMAGE if images else ""))
        if with_show:
            out.append("var Display = dkDisplayNow\n")
        declared = [n for c in chunks if c.kind == "statement" for n in c.names]
        return Built("".join(out), name, decls=new, declared=declared)

    # -- Rust -----------------------------------------------------------------------------
    def _build_rust(self, cell: str, count: int) -> Built:
        from . import notebook_runtime

        name = self.source_file
        chunks = self._chunks(cell, classify_rust)
        if any(c.kind == "main" for c in chunks):
            # a whole program runs alone, as it always did; its items are also remembered, its
            # `main` as `dk_main`, for a later cell that calls `main()` (evcxr keeps a cell's
            # `fn main` as a function a later cell calls; real notebook: cwrightlibrary/LearningRust).
            # Only such a cell compiles them: a whole program's items may need its own flags
            # (`%cflags --cfg x`) or clash with the notebook's, and must not break other cells
            kept = [Decl("fn main" if c.kind == "main" else c.key,
                         _rename_rust_main(_blank_inner_attributes(c.text), define=True) if c.kind == "main"
                         else _blank_inner_attributes(c.text), count, _line_of(cell, c.start))
                    for c in chunks if c.kind in ("main", "decl")]
            return Built(sources.wrap_rust(cell), name, whole_program=True, decls=kept)
        # `main()` is the whole program's kept `dk_main`; with none kept it is not found (as in
        # evcxr), rather than our own `fn main` calling itself until the stack overflows
        renamed = _rename_rust_main(cell)
        calls_main = renamed != cell
        if calls_main:
            cell = renamed
            chunks = self._chunks(cell, classify_rust)
        edits, new, names = [], [], []
        for chunk in chunks:
            if chunk.kind == "decl":
                # the cell's own items stay where they are, inside main (items may be declared
                # in a block); later cells get them at the top level
                shown_by = " ".join(filter(None, (_rust_evcxr_display_impl(chunk.text), _rust_codec_impl(chunk.text))))
                if shown_by:  # on the item's last line: the cell's line numbers stay the same
                    edits.append((chunk.end, chunk.end, " " + shown_by))
                new.append(Decl(chunk.key, _blank_inner_attributes(chunk.text) + (" " + shown_by if shown_by else ""),
                                count, _line_of(cell, chunk.start)))
            names.extend(n for n in chunk.names if n not in names)
        last = chunks[-1] if chunks else None
        # evcxr shows the value of the last expression, `()` of a trailing `if`/`for`/block too
        if last is not None and last.kind == "statement" and not last.names and (
                not last.terminated or _RUST_BLOCK_EXPRESSION.match(blank_literals(last.text, "rust").strip() + "\n")):
            end = _code_end(last, "rust")
            edits.append((last.start, last.start, "(&&&DkShow(&("))
            edits.append((end, end, "\n))).dk_show();"))
        body = _apply(cell, edits)
        restores = "".join(
            f'#[allow(unused_mut, unused_variables)] let mut {n} = include!("{STATE_ROOT}/rust/{n}.rs"); '
            for n in self.rust_variables
        )
        # with dkbuild's -A dead_code, unused_imports, unused_mut: the lints evcxr allows in the
        # code it generates (a loop's unused variable is not worth a warning in a notebook; evcxr
        # shows no warning of a cell that compiled, ours still shows the others)
        out = f"#[allow(unused_variables)] fn main() {{ {restores}{body}\n"
        line = out.count("\n") + 1
        saved = list(self.rust_variables) + [n for n in names if n not in self.rust_variables]
        for n in saved:
            out += f'(&DkSave("{n}", &{n})).dk_save(); //dk:alt@{line}:dk_forget("{n}", "the cell moved it (or still borrows it)");\n'
            line += 1
        out += "}\n"
        line += 1
        kept_lines = []
        program = self.rust_main_program if calls_main else []
        for d in [d for d in self._kept([]) if all(p.key != d.key for p in program)] + program:
            if any(n.key == d.key for n in new):
                continue  # redefined by this cell (inside main)
            out += "#[allow(dead_code, unused_imports)]\n"
            kept_lines.append((line + 1, d.text.count("\n") + 1, self._label(d.count), d.line))
            out += d.text + "\n"
            line += d.text.count("\n") + 2
        out += f"// {NOTEBOOK_MARK}\n" + notebook_runtime.RUST_USE
        # structs this cell defines again with other fields: a carried value of one no longer
        # reads back, so dkbuild.py forgets it before compiling (`// dk:retyped NAME ...`)
        retyped = [d.key.split()[1] for d in new if d.key.startswith("struct ") and d.key in self.decls
                   and _RUST_SHAPE.findall(self.decls[d.key].text) != _RUST_SHAPE.findall(d.text)]
        if retyped:
            out += "// dk:retyped " + " ".join(retyped) + "\n"
        return Built(out, name, decls=new, variables=names, kept_lines=kept_lines, declared=list(names))

    # -- Java -----------------------------------------------------------------------------
    def _build_java(self, cell: str, count: int) -> Built:
        from . import notebook_runtime

        clean_cell = sources._strip_comments(cell)
        if sources._JAVA_MAIN.search(clean_cell):
            source, class_name = sources.wrap_java(cell)
            return Built(source, f"{class_name}.java", whole_program=True)
        chunks = self._chunks(cell, classify_java)
        edits, new, imports = [], [], []
        last = chunks[-1] if chunks else None
        trailing = last is not None and last.kind == "statement" and not last.terminated
        run: list[Chunk] = []

        def flush_run() -> None:
            if run:
                edits.append((run[0].start, run[0].start, "static { dkRun(() -> { "))
                edits.append((run[-1].end, run[-1].end, " }); }"))
                run.clear()

        for chunk in chunks:
            if chunk.kind == "import":
                imports.append(chunk.text.strip())
                new.append(Decl(re.sub(r"\s+", " ", chunk.text.strip()), chunk.text.strip(), count, _line_of(cell, chunk.start), "import"))
                edits.append((chunk.start, chunk.end, _blank(chunk.text)))
                continue
            if chunk.kind == "statement" and not (trailing and chunk is last):
                run.append(chunk)
                local = re.match(r"\s*(?:final\s+)?var\s+([A-Za-z_$][\w$]*)", blank_literals(chunk.text, "java"))
                if local:  # JShell would keep it; a field needs its type
                    edits.append((chunk.end, chunk.end, f' System.err.println("dockerkernel: {local.group(1)} (declared with var) '
                                  'is not kept after this cell: declare it with its type to keep it");'))
                continue
            flush_run()
            if chunk.kind == "decl":
                made_static = _java_static(chunk) + _java_serializable(chunk)
                new.append(Decl(chunk.key, _apply(chunk.text, [(a - chunk.start, b - chunk.start, t) for a, b, t in made_static]), count, _line_of(cell, chunk.start)))
                edits.extend(made_static)
            elif chunk.kind == "field":
                var_type = _java_var_type(chunk.text)
                if var_type:  # a field needs its type: the constructor's
                    m = _JAVA_VAR_NEW.match(chunk.text)
                    edits.append((chunk.start + m.start(1), chunk.start + m.end(1), var_type))
                edits.extend(_java_static(chunk))
                edits.extend(_java_field_init(chunk))
            elif chunk is last:
                end = _code_end(chunk, "java")
                edits.append((chunk.start, chunk.start, "static { dkShow(() -> "))
                edits.append((end, end, "\n); }"))
        flush_run()
        body = _apply(cell, edits)
        kept_imports = [d.text for d in self._kept(new) if d.kind == "import"]
        head = " ".join(dict.fromkeys(kept_imports)) + " public class Main extends DkVars { "
        out = head + body + "\n    public static void main(String[] dkArgs) throws Exception { dkSaveAll(); }\n"
        line = out.count("\n") + 1
        kept_lines = []
        for d in self._kept([]):
            if d.kind == "import" or any(n.key == d.key for n in new):
                continue
            kept_lines.append((line, d.text.count("\n") + 1, self._label(d.count), d.line))
            out += d.text + "\n"
            line += d.text.count("\n") + 1
        out += notebook_runtime.JAVA + f"}}\n// {NOTEBOOK_MARK}\n"
        declared = [n for c in chunks if c.kind == "field" for n in c.names]
        return Built(out, "Main.java", decls=new, kept_lines=kept_lines, declared=declared)


# a block-like expression statement that ends at its `}` without `;` (chunks end there)
_RUST_BLOCK_EXPRESSION = re.compile(r"(?:(?:if|loop|while|for|match|unsafe)\b|\{|'\w+\s*:)[\s\S]*\}\n\Z")


_RUST_SHAPE = re.compile(r'out\.push_str\("(\w+) "\)')  # the shape token of _rust_codec_impl's line
_RUST_STRUCT = re.compile(r"\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?struct\s+([A-Za-z_]\w*)\s*(<[^<>]*(?:<[^<>]*>[^<>]*)*>)?\s*")
# the field types the generated codec is written for: paths, generic arguments, tuples and arrays
# (no references, lifetimes, trait objects, function types, `Self`)
_RUST_PLAIN_TYPE = re.compile(r"[\w:<>,\s\[\];()]+")


def _rust_codec_impl(text: str) -> str:
    """For a struct of the notebook (named or tuple fields), one line implementing dkrt's
    ``DkCodec`` field by field, so that its values carry to later cells when every field's type
    carries (each field's bound is ``for<'dk> Type: DkCodec``: a field that does not carry makes
    the impl not apply, and the value is named as not carried, instead of a compile error);
    '' for any other item or a struct outside the plain forms (lifetimes, references, defaults,
    ``where`` clauses, const generics)."""
    clean = blank_literals(text, "rust")
    head = _RUST_STRUCT.match(clean)
    if not head or "'" in clean or "&" in clean or re.search(r"\b(?:where|dyn|impl|fn|Self|const)\b|->", clean[head.end():]):
        return ""
    name, generics = head.group(1), head.group(2) or ""
    if "=" in generics or "'" in generics or "const" in generics:
        return ""
    params = [re.match(r"\s*(\w+)", p).group(1) for p in _split_depth0(generics[1:-1])] if generics else []
    rest = clean[head.end():].strip()
    if rest.startswith("{") and rest.rstrip(";").rstrip().endswith("}"):
        fields = [f.strip() for f in _split_depth0(rest.rstrip(";").strip()[1:-1]) if f.strip()]
        named = [re.fullmatch(r"(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?([A-Za-z_]\w*)\s*:\s*([\s\S]+)", f) for f in fields]
        if not all(named):
            return ""
        pairs = [(m.group(1), " ".join(m.group(2).split())) for m in named]
        build = f"{name} {{ " + ", ".join(f"{f}: dkrt::DkCodec::dk_get(inp)?" for f, _ in pairs) + " }"
    elif rest.startswith("(") and rest.rstrip(";").rstrip().endswith(")"):
        fields = [f.strip() for f in _split_depth0(rest.rstrip(";").strip()[1:-1]) if f.strip()]
        pairs = [(str(i), " ".join(re.sub(r"^(?:pub(?:\([^)]*\))?\s+)", "", f).split())) for i, f in enumerate(fields)]
        build = f"{name}(" + ", ".join("dkrt::DkCodec::dk_get(inp)?" for _ in pairs) + ")"
    else:
        return ""  # a unit struct carries nothing worth a codec
    if not pairs or not all(_RUST_PLAIN_TYPE.fullmatch(t) for _, t in pairs):
        return ""
    # the definition's shape is saved with the value: a struct defined again with other fields
    # does not read an old value as itself (dk_load forgets it, once, by name)
    shape = hashlib.sha1(repr((generics, pairs)).encode()).hexdigest()[:12]
    bounds = [f"{p}: dkrt::DkCodec" for p in params] + [f"for<'dk> {t}: dkrt::DkCodec" for _, t in pairs]
    type_name = f'format!("{name}<{", ".join("{}" for _ in params)}>", ' + ", ".join(
        f"<{p} as dkrt::DkCodec>::dk_type()" for p in params) + ")" if params else f'"{name}".to_string()'
    return (f"impl{generics} dkrt::DkCodec for {name}{'<' + ', '.join(params) + '>' if params else ''} "
            f"where {', '.join(bounds)} {{ "
            f'fn dk_put(&self, out: &mut String) {{ out.push_str("{shape} "); '
            + " ".join(f"dkrt::DkCodec::dk_put(&self.{f}, out);" for f, _ in pairs) + " } "
            f'fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> {{ if inp.next()? != "{shape}" {{ return None; }} '
            f"Some({build}) }} "
            f"fn dk_type() -> String {{ {type_name} }} }}")


def _rust_evcxr_display_impl(text: str) -> str:
    """For an inherent ``impl`` that defines ``fn evcxr_display(&self)``, one line implementing
    dkrt's ``DkEvcxrDisplay`` by it (a trailing value of that type is then shown by it, as evcxr
    shows it); '' for any other item, and for trait impls (``impl Trait for Type``)."""
    clean = blank_literals(text, "rust")
    start = re.match(r"\s*(?:#\[[^\]]*\]\s*)*impl\b", clean)
    if not start or not re.search(r"\bfn\s+evcxr_display\s*\(\s*&\s*self\s*\)", clean):
        return ""
    head = text[start.end(): _first_brace(clean)].strip()
    generics = ""
    if head.startswith("<"):
        depth = 0
        for index, char in enumerate(head):
            depth += (char == "<") - (char == ">")
            if depth == 0:
                generics, head = head[: index + 1], head[index + 1:]
                break
    if re.search(r"\bfor\b", head.split(" where ")[0]):
        return ""
    return (f"impl{generics} dkrt::DkEvcxrDisplay for {' '.join(head.split())} "
            "{ fn dk_evcxr_display(&self) { self.evcxr_display() } }")


def _blank_inner_attributes(text: str) -> str:
    """Leading crate attributes (``#![allow(unused)]``) blanked: they belong to a whole
    program's first lines, and anywhere else in a file they do not compile."""
    found = re.match(r"\s*(?:#!\[[^\]]*\]\s*)+", text)
    return _blank(found.group(0)) + text[found.end():] if found else text


def _rename_rust_main(text: str, define: bool = False) -> str:
    """``main`` renamed ``dk_main`` where it is called (``main()``) and, with ``define``, where it
    is defined (``fn main``; without it, a method ``fn main(&self)`` keeps its name); never in
    paths (``a::main()``), methods (``x.main()``), string literals or comments."""
    clean = blank_literals(text, "rust")
    spots = [m.start(1) for m in re.finditer(r"(?<![\w.:])(main)\s*\(", clean)
             if define or not re.search(r"\bfn\s*$", clean[: m.start(1)])]
    for at in reversed(spots):
        text = text[:at] + "dk_main" + text[at + 4:]
    return text


_GO_SHELL_LINE = re.compile(r"[ \t]*\$(.*)")


def _go_shell_lines(cell: str) -> tuple[str, bool]:
    """gophernotes' shell commands: the lines ``$ cmd args`` that open a cell (blank lines
    between them allowed, up to the first other line) each become ``dkShell("cmd args")`` on
    the same line, run in order before the rest of the cell (gophernotes' kernel.go
    ``evalSpecialCommands``: split on blanks, no shell). Returns the cell and whether it had any."""
    lines = cell.split("\n")
    found = False
    for index, line in enumerate(lines):
        m = _GO_SHELL_LINE.fullmatch(line)
        if m:
            lines[index] = f"dkShell({json.dumps(m.group(1).strip())})"
            found = True
        elif line.strip():
            break
    return "\n".join(lines), found


_GO_BRACED_TYPE = re.compile(r"\b(?:interface|struct)\s*\{[^{}]*\}")


def _go_closure(chunk: Chunk, cell_variables: set[str]) -> tuple[str, str] | None:
    """A Go ``func`` of the cell that uses a variable the cell's statements declare, as
    ``(top-level declaration, text in main)``: ``var inc func()`` and ``inc = func() {...}``
    in its place (the same lines), so that it sees main's variables as gophernotes' functions
    see its globals (real notebook: kylekizirian/gonotes' concurrency, ``NumRunning``). None
    for another func, a method or a generic one (they stay at the top level). Later cells
    keep it as written: by then those variables are carried ones, declared at the top level."""
    clean = blank_literals(chunk.text, "go")  # comments and literals blanked, lengths kept
    m = re.match(r"\s*func\s+([A-Za-z_]\w*)\s*\(", clean)
    if not m or not cell_variables:
        return None
    # the body's brace, not one of an `interface{}` or `struct{ A int }` in the signature
    # (blanked twice: one level of nesting, `struct{ A struct{} }`)
    def blank(t: re.Match) -> str:
        return " " * len(t.group(0))

    brace = _first_brace(_GO_BRACED_TYPE.sub(blank, _GO_BRACED_TYPE.sub(blank, clean)))
    if brace >= len(clean) or not set(re.findall(r"[A-Za-z_]\w*", clean[brace:])) & cell_variables:
        return None
    signature = "func" + chunk.text[m.end() - 1: brace].rstrip()
    text = chunk.text[: clean.index("func", m.start())] + f"{m.group(1)} = func" + chunk.text[m.end() - 1:]
    return f"var {m.group(1)} {signature}\n", text


def _go_bodiless(chunk: Chunk) -> bool:
    """A Go ``func`` declaration without a body (``func PNG([]byte) error``)."""
    clean = _GO_BRACED_TYPE.sub("", _GO_BRACED_TYPE.sub("", blank_literals(chunk.text, "go")))
    return chunk.key.startswith("func ") and "{" not in clean


def _rename_go_main(cell: str, mains: list[Chunk]) -> str:
    """``package main`` blanked and ``main`` renamed ``dkmain`` (definition and calls)."""
    for chunk in sorted(mains, key=lambda c: c.start, reverse=True):
        if re.match(r"\s*package\b", chunk.text):
            cell = cell[: chunk.start] + _blank(chunk.text) + cell[chunk.end:]
    clean = blank_literals(cell, "go")
    spots = [m.start(1) for m in re.finditer(r"(?<![\w.])(main)\s*\(", clean)]
    for at in reversed(spots):
        cell = cell[:at] + "dkmain" + cell[at + 4:]
    return cell


def _declarators_after_types(chunks: list[Chunk], cell: str, edits: list) -> None:
    """``struct product {...} apple, banana;``: the type is kept as a declaration and the
    variables become a statement of their own (``struct product apple, banana;``), so they
    live where the cell's other variables live and carry like them."""
    for chunk, after in zip(chunks, chunks[1:], strict=False):
        if chunk.kind != "decl" or not chunk.key.startswith("type ") or not chunk.text.rstrip().endswith("}"):
            continue
        if cell[chunk.end:after.start].strip() or after.kind != "statement":
            continue
        head = re.match(r"\s*(?:typedef\s+)?(struct|class|union|enum)\b", chunk.text)
        if not head or head.group(0).strip().startswith("typedef"):
            continue
        if not re.match(r"\s*[*&]*\s*[A-Za-z_]\w*\s*(?:\[[^\]]*\]\s*)*(?:=|,|;|\(|\{)", after.text):
            continue
        prefix = f"{head.group(1)} {chunk.key[5:]} "
        edits.append((after.start, after.start, prefix))
        parsed = parse_var_decl(blank_literals(prefix + after.text, "c"))
        if parsed:
            after.names = tuple(d.name for d in parsed[1])
        after.text = prefix + after.text


def _collapse(text: str, innermost: str, replacement: str) -> str:
    """``text`` with the ``innermost`` bracket pairs replaced, again until none is left (nested ones too)."""
    while True:
        shorter = re.sub(innermost, replacement, text)
        if shorter == text:
            return text
        text = shorter


def _public_fields(decl: Decl) -> list[str] | None:
    """The data members of a C++ struct that is an aggregate with public, assignable members
    (``struct movie { std::string title; int year; };``), in order; None for anything else
    (constructors, private or const or reference members, bases, templates, nested types)."""
    text = blank_literals(decl.text, "cpp").strip()
    head = re.match(r"(?:typedef\s+)?(struct|class)\s+([A-Za-z_]\w*)\s*\{", text)
    if not head or text.rfind("}") < 0:
        return None
    kind, name = head.groups()
    body = text[head.end(): text.rfind("}")]
    body = _collapse(body, r"\{[^{}]*\}", ";")  # member function bodies and brace initializers end a member
    if re.search(r"\b(private|protected|virtual|union|struct|class|enum|template)\b", body):
        return None
    if kind == "class" and not re.match(r"\s*public\s*:", body):
        return None
    body = re.sub(r"\bpublic\s*:", " ", body)
    names = []
    for member in _split_depth0(body, ";"):
        member = member.strip()
        if not member or re.match(r"(static|using|typedef|friend)\b", member) or "operator" in member:
            continue
        if "(" in _depth0(member) or "(" in member.split("=")[0]:
            if re.match(rf"(?:explicit\s+)?~?{name}\s*\(", member):
                return None  # a constructor: not an aggregate
            continue  # a member function
        parsed = parse_var_decl(member + ";")
        if not parsed or re.search(r"\bconst\b|&|:", (parsed[0] + " " + member.split("=")[0]).replace("::", "")):
            return None
        names += [d.name for d in parsed[1]]
    return names or None


def _plain_data(decl: Decl, known: dict) -> bool:
    """Does a C++ class hold only plain data (no pointer or reference member), it and its
    bases? Member functions' parameters and bodies are not members: they are left out."""
    text = blank_literals(decl.text, "cpp")
    if text.lstrip().startswith("template"):
        return False
    brace = text.find("{")
    if brace < 0:
        return False
    head, body = text[:brace], text[brace + 1: text.rfind("}")]
    body = _collapse(body, r"\{[^{}]*\}|\([^()]*\)", " ")  # drop function bodies and parameter lists
    if re.search(r"[*&]", body) or re.search(r"\bvirtual\b", body):
        return False
    bases = re.split(r"(?<!:):(?!:)", head, maxsplit=1)
    for base in re.findall(r"[A-Za-z_]\w*", bases[1]) if len(bases) > 1 else []:
        if base in ("public", "private", "protected", "virtual"):
            continue
        parent = known.get("type " + base)
        if parent is None or parent is decl or not _plain_data(parent, known):
            return False
    return True


def _java_static(chunk: Chunk) -> list[tuple[int, int, str]]:
    """The edit that makes a cell's class, method or field a static member of ``Main``."""
    clean = blank_literals(chunk.text, "java")
    m = re.match(r"\s*(?:@(?!interface)[\w.]+(?:\([^)]*\))?\s*)*", clean)
    rest = clean[m.end():]
    if re.match(_JAVA_MODIFIERS, rest) and re.search(r"\bstatic\b", re.match(_JAVA_MODIFIERS, rest).group(0)):
        return []
    return [(chunk.start + m.end(), chunk.start + m.end(), "static ")]


def _java_serializable(chunk: Chunk) -> list[tuple[int, int, str]]:
    """The edit that makes a cell's class or record ``java.io.Serializable``, so that its
    instances carry to the next cell (IJava's JShell keeps them in one JVM). A field that is
    not serializable still makes its instance's save fail, and the instance is named."""
    clean = blank_literals(chunk.text, "java")
    bare = re.sub(r"^\s*(?:@(?!interface)[\w.]+(?:\([^)]*\))?\s*)*", "", clean)
    if not re.match(_JAVA_MODIFIERS + r"(class|record)\s", bare):
        return []
    brace = _first_brace(clean)
    head = clean[:brace]
    if re.search(r"\bSerializable\b", head):
        return []
    if re.search(r"\bimplements\b", _depth0(head)):
        return [(chunk.start + len(head.rstrip()), chunk.start + len(head.rstrip()), ", java.io.Serializable")]
    return [(chunk.start + len(head.rstrip()), chunk.start + len(head.rstrip()), " implements java.io.Serializable")]


_JAVA_PRIMITIVES = ("int", "long", "double", "float", "short", "byte", "char", "boolean")


def _java_field_init(chunk: Chunk) -> list[tuple[int, int, str]]:
    """A field initializer that calls code runs inside ``dkInit`` (exceptions reported as the
    program's, not as an ExceptionInInitializerError)."""
    clean = blank_literals(chunk.text, "java")
    parsed = parse_var_decl(re.sub(r"^\s*(?:final\s+)", "", clean))
    if not parsed or len(parsed[1]) != 1:
        return []
    depth, eq = 0, -1
    for i, c in enumerate(clean):
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        elif c == "=" and depth == 0 and clean[i + 1 : i + 2] != "=":
            eq = i
            break
    semi = clean.rstrip().rfind(";")
    if eq < 0 or semi < eq:
        return []
    init = clean[eq + 1 : semi]
    if init.strip().startswith("{") or not re.search(r"[(/%\[]", init):
        return []
    type_text = re.sub(r"\b(final|static|transient|volatile)\b", "", parsed[0]).strip()
    cast = f"({type_text}) " if type_text in _JAVA_PRIMITIVES else ""
    return [(chunk.start + eq + 1, chunk.start + eq + 1, f" dkInit(() -> {cast}("), (chunk.start + semi, chunk.start + semi, "))")]
