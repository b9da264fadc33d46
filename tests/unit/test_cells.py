"""The one cell-request builder, used by the kernel, `dockerkernel run`, doctor and the tests."""

from __future__ import annotations

import pytest

from dockerkernel import cli
from dockerkernel.cells import Limits, build_request
from dockerkernel.languages import LANGUAGES, get_language
from dockerkernel.magics import SessionSettings


def build(lang: str, text: str, **settings):
    language = get_language(lang)
    return build_request(language, text, SessionSettings(language, **settings), 4)


@pytest.mark.parametrize("lang", ["c", "cpp", "go", "rust", "java"])
def test_compiled_languages_get_their_compile_step(lang):
    request = build(lang, "")
    assert request.compile and request.run, request


def test_java_file_is_named_after_its_class():
    request = build("java", "public class Hello { public static void main(String[] a) {} }")
    assert request.source_file == "Hello.java" and request.run[-1] == "{stem}"


def test_c_statements_are_wrapped_in_main():
    assert b"int main(void)" in build("c", 'printf("x");').source


def test_flags_image_env_and_limits_come_from_the_settings():
    limits = Limits(timeout=3)
    request = build("c", "", base_limits=limits, compile_flags="-DX=1", image="mine:1", env={"A": 1})
    assert "-DX=1" in request.compile and request.image == "mine:1"
    assert request.env == {"A": "1"} and request.limits is limits and request.execution_count == 4


@pytest.mark.parametrize(
    "ext,lang",
    [(".py", "python"), (".js", "javascript"), (".mjs", "javascript"), (".sh", "bash"), (".bash", "bash"),
     (".rb", "ruby"), (".c", "c"), (".h", "c"), (".cpp", "cpp"), (".cc", "cpp"), (".cxx", "cpp"), (".go", "go"),
     (".rs", "rust"), (".java", "java")],
)
def test_run_knows_every_usual_extension(ext, lang):
    assert cli.language_of(f"dir/hello{ext.upper()}").name == lang


def test_every_language_has_an_extension():
    assert set(cli.EXTENSIONS.values()) == set(LANGUAGES)


def test_unknown_extension_says_what_to_do():
    with pytest.raises(KeyError, match="--lang"):
        cli.language_of("notes.txt")
