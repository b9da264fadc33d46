"""The language table: a language is data (image, files, commands, language_info), not a class."""

from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass, field

IMAGE_PREFIX = "dockerkernel/"
RUNNER = ("python3", "/opt/dockerkernel/runner.py")


@dataclass(frozen=True)
class Language:
    """Fixed facts about one language: how its cell becomes a program in its image."""

    name: str
    display_name: str
    source_file: str
    # argv started *before* the cell arrives (a warm interpreter reading the cell on stdin)
    warm_command: tuple[str, ...] | None = None
    # argv started after the source is written to /tmp/dk/<source_file> ({file} = that path)
    run_command: tuple[str, ...] | None = None
    version_command: tuple[str, ...] = ()
    mimetype: str = "text/plain"
    file_extension: str = ".txt"
    pygments_lexer: str = ""
    codemirror_mode: str | dict = ""
    keywords: tuple[str, ...] = ()
    completeness: str = "brackets"  # how is_complete judges a cell: python | bash | brackets
    comment: str = "#"
    env: tuple[tuple[str, str], ...] = field(default=())

    @property
    def kernel_name(self) -> str:
        """The kernelspec name, e.g. ``docker-python``."""
        return f"docker-{self.name}"

    @property
    def image(self) -> str:
        """The default image, e.g. ``dockerkernel/python:latest``."""
        return f"{IMAGE_PREFIX}{self.name}:latest"

    def container_command(self) -> list[str]:
        """The command a cell container starts with (the runner, warm or not)."""
        if self.warm_command:
            return [*RUNNER, "--warm", *self.warm_command]
        return list(RUNNER)

    def language_info(self, version: str) -> dict:
        """The ``language_info`` of kernel_info for this language."""
        return {
            "name": self.name,
            "version": version,
            "mimetype": self.mimetype,
            "file_extension": self.file_extension,
            "pygments_lexer": self.pygments_lexer,
            "codemirror_mode": self.codemirror_mode,
        }


_JS_KEYWORDS = tuple(
    "async await break case catch class const continue debugger default delete do else export "
    "extends false finally for function if import in instanceof let new null of return static "
    "super switch this throw true try typeof undefined var void while with yield console require "
    "module process Buffer Promise JSON Math Object Array String Number display".split()
)
_BASH_KEYWORDS = tuple(
    "if then else elif fi case esac for select while until do done in function time coproc "
    "echo printf read local export declare readonly return exit set unset shift source test "
    "cd pwd ls cat grep sed awk sort uniq wc head tail find xargs mkdir rm cp mv touch display".split()
)

LANGUAGES: dict[str, Language] = {
    lang.name: lang
    for lang in (
        Language(
            name="python",
            display_name="Python 3 (Docker)",
            source_file="cell.py",
            warm_command=("python3", "-u", "/opt/dockerkernel/pyboot.py"),
            version_command=("python3", "-c", "import platform; print(platform.python_version())"),
            mimetype="text/x-python",
            file_extension=".py",
            pygments_lexer="ipython3",
            codemirror_mode={"name": "ipython", "version": 3},
            keywords=tuple(keyword.kwlist) + tuple(n for n in dir(builtins) if not n.startswith("_")),
            completeness="python",
        ),
        Language(
            name="javascript",
            display_name="JavaScript (Docker)",
            source_file="cell.js",
            warm_command=("node", "/opt/dockerkernel/boot.js"),
            version_command=("node", "-p", "process.versions.node"),
            mimetype="application/javascript",
            file_extension=".js",
            pygments_lexer="javascript",
            codemirror_mode="javascript",
            keywords=_JS_KEYWORDS,
            completeness="brackets",
            comment="//",
        ),
        Language(
            name="bash",
            display_name="Bash (Docker)",
            source_file="cell.sh",
            run_command=("bash", "{file}"),
            version_command=("bash", "-c", "echo ${BASH_VERSION%%(*}"),
            mimetype="text/x-sh",
            file_extension=".sh",
            pygments_lexer="bash",
            codemirror_mode="shell",
            keywords=_BASH_KEYWORDS,
            completeness="bash",
        ),
    )
}


def get_language(name: str) -> Language:
    """Look a language up by name (``python``) or kernel name (``docker-python``)."""
    key = name.removeprefix("docker-").lower()
    aliases = {"js": "javascript", "node": "javascript", "sh": "bash", "py": "python", "python3": "python"}
    key = aliases.get(key, key)
    try:
        return LANGUAGES[key]
    except KeyError:
        known = ", ".join(sorted(LANGUAGES))
        raise KeyError(f"unknown language {name!r}; known: {known}") from None
