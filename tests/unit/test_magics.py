"""Magics: parsing the leading magic lines, sizes, %env; applying them to SessionSettings."""

from __future__ import annotations

import pytest

from dockerkernel import magics
from dockerkernel.errors import MagicError
from dockerkernel.languages import get_language

MiB = 1 << 20


# ---- magics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code,comment,names,body",
    [
        ("%timeout 3\n%memory 1g\nprint(1)\n", "#", ["timeout", "memory"], "\n\nprint(1)\n"),
        ("# note\n\n%timeout 3\nx = 1\ny = 2", "#", ["timeout"], "# note\n\n\nx = 1\ny = 2"),
        ("// c\n%pids 10\nconsole.log(1)", "//", ["pids"], "// c\n\nconsole.log(1)"),
        ("x = 1\n%timeout 3\n", "#", [], "x = 1\n%timeout 3\n"),
        ("print(1)", "#", [], "print(1)"),
        ("", "#", [], ""),
    ],
)
def test_split_magics(code, comment, names, body):
    found, rest = magics.split_magics(code, comment)
    assert [m.name for m in found] == names
    assert rest == body
    assert rest.count("\n") == code.count("\n")  # the program keeps its line numbers
    assert all(not m.cell for m in found)


def test_split_magics_line_numbers_and_args():
    found, rest = magics.split_magics("\n%timeout  2.5 \n# c\n%env A=b c\n1/0\n")
    assert [(m.name, m.args, m.line_number) for m in found] == [("timeout", "2.5", 2), ("env", "A=b c", 4)]
    assert rest.split("\n")[4] == "1/0"  # still line 5 (index 4)


def test_split_magics_cell_magic_takes_the_rest():
    found, rest = magics.split_magics("%timeout 3\n%%file data.txt\nline1\n%timeout 9\nline3")
    assert [(m.name, m.args, m.cell) for m in found] == [("timeout", "3", False), ("file", "data.txt", True)]
    assert rest == "line1\n%timeout 9\nline3"


@pytest.mark.parametrize(
    "text,value",
    [
        ("512m", 512 * MiB),
        ("1g", 1 << 30),
        ("1G", 1 << 30),
        ("1048576", MiB),
        ("1.5k", 1536),
        (" 2 MiB ", 2 * MiB),
        ("64kb", 64 << 10),
        ("0", 0),
        ("10b", 10),
    ],
)
def test_parse_size(text, value):
    assert magics.parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-1m", "1x", "m", "1.2.3", "1 g b"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        magics.parse_size(text)


@pytest.mark.parametrize(
    "size,text",
    [(1 << 30, "1 GiB"), (512 * MiB, "512 MiB"), (1536, "1.5 KiB"), (100, "100 B"), (3 << 29, "1.5 GiB"),
     (64 << 10, "64 KiB")],
)
def test_format_size(size, text):
    assert magics.format_size(size) == text
    if not text.endswith("bytes"):
        assert magics.parse_size(text) == size  # what %limits shows, %memory accepts


@pytest.mark.parametrize(
    "args,pair",
    [
        ("A=1", ("A", "1")),
        ("A 1", ("A", "1")),
        ("_x=a=b", ("_x", "a=b")),
        ('MSG="hello world"', ("MSG", "hello world")),
        ("MSG='it is'", ("MSG", "it is")),
        (" B = 2 ", ("B", "2")),
        ("E=", ("E", "")),
    ],
)
def test_parse_env(args, pair):
    assert magics.parse_env(args) == pair


@pytest.mark.parametrize("args", ["A", "1A=2", "A-B=1", "=1", ""])
def test_parse_env_rejects(args):
    with pytest.raises(ValueError):
        magics.parse_env(args)


# ---- SessionSettings: the registry applies magics --------------------------------------


def settings(lang: str = "python", **kwargs) -> magics.SessionSettings:
    return magics.SessionSettings(get_language(lang), **kwargs)


def test_limit_magics_change_the_next_cells_limits():
    session = settings()
    for line in ("%timeout 2.5", "%memory 256m", "%cpus 0.5", "%pids 64", "%output 2m"):
        found, _ = magics.split_magics(line)
        assert session.apply(found[0]) is None
    limits = session.limits
    got = (limits.timeout, limits.memory, limits.cpus, limits.pids, limits.output)
    assert got == (2.5, 256 * MiB, 0.5, 64, 2 * MiB)


@pytest.mark.parametrize("line", ["%timeout 99999", "%memory 1k", "%pids 3", "%cpus abc", "%nosuch 1", "%state maybe"])
def test_bad_magics_are_usage_errors(line):
    session = settings("bash")
    with pytest.raises(MagicError):
        session.apply(magics.split_magics(line)[0][0])


def test_state_is_for_every_language_and_reports_what_was_carried():
    session = settings("bash")
    assert "not carried" in session.apply(magics.Magic("state", "off"))
    assert session.keep_state is False
    session.record_state(session.language, "ok", 3, {"carried": {"count": 2, "bytes": 40, "variables": 2}})
    text = session.apply(magics.Magic("state", ""))
    assert "state is off" in text and "bash: 2 carried (2 variables), 40 bytes" in text
    session.record_state(session.language, "timeout", 4, {})
    assert session.cell_environment(session.language)["DK_STATE_DISCARD"] == "4"
    session.record_state(session.language, "ok", 5, {})
    assert "DK_STATE_DISCARD" not in session.cell_environment(session.language)


def test_network_needs_the_administrator():
    with pytest.raises(MagicError, match="allow_network"):
        settings().apply(magics.Magic("network", "on"))
    session = settings(allow_network=True)
    session.apply(magics.Magic("network", "on"))
    assert session.limits.network == "bridge"


def test_help_is_the_handlers_docstrings():
    text = magics.help_text()
    for name, handler in magics.LINE_MAGICS.items():
        assert f"%{name}" in text
        assert handler.__doc__.strip().splitlines()[0] in text


def test_lang_and_cflags_and_env():
    session = settings("python")
    session.apply(magics.Magic("lang", "c"))
    assert session.language.name == "c"
    assert "c" in session.apply(magics.Magic("cflags", "-O2"))
    assert session.flags_for(get_language("c")) == "-O2"
    session.apply(magics.Magic("env", "A=1"))
    assert session.cell_environment() == {"A": "1"} and "A=1" in session.apply(magics.Magic("env", ""))
