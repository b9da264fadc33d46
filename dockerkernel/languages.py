"""The language table: a language is data (image, files, commands, language_info), not a class."""

from __future__ import annotations

import builtins
import keyword
import os
from dataclasses import dataclass, field

# The namespace of the language images. DOCKERKERNEL_IMAGE_PREFIX lets a site (or a second
# checkout on the same daemon) keep its own set of images side by side, e.g. "course1/".
IMAGE_PREFIX = os.environ.get("DOCKERKERNEL_IMAGE_PREFIX", "dockerkernel/")
# -S: the runner needs no site-packages; skipping site saves milliseconds on the cold path
RUNNER = ("python3", "-S", "/opt/dockerkernel/runner.py")
# language_info names that differ from the table's name (the reference C++ kernel, xeus-cling,
# says "c++"; highlighting comes from pygments_lexer/codemirror_mode, which stay "cpp")
INFO_NAMES = {"cpp": "c++"}
# compiled languages whose notebook programs need more than one compiler run or file
DKBUILD = ("python3", "-S", "/opt/dockerkernel/dkbuild.py", "{file}")


@dataclass(frozen=True)
class Language:
    """Fixed facts about one language: how its cell becomes a program in its image."""

    name: str
    display_name: str
    source_file: str
    # argv started *before* the cell arrives (a warm interpreter reading the cell on stdin)
    warm_command: tuple[str, ...] | None = None
    # argv started after the source is written to /tmp/dk/<source_file>; placeholders:
    # {file} that path, {dir} /tmp/dk, {stem} the file name without extension, {exe} /tmp/dk/cell
    run_command: tuple[str, ...] | None = None
    # compiled languages: argv run first, in the same container and time limit; a failure is
    # a CompileError. "{flags}" is replaced by the user's extra flags (%cflags / compile_flags)
    compile_command: tuple[str, ...] | None = None
    default_flags: str = ""
    wrapper: str = ""  # convenience rule of sources.prepare (c, cpp, go, rust, java)
    # how to read the exception's name from stderr when the program does not send one
    error_pattern: str = ""
    version_command: tuple[str, ...] = ()
    mimetype: str = "text/plain"
    file_extension: str = ".txt"
    pygments_lexer: str = ""
    codemirror_mode: str | dict = ""
    keywords: tuple[str, ...] = ()
    completeness: str = "brackets"  # how is_complete judges a cell: python | bash | brackets
    comment: str = "#"
    env: tuple[tuple[str, str], ...] = field(default=())
    # the interpreter in the container has magics of its own (IPython): the kernel then takes
    # only its own line magics and %%LANG switches, and leaves every other %/%% line in the cell
    magics_in_container: bool = False

    def command_lines(self, flags: list[str]) -> tuple[list[str] | None, list[str] | None]:
        """(compile argv, run argv) with the extra compiler flags in place of ``{flags}``."""
        compile_argv = None
        if self.compile_command:
            compile_argv = []
            for arg in self.compile_command:
                compile_argv.extend(flags if arg == "{flags}" else [arg])
        return compile_argv, list(self.run_command) if self.run_command else None

    @property
    def kernel_name(self) -> str:
        """The kernelspec name, e.g. ``docker-python``."""
        return f"docker-{self.name}"

    @property
    def image(self) -> str:
        """The default image, e.g. ``dockerkernel/python:latest``."""
        return f"{IMAGE_PREFIX}{self.name}:latest"

    @property
    def info_name(self) -> str:
        """The name in ``language_info`` and in kernel.json's ``language`` (``c++`` for cpp)."""
        return INFO_NAMES.get(self.name, self.name)

    def container_command(self) -> list[str]:
        """The command a cell container starts with (the runner, warm or not)."""
        if self.warm_command:
            return [*RUNNER, "--warm", *self.warm_command]
        return list(RUNNER)

    def language_info(self, version: str) -> dict:
        """The ``language_info`` of kernel_info for this language."""
        return {
            "name": self.info_name,
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

_RUBY_KEYWORDS = tuple(
    "BEGIN END alias and begin break case class def defined? do else elsif end ensure false for if in "
    "module next nil not or redo rescue retry return self super then true undef unless until when while "
    "yield puts print p require attr_accessor each map select lambda proc".split()
)
_C_KEYWORDS = tuple(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while printf scanf malloc free main include define".split()
)
_CPP_KEYWORDS = tuple(
    "bool catch class constexpr delete explicit false friend namespace new nullptr operator private "
    "protected public template this throw true try typename using virtual std cout cin endl vector string "
    "map auto".split()
)
_GO_KEYWORDS = tuple(
    "break case chan const continue default defer else fallthrough for func go goto if import interface "
    "map package range return select struct switch type var fmt Println Printf main".split()
)
_RUST_KEYWORDS = tuple(
    "as break const continue crate else enum extern false fn for if impl in let loop match mod move mut pub "
    "ref return self Self static struct super trait true type unsafe use where while println format vec "
    "String Vec Option Some None Result Ok Err".split()
)
_JAVA_KEYWORDS = tuple(
    "abstract boolean break byte case catch char class continue default do double else enum extends final "
    "finally float for if implements import instanceof int interface long new package private protected "
    "public return short static super switch this throw throws try void while var record String System "
    "main".split()
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
            magics_in_container=True,
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
            name="ruby",
            display_name="Ruby (Docker)",
            source_file="cell.rb",
            # a warm interpreter that restores the previous cells' state, evaluates the cell at
            # the top level (IRuby's rules for the shown value), reports exceptions in-band
            warm_command=("ruby", "/opt/dockerkernel/rubyboot.rb"),
            run_command=("ruby", "{file}"),
            version_command=("ruby", "-e", "puts RUBY_VERSION"),
            mimetype="text/x-ruby",
            file_extension=".rb",
            pygments_lexer="ruby",
            codemirror_mode="ruby",
            keywords=_RUBY_KEYWORDS,
            completeness="ruby",
        ),
        Language(
            name="c",
            display_name="C (Docker)",
            source_file="cell.c",
            compile_command=("gcc", "-std=gnu17", "-Wall", "-O1", "-o", "{exe}", "{file}", "{flags}", "-lm"),
            run_command=("stdbuf", "-oL", "-eL", "{exe}"),
            version_command=("gcc", "-dumpfullversion"),
            mimetype="text/x-csrc",
            file_extension=".c",
            pygments_lexer="c",
            codemirror_mode="text/x-csrc",
            keywords=_C_KEYWORDS,
            wrapper="c",
            completeness="clike",
            comment="//",
        ),
        Language(
            name="cpp",
            display_name="C++ (Docker)",
            source_file="cell.cpp",
            compile_command=(*DKBUILD, "--", "g++", "-std=gnu++17", "-Wall", "-O1", "-o", "{exe}", "{file}", "{flags}"),
            run_command=("stdbuf", "-oL", "-eL", "{exe}"),
            version_command=("g++", "-dumpfullversion"),
            mimetype="text/x-c++src",
            file_extension=".cpp",
            pygments_lexer="cpp",
            codemirror_mode="text/x-c++src",
            keywords=_C_KEYWORDS + _CPP_KEYWORDS,
            wrapper="cpp",
            completeness="clike",
            comment="//",
        ),
        Language(
            name="go",
            display_name="Go (Docker)",
            source_file="cell.go",
            # dkbuild adds the file of carried variables to a notebook program (notebook_program.py)
            compile_command=(*DKBUILD, "--", "go", "build", "{flags}", "-o", "{exe}", "{file}"),
            run_command=("{exe}",),
            version_command=("sh", "-c", "go version | cut -d' ' -f3 | sed s/^go//"),
            mimetype="text/x-go",
            file_extension=".go",
            pygments_lexer="go",
            codemirror_mode="text/x-go",
            keywords=_GO_KEYWORDS,
            wrapper="go",
            completeness="clike",
            comment="//",
            error_pattern=r"^panic: (?P<evalue>.*)$",
        ),
        Language(
            name="rust",
            display_name="Rust (Docker)",
            source_file="cell.rs",
            compile_command=(*DKBUILD, "--", "rustc", "--edition", "2021", "-C", "debuginfo=0", "{flags}", "-o", "{exe}", "{file}"),
            run_command=("{exe}",),
            version_command=("sh", "-c", "rustc --version | cut -d' ' -f2"),
            mimetype="text/rust",
            file_extension=".rs",
            pygments_lexer="rust",
            codemirror_mode="rust",
            keywords=_RUST_KEYWORDS,
            wrapper="rust",
            completeness="clike",
            comment="//",
            error_pattern=r"^thread '[^']*' panicked at (?P<evalue>.*)$",
        ),
        Language(
            name="java",
            display_name="Java (Docker)",
            source_file="Main.java",
            # javac's own JVM: the quick JIT tier and the serial GC cut its CPU time by ~40 %
            compile_command=(*DKBUILD, "--", "javac", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-Xlint:none", "-d", "{dir}", "{flags}", "{file}"),
            run_command=("java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", "{dir}", "{stem}"),
            # a warm compiler: a JVM with javac loaded and warmed compiles the cell in memory with
            # the argv above and runs its main in the same JVM (images/java/DkWarm.java); the
            # --add-opens let it put the cell's environment into System.getenv(); the foreign linker
            # (incubator in JDK 17) calls libc's setenv/dup2; its start-up warning goes to /dev/null
            # (DkWarm moves the real stderr, kept on a free descriptor named in $DK_STDERR_FD, back
            # to fd 2; bash picks the descriptor: the runner's own pipes are inherited by number)
            warm_command=("bash", "-c", 'exec {DK_STDERR_FD}>&2; export DK_STDERR_FD; exec "$@" 2>/dev/null', "bash",
                          "java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                          "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.util=ALL-UNNAMED",
                          "--add-modules=jdk.incubator.foreign", "--enable-native-access=ALL-UNNAMED",
                          # the image's class-data archive of the warm-up (images/java/Dockerfile); the
                          # JVM's own warnings go to stderr: stdout is the cell's
                          "-XX:SharedArchiveFile=/opt/dockerkernel/java/dkwarm.jsa", "-Xlog:disable",
                          "-Xlog:all=warning:stderr", "-cp", "/opt/dockerkernel/java/dkwarm.jar", "DkWarm"),
            version_command=("sh", "-c", "java -version 2>&1 | head -1 | cut -d'\"' -f2"),
            mimetype="text/x-java",
            file_extension=".java",
            pygments_lexer="java",
            codemirror_mode="text/x-java",
            keywords=_JAVA_KEYWORDS,
            wrapper="java",
            completeness="clike",
            comment="//",
            error_pattern=r"^Exception in thread \"[^\"]*\" (?P<ename>[\w.$]+)(?:: (?P<evalue>.*))?$",
        ),
        Language(
            name="bash",
            display_name="Bash (Docker)",
            source_file="cell.sh",
            # a warm shell that restores the previous cells' shell state, runs the cell, saves it
            warm_command=("bash", "/opt/dockerkernel/bashboot.sh"),
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
