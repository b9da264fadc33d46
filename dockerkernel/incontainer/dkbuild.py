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
    done, text = compile_with_alternatives(argv, source, text, notebook)
    dropped = []
    if notebook and language in ("c", "cpp"):
        done, text, dropped = drop_stale_kept(argv, source, text, done)
    output = done.stdout
    if dropped:
        output = "".join(dropped).encode() + output
    if notebook and language == "rust":
        output = drop_generated_warnings(output.decode("utf-8", "surrogateescape"), text.split("\n"), base)
        output = output.encode("utf-8", "surrogateescape")
    sys.stdout.buffer.write(output)
    sys.exit(done.returncode)


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
        with open(source, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
        done = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    return done, text, dropped


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
