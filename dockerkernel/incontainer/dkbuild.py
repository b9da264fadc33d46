#!/usr/bin/python3
"""dkbuild: compile a notebook program (see dockerkernel/notebook_program.py).

    dkbuild.py SOURCE -- COMPILER ARGV...

Runs the compiler argv. For a notebook program (one that carries NOTEBOOK_MARK):

* Go and Java: the variables carried from the previous cell live in a file that program
  wrote (``/workspace/.dockerkernel/go/dkvars.go``, ``.../java/DkVars.java``); it is copied
  next to SOURCE (or an empty one is written) and added to the compiler's argv.
* C++: with compiler flags other than those the prelude was precompiled with, the plain
  text of the prelude is included instead.
* A line ending in ``//dk:alt@LINE:TEXT`` is one the compiler may refuse (showing the value of
  a Go call that returns nothing, saving a Rust variable the cell moved): when the diagnostics
  point at LINE of the cell file, the line becomes TEXT and the compiler runs again.

Its output is the last compiler run's; its exit status too.

Java cells in a pool container do not come here: the warm JVM (images/java/DkWarm.java) does
the same for Java in memory; a change to the Java rules here belongs there too.
"""

import os
import re
import shutil
import subprocess
import sys

NOTEBOOK_MARK = "dockerkernel notebook program"
STATE = "/workspace/.dockerkernel"
ALT = re.compile(r"//dk:alt@(\d+):(.*)$")
CPP_PRELUDE = '#include "/opt/dockerkernel/cpp/dkprelude.hpp"'
CPP_PRELUDE_TEXT = '#include "/opt/dockerkernel/cpp/text/dkprelude.hpp"'
CPP_PCH_FLAGS = ("-std=gnu++17", "-O1")  # what images/cpp/Dockerfile precompiled it with
RUST_RUNTIME = "/opt/dockerkernel/rust/libdkrt.rlib"  # images/rust/dkrt.rs, compiled in the image
EMPTY = {
    "go": ("dkvars.go", "package main\n\nfunc dkSaveCarried() {}\n"),
    "java": ("DkVars.java", "class DkVars {}\n"),
}


