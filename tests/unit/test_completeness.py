"""is_complete: when jupyter console runs the input and when it asks for another line."""

from __future__ import annotations

import pytest

from dockerkernel.completeness import is_complete

# ---- is_complete -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy,code,status,indent",
    [
        ("python", "print(1)", "complete", None),
        ("python", "", "complete", None),
        ("python", "%timeout 3", "complete", None),
        ("python", "for i in range(3):", "incomplete", "    "),
        ("python", "if x:\n    if y:", "incomplete", "        "),
        ("python", "for i in x:\n    pass", "incomplete", "    "),
        ("python", "for i in x:\n    pass\n", "complete", None),
        ("python", "x = (1,", "incomplete", ""),
        ("python", "def f(:", "invalid", None),
        ("python", "x = )", "invalid", None),
        ("bash", "echo hi", "complete", None),
        ("bash", "if true; then", "incomplete", "  "),
        ("bash", "for i in 1 2; do\n  echo $i", "incomplete", "  "),
        ("bash", "echo a \\", "incomplete", ""),
        ("bash", "fi", "invalid", None),
        ("bash", "echo 'abc", "incomplete", None),  # an open quote continues, as in bash itself
        ("bash", 'echo "abc', "incomplete", None),
        ("bash", "echo $(date", "incomplete", None),
        ("bash", "cat <<EOF\nabc", "incomplete", None),  # an unterminated here-document
        ("brackets", "console.log(1)", "complete", None),
        ("brackets", "function f() {", "incomplete", "  "),
        ("brackets", "x = [1, (2", "incomplete", "    "),
        ("brackets", "`abc", "incomplete", ""),
        ("brackets", "/* comment", "incomplete", ""),
        ("brackets", "// {", "complete", None),
        ("brackets", 'let s = "}//"', "complete", None),
        ("brackets", "}", "invalid", None),
        ("brackets", "f(]", "invalid", None),
        ("brackets", "'abc", "invalid", None),
    ],
)
def test_is_complete(strategy, code, status, indent):
    reply = is_complete(strategy, code, "//" if strategy == "brackets" else "#")
    assert reply["status"] == status, reply
    if status == "incomplete" and indent is not None:
        assert reply["indent"] == indent
    if status != "incomplete":
        assert "indent" not in reply
