"""Is a cell complete? (``is_complete_request``, so ``jupyter console`` continues input sensibly.)

Pure functions, one strategy per language family: Python's own compiler, ``bash -n``, and a
bracket/string scanner for C-like languages.
"""

from __future__ import annotations

import codeop
import re
import shutil
import subprocess
import warnings

from .magics import split_magics


def python_status(code: str) -> tuple[str, str]:
    """Python: ask the compiler, like IPython does; returns (status, indent)."""
    _, body = split_magics(code)
    if not body.strip():
        return "complete", ""
    lines = body.rstrip("\n").split("\n")
    last = lines[-1]
    if len(lines) > 1 and not last.strip():
        # an empty (possibly auto-indented) last line ends a block, as in IPython
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if codeop.compile_command(body.rstrip() + "\n\n", "<cell>", "exec") is not None:
                    return "complete", ""
        except (SyntaxError, OverflowError, ValueError):
            return "invalid", ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = codeop.compile_command(body, "<cell>", "exec")
    except (SyntaxError, OverflowError, ValueError):
        return "invalid", ""
    if compiled is None:
        indent = len(last) - len(last.lstrip())
        if last.rstrip().endswith(":"):
            indent += 4
        return "incomplete", " " * indent
    # a block statement is only finished by a blank line (as in the Python REPL)
    if len(lines) > 1 and lines[-1].startswith((" ", "\t")) and not body.endswith("\n"):
        return "incomplete", last[: len(last) - len(last.lstrip())]
    return "complete", ""


def bash_status(code: str) -> tuple[str, str]:
    """Bash: ``bash -n`` parses without running; "unexpected end of file" means incomplete."""
    _, body = split_magics(code)
    if not body.strip():
        return "complete", ""
    if body.rstrip("\n").endswith("\\"):
        return "incomplete", ""
    bash = shutil.which("bash")
    if bash is None:
        return bracket_status(body)
    try:
        proc = subprocess.run([bash, "-n"], input=body.encode(), capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown", ""
    # an unterminated here-document is only a warning for `bash -n`, but the user is not done
    if b"here-document" in proc.stderr and b"delimited by end-of-file" in proc.stderr:
        return "incomplete", ""
    if proc.returncode == 0:
        return "complete", ""
    if b"unexpected end of file" in proc.stderr or b"unexpected EOF while looking for matching" in proc.stderr:
        return "incomplete", "  "
    return "invalid", ""


_PAIRS = {")": "(", "]": "[", "}": "{"}


# one scanner: a branch per token kind over shared state (depth, quote, comment); split, the
# state would have to travel between the pieces
def bracket_status(  # noqa: C901
    code: str, line_comment: str = "//", single_quote_strings: bool = True
) -> tuple[str, str]:
    """C-like languages: open brackets, strings or block comments mean incomplete."""
    _, body = split_magics(code, line_comment)
    stack: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if body.startswith(line_comment, i):
            end = body.find("\n", i)
            i = n if end < 0 else end
            continue
        if body.startswith("/*", i):
            end = body.find("*/", i + 2)
            if end < 0:
                return "incomplete", ""
            i = end + 2
            continue
        if ch == "'" and not single_quote_strings:
            # C, C++, Java, Go, Rust: ' only opens a char literal ('x', '\n'); else a Rust lifetime
            literal = re.match(r"'(\\.[^']*|[^\\'\n])'", body[i : i + 12])
            i += literal.end() if literal else 1
            continue
        if ch in "\"'`":
            j = i + 1
            while j < n and body[j] != ch:
                if body[j] == "\\":
                    j += 1
                elif body[j] == "\n" and ch != "`":
                    return "invalid", ""
                j += 1
            if j >= n:
                return ("incomplete", "") if ch == "`" else ("invalid", "")
            i = j + 1
            continue
        if ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            if not stack or stack[-1] != _PAIRS[ch]:
                return "invalid", ""
            stack.pop()
        i += 1
    if stack:
        return "incomplete", "  " * len(stack)
    if body.rstrip().endswith("\\"):
        return "incomplete", ""
    return "complete", ""


_RUBY_OPENERS = re.compile(r"^\s*(?:[\w.\[\]@$]+\s*=\s*)?(def|class|module|if|unless|while|until|case|begin|for)\b")
_RUBY_DO = re.compile(r"\bdo\s*(\|[^|]*\|)?\s*$")
_RUBY_END = re.compile(r"^\s*end\b")


def ruby_status(code: str) -> tuple[str, str]:
    """Ruby: block keywords (def/if/do ... end) and brackets must balance."""
    _, body = split_magics(code)
    depth = 0
    for line in body.split("\n"):
        stripped = line.split("#", 1)[0]
        if _RUBY_OPENERS.match(stripped) and not re.search(r"\bend\s*$", stripped):
            depth += 1
        elif _RUBY_DO.search(stripped):
            depth += 1
        if _RUBY_END.match(stripped):
            depth -= 1
    if depth < 0:
        return "invalid", ""
    if depth > 0:
        return "incomplete", "  " * depth
    return bracket_status(body, "#")


def is_complete(strategy: str, code: str, comment: str = "#") -> dict:
    """The ``is_complete_reply`` content for ``code`` under a language's strategy."""
    if strategy == "python":
        status, indent = python_status(code)
    elif strategy == "bash":
        status, indent = bash_status(code)
    elif strategy == "ruby":
        status, indent = ruby_status(code)
    elif strategy == "clike":
        status, indent = bracket_status(code, "//", single_quote_strings=False)
    else:
        status, indent = bracket_status(code, comment if comment != "#" else "//")
    reply = {"status": status}
    if status == "incomplete":
        reply["indent"] = indent
    return reply