def main():
    argv = sys.argv[1:]
    source, argv = argv[0], argv[argv.index("--") + 1 :]
    with open(source, encoding="utf-8", errors="surrogateescape") as fh:
        text = fh.read()
    language = {".go": "go", ".java": "java", ".rs": "rust", ".cpp": "cpp", ".c": "c"}.get(os.path.splitext(source)[1])
    notebook = NOTEBOOK_MARK in text
    if notebook and language in EMPTY:
        name, empty = EMPTY[language]
        target = os.path.join(os.path.dirname(source), name)
        try:
            shutil.copyfile(os.path.join(STATE, language, name), target)
        except OSError:
            with open(target, "w") as fh:
                fh.write(empty)
        argv.append(target)
    if notebook and language == "rust":
        # kept items a later cell does not use, and the runtime's own, are not the user's concern
        argv += ["-A", "dead_code", "-A", "unused_imports", "-A", "unused_mut", "--extern", "dkrt=" + RUST_RUNTIME]
    if notebook and language in ("c", "cpp"):
        # the program's own saves read every carried variable (an `int a;` not yet set, one the
        # cell never uses): gcc's warnings about that are about our code, not the user's, and
        # xeus-cling shows none for `1776;` either
        argv += ["-Wno-maybe-uninitialized", "-Wno-uninitialized", "-Wno-unused-variable",
                 "-Wno-unused-but-set-variable", "-Wno-unused-value"]
    if notebook and language == "cpp" and any(
        arg.startswith(("-O", "-f", "-m", "-g", "-std=", "-p")) and arg not in CPP_PCH_FLAGS for arg in argv[1:]
    ):
        # the precompiled prelude was built with the default flags; with others g++ 12 may
        # even crash on it (-O2: "internal compiler error"), so include the plain text copy
        text = text.replace(CPP_PRELUDE, CPP_PRELUDE_TEXT, 1)
        with open(source, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
    base = os.path.basename(source)
    dropped = forget_retyped(text) if notebook and language == "rust" else []
    done, text = compile_with_alternatives(argv, source, text, notebook)
    if notebook:
        done, text, mended = mend(argv, source, text, done, language)
        dropped += mended
    output = done.stdout
    if dropped:
        output = "".join(dropped).encode() + output
    if notebook and language == "go":
        # a later cell's `main()` calls the kept `dkmain` (notebook_program.py): the user wrote `main`
        output = re.sub(rb"\bdkmain\b", b"main", output)
    if notebook and language == "rust":
        output = drop_generated_warnings(output.decode("utf-8", "surrogateescape"), text.split("\n"), base)
        # a kept whole program's `main` is compiled as `dk_main` (notebook_program.py): the
        # user wrote, and reads, `main`
        output = re.sub(r"\bdk_main\b", "main", output).encode("utf-8", "surrogateescape")
    sys.stdout.buffer.write(output)
    sys.exit(done.returncode)


def mend(argv, source, text, done, language):
    """What a notebook program's failed compile can be mended of, per language (see the
    functions called); returns the last run, the program and the notices to show first."""
    notices = []
    if language == "go":
        done, text, notices = as_gophernotes(argv, source, text, done)
    if language in ("c", "cpp"):
        done, text, notices = drop_stale_kept(argv, source, text, done)
    if language == "cpp":
        done, text, unloadable = drop_unloadable_state(argv, source, text, done)
        notices += unloadable
    return done, text, notices


RETYPED = re.compile(r"^// dk:retyped (.+)$", re.MULTILINE)
RUST_RESTORE = re.compile(r'include!\("(%s/rust/(\w+)\.rs)"\)' % re.escape(STATE))


def forget_retyped(text):
    """Rust: carried variables whose type mentions a struct this cell defines again with other
    fields (``// dk:retyped NAME ...``, written by notebook_program.py) are forgotten before the
    compile: their saved value would not read back as the new struct. Returns the notices."""
    found = RETYPED.search(text)
    if not found:
        return []
    names = found.group(1).split()
    notices = []
    for path, variable in RUST_RESTORE.findall(text):
        try:
            with open(path, encoding="utf-8") as fh:
                restore = fh.read()
        except OSError:
            continue
        hit = next((n for n in names if re.search(r"dk_load::<.*\b%s\b" % re.escape(n), restore)), None)
        if hit:
            why = f"its type {hit} was defined again with other fields"
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(f'dk_gone("{variable}", "{why}")')
            notices.append(f"dockerkernel: {variable} is not carried to the next cell: {why}\n")
    return notices


def compile_with_alternatives(argv, source, text, notebook):
    """Run the compiler; for a notebook program, again with each ``//dk:alt`` line it refused replaced."""
    base = os.path.basename(source)
    for _attempt in range(4):
        done = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        if done.returncode == 0 or not notebook:
            break
        output = done.stdout.decode("utf-8", "replace")
        lines = text.split("\n")
        changed = False
        for index, line in enumerate(lines):
            found = ALT.search(line)
            if found and re.search(r"%s:%s:" % (re.escape(base), found.group(1)), output):
                lines[index] = found.group(2)
                changed = True
        if not changed:
            break
        text = "\n".join(lines)
        with open(source, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
    return done, text


GO_UNUSED = re.compile(r"^(.+?):(\d+)(?::\d+)?: (?:(\w+) declared but not used|declared and not used: (\w+))$",
                       re.MULTILINE)  # go 1.19, go 1.20 and later
GO_LINE = re.compile(r"^//line (.+):(\d+)$")


def use_unused_go_variables(argv, source, text, done):
    """Go: a variable declared and not used is not an error in gophernotes (gomacro does not
    check it, and notebooks leave loop variables and results unread: kylekizirian/gonotes).
    Each one the compiler names is used once where it is declared (``_ = x``, placed as
    ``_use_go_variables`` says) and the compiler runs again, so the diagnostics left are the
    ones gophernotes would give too. When a use cannot be placed (it makes a syntax error), the
    run before it stands, without its unused-variable lines if others remain."""
    for _attempt in range(3):
        if done.returncode == 0:
            break
        output = done.stdout.decode("utf-8", "replace")
        unused = GO_UNUSED.findall(output)
        if not unused:
            break
        patched = _use_go_variables(text.split("\n"), unused)
        if patched is None:
            return _without_unused(done), text
        with open(source, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(patched)
        # errors the unused ones hid (Go stops at 10) may be //dk:alt lines to fall back on
        again, patched = compile_with_alternatives(argv, source, patched, True)
        if again.returncode != 0 and "syntax error" in again.stdout.decode("utf-8", "replace") \
                and "syntax error" not in output:
            with open(source, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(text)
            return _without_unused(done), text
        done, text = again, patched
    return done, text


def as_gophernotes(argv, source, text, done):
    """Go: what gophernotes runs and Go's compiler refuses, made to compile (unused variables,
    a carried variable declared again); returns the last run, the program and the notices."""
    done, text = use_unused_go_variables(argv, source, text, done)
    done, notices = forget_redeclared_go(argv, done)
    done, text, dropped = drop_stale_kept_go(argv, source, text, done)
    return done, text, notices + dropped


GO_ERROR = re.compile(r"^(Cell In\[\d+\]|\S+?):(\d+)(?::\d+)?: (.*)$", re.MULTILINE)
GO_DECL_NAME = re.compile(r"\s*(?:func\s*\(\s*\w*\s*\*?\s*([A-Za-z_]\w*)[^)]*\)\s*([A-Za-z_]\w*)"
                          r"|func\s+([A-Za-z_]\w*)|type\s+([A-Za-z_]\w*)|const\s+([A-Za-z_]\w*))")


def drop_stale_kept_go(argv, source, text, done):
    """Go: drop definitions kept from earlier cells that alone no longer compile (as
    ``drop_stale_kept`` does for C/C++). A function that used a variable of its own cell which
    was not carried (a channel), or one a later cell gave another type, would otherwise fail
    every later cell. When every error is inside such definitions (the ``//line Cell In[n]:L``
    blocks before ``func main``), they are removed, named (``dockerkernel: NAME from Cell In[n]
    is dropped: …``; the kernel forgets them) and the compiler runs again."""
    dropped = []
    for _attempt in range(5):
        if done.returncode == 0:
            break
        errors = GO_ERROR.findall(done.stdout.decode("utf-8", "replace"))
        lines = text.split("\n")
        blocks = _go_kept_blocks(lines)
        hit = {}
        for where, line, message in errors:
            block = next((b for b in blocks if b[2] == where and b[3] <= int(line) < b[3] + b[1] - b[0]), None)
            if block is None or block[4] is None:
                return done, text, dropped
            hit.setdefault(block, f"{where}:{line}: {message}")
        if not hit:
            break
        for block, why in sorted(hit.items(), reverse=True):
            dropped.append(f"dockerkernel: {block[4]} from {block[2]} is dropped: it no longer compiles ({why})\n")
            del lines[block[0] - 1: block[1]]  # with its //line directive
        text = "\n".join(lines)
        done = recompile(argv, source, text)
    return done, text, dropped


def _go_decl_name(lines):
    """The name a kept Go definition's lines define, as the kernel keys it (``T.m`` for a
    method), or None (an import, or nothing recognised)."""
    first = next((code for code in map(_go_code, lines) if code.strip()), "")
    found = GO_DECL_NAME.match(first)
    if not found:
        return None
    return f"{found.group(1)}.{found.group(2)}" if found.group(1) else next(g for g in found.groups() if g)


def _go_kept_blocks(lines):
    """The definitions kept from earlier cells in a Go notebook program: ``(first index, end
    index, label, first line, name or None)``, one per ``//line Cell In[n]:L`` directive
    before ``func main() {``; an import has no name (never dropped)."""
    blocks, start = [], None
    for index, line in enumerate(lines + ["//line end:0"]):
        directive = GO_LINE.match(line)
        if directive and index and lines[index - 1].endswith(USE_MARK):
            continue  # the directive after an inserted use: the same definition goes on
        if directive or line.startswith("func main() {"):
            if start is not None:
                blocks.append((start[0], index, start[1], start[2], _go_decl_name(lines[start[0]:index])))
                start = None
            if line.startswith("func main() {"):
                break
            if directive and directive.group(1).startswith("Cell In["):
                start = (index + 1, directive.group(1), int(directive.group(2)))
    return blocks


GO_CARRIED_LINE = re.compile(r'^(?:var (\w+) |\tdkLoad(?:Deep)?\("(\w+)"|\tdkSave\("(\w+)")')


def _carried_on(line):
    """The variable a line of ``dkvars.go`` declares, loads or saves, or None."""
    found = GO_CARRIED_LINE.match(line)
    return next((g for g in found.groups() if g), None) if found else None


GO_REDECLARED = re.compile(r"^\S*dkvars\.go:\d+(?::\d+)?: (\w+) redeclared in this block$", re.MULTILINE)


def forget_redeclared_go(argv, done):
    """Go: a carried variable the cell declares again as a func, type or const (``f := 5``,
    then ``func f() int``: gophernotes replaces it) is not carried: it leaves the copy of
    ``dkvars.go`` this program is built with (its ``var``, load and save), the compiler runs
    again, and it is named. Returns the last run and the notices."""
    notices = []
    for _attempt in range(3):
        if done.returncode == 0:
            break
        names = GO_REDECLARED.findall(done.stdout.decode("utf-8", "replace"))
        target = next((a for a in argv if a.endswith("/" + EMPTY["go"][0])), None)
        if not names or target is None:
            break
        with open(target, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().split("\n")
        gone = set(names)
        lines = [line for line in lines if _carried_on(line) not in gone]
        with open(target, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("\n".join(lines))
        notices += [f"dockerkernel: {n} is not carried to the next cell: this cell declares {n} again, "
                    "not as a variable\n" for n in sorted(gone)]
        done = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    return done, notices


def _without_unused(done):
    """``done`` with its unused-variable diagnostics taken out when others remain: those are
    the errors gophernotes would show."""
    output = done.stdout.decode("utf-8", "surrogateescape")
    kept = [line for line in output.split("\n") if not GO_UNUSED.fullmatch(line)]
    if not any(re.match(r"^.+?:\d+(?::\d+)?: ", line) for line in kept):
        return done
    return subprocess.CompletedProcess(done.args, done.returncode, "\n".join(kept).encode("utf-8", "surrogateescape"))


GO_BLOCK_HEAD = re.compile(r"\s*(?:\}\s*else\s+)?(?:if|for|switch|select)\b.*\{\s*(?://.*)?$|\s*case\b.*:\s*(?://.*)?$")


USE_MARK = "// dk:use"
GO_CONTINUED = (",", "+", "-", "*", "/", "%", "&", "|", "^", "=", "(", "[", "{", ".", "<-")
GO_ONE_LINE_BLOCK = re.compile(r"\s*(?:func|if|for|switch|select)\b[^{]*\{.*\}\s*$")
GO_LITERAL = re.compile(r"//.*$|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`")


def _go_code(line):
    """``line`` with its literals and comment blanked, every column where it was."""
    return GO_LITERAL.sub(lambda m: " " * len(m.group(0)), line)


def _go_line_map(lines):
    """``(where, at)``: (label, line) of the ``//line`` directives -> the indices in ``lines``
    numbered so, and index -> (label, line)."""
    where, at = {}, {}
    label, number = None, 0
    for index, line in enumerate(lines):
        directive = GO_LINE.match(line)
        if directive:
            label, number = directive.group(1), int(directive.group(2))
            continue
        if line.endswith(USE_MARK):  # a use this module inserted: not a line of the cell
            continue
        if label is not None:
            where.setdefault((label, number), []).append(index)
            at[index] = (label, number)
            number += 1
    return where, at


def _index_of(lines, where, file, line, name):
    """The index in the program of ``file``'s ``line`` (a diagnostic's place) that holds
    ``name``, or None. Several program lines may carry one number (the lines after a kept
    definition count on until the next directive)."""
    indices = [i for (label, n), found in where.items() if n == line and file.endswith(label) for i in found]
    return next((i for i in indices if re.search(r"(?<![\w.])%s\b" % re.escape(name), _go_code(lines[i]))),
                None)


def _statement_end(lines, index):
    """The index of the line where the statement that starts on ``lines[index]`` ends (its
    brackets closed), or ``index`` when that line opens a block the variable belongs to."""
    if GO_BLOCK_HEAD.match(lines[index]):
        return index
    depth = 0
    for end in range(index, min(len(lines), index + 200)):
        code = _go_code(lines[end])
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0 and not code.rstrip().endswith(GO_CONTINUED):  # `a, b := 1,` goes on
            return end
    return index


def _same_line_end(code, name):
    """The column where the statement declaring ``name`` ends on its line (before a ``;`` or
    the ``}`` that closes the block it is in), when that declaration sits inside a block the
    line opens (``func k() int { u := 1; return 3 }``, ``defer func() { r := recover() }()``);
    else None."""
    found = re.search(r"(?<![\w.])%s\b" % re.escape(name), code)
    brace = code.find("{")
    if not found or brace < 0 or found.start() < brace:
        return None
    depth = 0
    for column in range(found.end(), len(code)):
        c = code[column]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return column
            depth -= 1
        elif c == ";" and depth == 0:
            return column
    return None


def _use_go_variables(lines, unused):
    """``lines`` with ``_ = x`` after each (file, line, name) of ``unused``; None if one is not found.

    On the declaring line when the declaration sits in a block that line opens (``func k()
    int { u := 1; return 3 }``: right after its statement), or the line is a one-line block;
    ``switch t := x.(type)`` loses its unused ``t :=``; after the declaring line when it opens a
    block (``for i := range c {``: inside it); else after the line where the statement ends
    (its brackets closed, no trailing comma or operator: ``c := []int{`` … ``}``)."""
    lines = list(lines)
    where, at = _go_line_map(lines)
    inserts = {}  # index of the line to insert after -> names
    for file, line, old_name, new_name in unused:
        name = old_name or new_name
        index = _index_of(lines, where, file, int(line), name)
        if index is None:
            return None
        code = _go_code(lines[index])
        switch = re.search(r"\bswitch\s+(%s\s*:=\s*)" % re.escape(name), code)
        if switch:  # `switch t := x.(type)` with t unused in every case: `switch x.(type)`
            lines[index] = lines[index][:switch.start(1)] + " " * len(switch.group(1)) + lines[index][switch.end(1):]
            continue
        column = _same_line_end(code, name)
        if column is None and GO_ONE_LINE_BLOCK.match(code):
            column = code.rindex("}")
        if column is not None:
            lines[index] = lines[index][:column] + f"; _ = {name} " + lines[index][column:]
            continue
        inserts.setdefault(_statement_end(lines, index), []).append(name)
    return "\n".join(_insert_uses(lines, inserts, at))


def _insert_uses(lines, inserts, at):
    """``lines`` with ``_, _ = a, b`` after each index of ``inserts`` (index -> names), and a
    ``//line`` directive after it that gives the next line its own number again."""
    for index in sorted(inserts, reverse=True):
        names = inserts[index]
        label, line = at.get(index, (None, 0))
        use = ", ".join(["_"] * len(names)) + " = " + ", ".join(names) + " " + USE_MARK
        lines[index + 1:index + 1] = [use] + ([f"//line {label}:{line + 1}"] if label else [])
    return lines


def recompile(argv, source, text):
    """Write ``text`` to ``source`` and run the compiler again; its completed process."""
    with open(source, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)
    return subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


KEPT_MARK = re.compile(r"^//dk:kept (Cell In\[\d+\])\|([^|]*)\|(\d+)\|(\d+)$")
GCC_ERROR = re.compile(r"^(.+?):(\d+):(?:\d+:)? (?:fatal )?error: (.*)$", re.MULTILINE)


def drop_stale_kept(argv, source, text, done):
    """C/C++: drop definitions kept from earlier cells that alone no longer compile.

    A class defined again (`class Rectangle` with other members) can break a function an
    earlier cell defined against the old one. When every error of a failed compile is inside
    such kept definitions (marked ``//dk:kept LABEL|NAME|LINE|LINES`` by notebook_program.py),
    they are removed and the compiler runs again; each is named once in a
    ``dockerkernel: NAME from LABEL is dropped: …`` line (the kernel forgets it too). An error
    in the cell itself, or one the marks do not explain, is reported as it is.
    """
    dropped = []
    for _attempt in range(5):
        if done.returncode == 0:
            break
        output = done.stdout.decode("utf-8", "replace")
        errors = GCC_ERROR.findall(output)
        lines = text.split("\n")
        blocks = []  # (first index in lines, last index, label, name, first line, count)
        for index, line in enumerate(lines):
            mark = KEPT_MARK.match(line)
            if mark:
                count = int(mark.group(4))
                blocks.append((index, index + 1 + count, mark.group(1), mark.group(2), int(mark.group(3)), count))
        hit = {}
        for where, line, message in errors:
            block = next((b for b in blocks if b[2] == where and b[4] <= int(line) < b[4] + b[5]), None)
            if block is None:
                return done, text, dropped
            hit.setdefault(block, f"{where}:{line}: error: {message}")
        if not hit:
            break
        for block, why in sorted(hit.items(), reverse=True):
            dropped.append(f"dockerkernel: {block[3]} from {block[2]} is dropped: it no longer compiles ({why})\n")
            del lines[block[0]: block[1] + 1]
        text = "\n".join(lines)
        done = recompile(argv, source, text)
    return done, text, dropped


STATE_HEADER = re.compile(r"(/workspace/\.dockerkernel/cpp/state(?:_late)?\.hpp):(\d+):")
STATE_LINE = re.compile(r"^(?:const )?(.+?) (\w+) = dk::load<|^(.+?) (\w+)\[.*?dk_loaded_\w+ = dk::load_into")


def drop_unloadable_state(argv, source, text, done):
    """C++: carried variables whose saved value no longer compiles are not carried.

    A class defined again (``class MyClass`` with a constructor and private members, where
    the old one was plain data) leaves the previous cell's ``state.hpp`` loading a ``MyClass``
    the codec no longer reads. When every error of a failed compile is on a line of the state
    headers, or inside the prelude instantiated from one (``state_late.hpp:2:38: required
    from here``), a copy of the header without those variables is included instead (the
    workspace's own stays as it is: a cell that fails later adds nothing and removes
    nothing), and each is named in a ``dockerkernel: NAME (TYPE) is not carried to the next
    cell: …`` line (the kernel forgets it too).
    """
    notices = []
    headers = {}  # path -> its lines, patched
    for _attempt in range(3):
        if done.returncode == 0:
            break
        blamed = blamed_state_lines(done.stdout.decode("utf-8", "replace"))
        if not blamed:
            break
        for path, numbers in blamed.items():
            if path not in headers:
                try:
                    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                        headers[path] = fh.read().split("\n")
                except OSError:
                    return done, text, notices
            for number in sorted(numbers):
                notice = forget_state_line(headers[path], number)
                if notice is None:
                    return done, text, notices
                notices.append(notice)
            copy = os.path.join(os.path.dirname(source), "dk-" + os.path.basename(path))
            with open(copy, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write("\n".join(headers[path]))
            text = text.replace('"%s"' % path, '"%s"' % copy)
        done = recompile(argv, source, text)
    return done, text, notices


def blamed_state_lines(output):
    """{state header path: its line numbers} that explain every error of g++'s ``output``, or
    None when an error is elsewhere (the cell's own). An error inside the prelude counts for
    the state header line its instantiation was ``required from``."""
    blamed = {}
    context = None  # (path, line) the current instantiation started from
    for line in output.split("\n"):
        at = STATE_HEADER.search(line)
        if "required from" in line:
            context = (at.group(1), int(at.group(2))) if at else None
            continue
        error = GCC_ERROR.match(line)
        if not error:
            if re.match(r"^\S.*: In (?:instantiation of|function|member function)", line):
                context = None
            continue
        if at and line.startswith(at.group(1)):
            blamed.setdefault(at.group(1), set()).add(int(at.group(2)))
        elif error.group(1).startswith("/opt/dockerkernel/cpp/") and context:
            blamed.setdefault(context[0], set()).add(context[1])
        else:
            return None
    return blamed or None


def forget_state_line(lines, number):
    """Blank the variable declared on line ``number`` (1-based) of a state header and its
    ``DK_SAVE``; its notice, or None when that line declares no carried variable."""
    found = STATE_LINE.match(lines[number - 1]) if 0 < number <= len(lines) else None
    if not found:
        return None
    kind, name = (found.group(1), found.group(2)) if found.group(2) else (found.group(3), found.group(4))
    lines[number - 1] = ""  # the other lines keep their numbers
    lines[:] = [re.sub(r" DK_SAVE\(%s\);" % name, "", x) for x in lines]
    return (f"dockerkernel: {name} ({kind}) is not carried to the next cell: the value an earlier cell saved "
            f"no longer fits its type (was {kind} defined again?)\n")


GENERATED = ("DkSave(", "dk_forget(")  # lines the notebook program adds after the cell's own code
WARNING_COUNT = re.compile(r"(\d+) warnings? emitted")


def drop_generated_warnings(output, lines, base):
    """rustc's warnings about lines the notebook program added, removed from its output.

    The saves after the cell's code are unreachable when the cell panics (``panic!("boom")``):
    rustc's "unreachable statement" about them is noise to the user, and a statement-level
    ``#[allow(unreachable_code)]`` does not silence it (rustc 1.63). Diagnostics are blocks
    separated by a blank line; the summary's warning count is lowered to match.
    """
    blocks = output.split("\n\n")
    kept, dropped = [], 0
    for block in blocks:
        where = re.search(r"^\s*--> (?:\S*/)?%s:(\d+):" % re.escape(base), block, re.MULTILINE)
        if block.startswith("warning") and where and 0 < int(where.group(1)) <= len(lines):
            if any(mark in lines[int(where.group(1)) - 1] for mark in GENERATED):
                dropped += 1
                continue
        kept.append(block)
    if not dropped:
        return output
    out = []
    for block in kept:
        found = WARNING_COUNT.search(block)
        if found and block.lstrip().startswith(("warning:", "error:")) and "\n" not in block.strip():
            left = int(found.group(1)) - dropped
            if left <= 0:
                block = re.sub(r"(; )?%s" % WARNING_COUNT.pattern, "", block)
                if block.strip() in ("warning:", ""):
                    continue
            else:
                block = WARNING_COUNT.sub("%d warning%s emitted" % (left, "" if left == 1 else "s"), block)
        out.append(block)
    return "\n\n".join(out)


if __name__ == "__main__":
    main()
