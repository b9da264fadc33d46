"""The Jupyter side: ``DockerKernel`` turns execute requests into sandboxed cell runs.

This package knows Jupyter messages and nothing of the Docker API: containers are the
business of ``dockerkernel.sandbox``. Every cell runs in a fresh container of the kernel's
language; its output arrives as coalesced ``stream`` messages (``streams.py``), rich output
as ``display_data``, and every way a cell can end badly (timeout, memory, output cap, fork
bomb, interrupt, the program's own exception) as one ``error`` message whose name says what
happened (the table in ``replies.py``). Configuration and its checks are in ``config.py``;
magics change a ``magics.SessionSettings``; ``cells.build_request`` makes the request.

Hook-up points: ``do_complete``, ``do_is_complete`` and ``do_execute`` below;
``_run_cell`` is where a request is built and sent.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import signal
import sys
import threading
import time
import uuid
from dataclasses import replace

from ipykernel.kernelbase import Kernel
from traitlets import observe

from .. import __version__, magics
from ..cells import CellOutcome, CellRequest, Limits, Notice, Output, build_request
from ..completeness import is_complete
from ..errors import DockerKernelError, MagicError
from ..languages import LANGUAGES, Language, get_language
from ..notebook_program import NotCarriedNotices, NotebookProgram
from ..packages import MAGIC_NAMES, shell_installs_as_magics
from ..protocol import Frame
from ..sandbox import Sandbox, process_start_time, sweep, wrap_docker_error
from . import introspection, replies
from .config import KernelConfig
from .packages import PackagesMixin
from .stdin import InputRelay
from .streams import StreamCoalescer
from .versions import LanguageVersions

__all__ = ["DockerKernel", "StreamCoalescer"]

# seconds stderr is held back for languages whose exception is read from stderr (see StreamCoalescer)
STDERR_HOLD = 1.0
EXIT_WORDS = ("exit", "quit", "exit()", "quit()")
SIGNAL_NAMES = replies.SIGNAL_NAMES


class DockerKernel(InputRelay, PackagesMixin, Kernel, KernelConfig):
    """A Jupyter kernel that runs every cell as a new program in a fresh, locked-down container."""

    implementation = "dockerkernel"
    implementation_version = __version__
    # ipykernel sleeps 0.5 ms after each cell so that what the cell printed to this process's
    # sys.stdout reaches the frontend before the reply; no cell runs in this process, and every
    # message of a cell goes out through the same IOPub thread before its reply
    _execute_sleep = 0.0

    def __init__(self, **kwargs):
        """Start the kernel; containers are created lazily, the pool warms up in the background."""
        super().__init__(**kwargs)  # a bad configuration value raises TraitError here
        self.polyglot = self.language.strip().lower() == "polyglot"
        own = get_language(self.polyglot_default if self.polyglot else self.language)
        self.settings = magics.SessionSettings(
            language=own,
            base_limits=self.configured_limits(),
            image=self.image,
            compile_flags=self.compile_flags,
            env=dict(self.env),
            allow_network=self.allow_network,
            allow_image_change=self.allow_image_change,
            keep_state=self.keep_state,
            workspace_size=self.workspace_bytes(),
            ceilings=self.ceilings(),
        )
        self.kernel_id = uuid.uuid4().hex
        self.sandbox = Sandbox(self.kernel_id, pool_size=self.pool_size, workspace_size=self.workspace_bytes())
        self.versions = LanguageVersions()
        self._provenance: dict = {}
        self.history = introspection.History()  # history_request: the cells this kernel ran
        # compiled languages: each language's notebook program (kept declarations and values)
        self.notebook_programs: dict[str, NotebookProgram] = {}
        self._built = None  # (notebook program, its build of the cell being run)
        self._setup_task: asyncio.Future | None = None
        self._shell_loop: asyncio.AbstractEventLoop | None = None
        # a kernel stopped without a shutdown_request (SIGTERM from a manager, a crash) still
        # removes its containers and workspace; only SIGKILL needs the next start's sweep or gc
        atexit.register(self._cleanup_at_exit)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.watchdog:
            # removes our containers the moment this process dies, however it dies
            from .. import watchdog

            self._watchdog = watchdog.start(os.getpid(), process_start_time(os.getpid()), self.kernel_id)

    # -- configuration ---------------------------------------------------------------------
    @observe("timeout", "mem_limit", "cpus", "pids_limit", "output_limit", "tmp_size", "network", "runtime")
    def _limits_changed(self, change) -> None:
        if hasattr(self, "settings"):
            self.settings.base_limits = self.configured_limits()

    @property
    def lang(self) -> Language:
        """The language of cells without a ``%%LANG`` line."""
        return self.settings.language

    @property
    def limits(self) -> Limits:
        """The limits that apply to the next cell."""
        return self.settings.limits

    @property
    def current_image(self) -> str:
        """The image the next cell of the kernel's language runs in."""
        return self.settings.image_for(self.lang)

    def _request(self, source: bytes, count: int, lang: Language | None = None) -> CellRequest:
        """The cell's request; a compiled language's cell joins its notebook program (``_built``)."""
        lang = lang or self.lang
        text = source.decode("utf-8", "surrogateescape")
        request = build_request(lang, text, self.settings, count)
        if self.package_volume(lang.name):  # %pip install: the cells mount the environment
            request = replace(request, limits=replace(request.limits, packages=self.package_volume(lang.name)))
        self._built = None
        # C, C++, Go, Rust, Java: the notebook is one program (with %state off each cell is alone)
        if lang.wrapper and text.strip() and self.settings.keep_state:
            notebook = self.notebook_programs.setdefault(lang.name, NotebookProgram(lang.name, lang.source_file))
            built = notebook.build(text, count)
            self._built = (notebook, built)
            request = replace(request, source=built.program.encode("utf-8", "surrogateescape"),
                              source_file=built.file_name)
        return request

    # -- start-up --------------------------------------------------------------------------
    def start(self):
        """Register handlers, then sweep leftovers of dead kernels and warm the pool."""
        # our reader and Docker threads hand work to the event loop and ipykernel's iopub
        # thread; the default 5 ms GIL switch interval would add up to that to every hand-off
        sys.setswitchinterval(0.0005)
        super().start()
        self._setup_task = asyncio.ensure_future(self._setup())

    async def _setup(self) -> None:
        loop = self._shell_loop = asyncio.get_running_loop()
        self.prefetch_index_settings()
        try:
            await loop.run_in_executor(None, lambda: sweep(self.sandbox.client))
            self.sandbox.warm_up(self._request(b"", 0))
        except Exception as exc:  # no daemon yet: cells will say so and retry
            self.log.warning("dockerkernel: setup deferred: %s", exc)

    @property
    def language_info(self) -> dict:
        """``language_info`` with the version read from the image."""
        if self.polyglot:
            return {"name": "polyglot", "version": __version__, "mimetype": "text/plain", "file_extension": ".txt",
                    "pygments_lexer": "text", "codemirror_mode": ""}
        return self.lang.language_info(self.versions.cached(self.lang, self.current_image) or "")

    @property
    def banner(self) -> str:
        """Shown by jupyter console."""
        limits = self.limits
        return (
            f"dockerkernel {__version__}: {self.lang.display_name} — every cell runs in a fresh container of "
            f"{self.current_image}\nlimits: {magics.format_size(limits.memory)} memory, {limits.cpus:g} CPU, "
            f"{limits.timeout:g} s, network {limits.network}. %help lists the magics."
        )

    @property
    def help_links(self) -> list:
        """Links shown in JupyterLab's help menu."""
        return [{"text": "dockerkernel magics: run %help", "url": "https://jupyter.org"}]

    @property
    def kernel_info(self) -> dict:
        """kernel_info without the debugger (cells do not run in this process)."""
        info = super().kernel_info
        info["supported_features"] = [f for f in info.get("supported_features", []) if f != "debugger"]
        return info

    async def kernel_info_request(self, stream, ident, parent):
        """Read the language version from the image (once per image id) before answering."""
        try:
            if not self.polyglot:
                await asyncio.wait_for(self.versions.probe(self.lang, self.current_image, self.sandbox), 20)
        except Exception as exc:
            self.log.warning("dockerkernel: could not read the language version: %s", exc)
        await super().kernel_info_request(stream, ident, parent)

    # -- interrupt -------------------------------------------------------------------------
    def pre_handler_hook(self):
        """While a request runs, SIGINT (interrupt) kills the running cell's container."""
        loop = asyncio.get_running_loop() if _loop_running() else None

        def on_sigint(signum, frame):
            if loop is not None:
                loop.call_soon_threadsafe(self.sandbox.interrupt)
            else:
                self.sandbox.interrupt()

        self.saved_sigint_handler = signal.signal(signal.SIGINT, on_sigint)

    def post_handler_hook(self):
        """Restore the previous SIGINT handler."""
        signal.signal(signal.SIGINT, self.saved_sigint_handler)

    # -- execute ---------------------------------------------------------------------------
    async def do_execute(
        self, code, silent, store_history=True, user_expressions=None, allow_stdin=False, *, cell_meta=None,
        cell_id=None,
    ):
        """Run one cell in a fresh container and report how it ended."""
        self._provenance = {}
        if store_history and not silent:
            self.history.record(self.execution_count, code)
        if code.strip() in EXIT_WORDS:
            # what IPython does: jupyter console leaves when it sees this payload
            reply = self._ok()
            reply["payload"] = [{"source": "ask_exit", "keepkernel": False}]
            return reply
        try:
            await self.install_configured_requirements()  # a notebook's recorded packages, before its first cell
            return await self._execute(code, silent, allow_stdin)
        except MagicError as exc:
            return self._error("UsageError", str(exc))
        except DockerKernelError as exc:
            return self._error(type(exc).__name__, str(exc).split("\n")[0], [str(exc)])
        except Exception as exc:  # never leave a frontend without a reply
            self.log.exception("dockerkernel: unexpected failure")
            wrapped = wrap_docker_error(exc)
            return self._error(type(wrapped).__name__, str(wrapped).split("\n")[0], [str(wrapped)])

    async def _execute(self, code: str, silent: bool, allow_stdin: bool) -> dict:
        """Apply the cell's magics, then run what is left of it (if anything)."""
        lang = self.lang
        self.settings.cell_stdin = ""  # %stdin is for one cell
        found, body = self._split_magics(code, lang)
        for magic in found:
            switched = magics.cell_language(magic.name) if magic.cell else None
            if switched is not None:
                # %%ruby etc.: this cell is another language; blank lines keep its line numbers
                lang = switched
                inner, body = self._split_magics(body, lang)
                body = "\n" * magic.line_number + body
                for line_magic in inner:  # `%%c` then `%stdin FILE`, `%timeout 5`, ...
                    if line_magic.cell:
                        raise MagicError(f"%%{line_magic.name} must be the first line of a cell")
                    await self._apply_line_magic(line_magic)
            elif magic.cell:
                await self._cell_magic(magic, body)
                return self._ok()  # a cell magic consumed the cell
            else:
                await self._apply_line_magic(magic)
        if "\x00" in body:
            return self._error("InvalidSource", "the cell contains NUL bytes, which no program source may contain")
        if not body.strip():
            return self._ok()  # nothing to run: no container at all
        return await self._run_cell(body.encode("utf-8", "surrogateescape"), silent, allow_stdin, lang)

    async def _apply_line_magic(self, magic: magics.Magic) -> None:
        """Apply one line magic and show what it says; %pip/%npm/%gem install (``PackagesMixin``)."""
        if magic.name in MAGIC_NAMES:
            await self._package_magic(magic.name, magic.args)
            return
        shown = self.settings.apply(magic)
        if shown:
            self._send_stream("stdout", shown)

    def _split_magics(self, code: str, lang: Language) -> tuple[list[magics.Magic], str]:
        """The kernel's magics at the top of a cell of ``lang``, and the rest of the cell."""
        if lang.magics_in_container:  # IPython: only the kernel's own magics are taken out
            code = shell_installs_as_magics(code)  # `!pip install x` at the top: the kernel's %pip
            return magics.split_kernel_magics(code, lang.comment, self._switch_magics(),
                                              also=("env",) if self.polyglot else ())
        return magics.split_magics(code, lang.comment)

    def _switch_magics(self) -> set[str]:
        """The ``%%name`` lines that switch a cell's language (IPython keeps the cell magics it has)."""
        names = set(LANGUAGES) | {"js", "node", "sh", "py", "python3"}
        # %%python stays a (same-language) switch: IPython's would look for a `python` program
        return names if self.polyglot else names - {"bash", "sh", "javascript", "js", "python3"}

    async def _cell_magic(self, magic: magics.Magic, body: str) -> None:
        """``%%file PATH``: write the rest of the cell into the workspace, no container."""
        if magic.name != "file":
            raise MagicError(f"%%{magic.name} is not a dockerkernel cell magic; %lsmagic lists them")
        path = magic.args.strip()
        if not path:
            raise MagicError("usage: %%file PATH")
        await self.sandbox.write_file(path, body.encode(), self.current_image)
        self._send_stream("stdout", f"Writing {path}\n")

    async def _run_cell(
        self, source: bytes, silent: bool, allow_stdin: bool = False, lang: Language | None = None
    ) -> dict:
        request = replace(self._request(source, self.execution_count, lang), stdin=bool(allow_stdin))
        built = self._built  # this cell's place in its notebook program (compiled languages)
        send = self._send_stream if not silent else (lambda name, text: None)
        pattern = request.language.error_pattern
        hold, keep = (STDERR_HOLD, re.compile(pattern, re.MULTILINE).search) if pattern else (None, None)
        coalescer = StreamCoalescer(send, self.stream_interval, hold=hold, keep=keep)
        answered = threading.Event()  # set when the cell ends: stop waiting for the frontend
        on_input = self._input_relay(coalescer, answered)
        state_report: dict = {}
        notices = NotCarriedNotices() if built else None

        def on_event(event):
            if isinstance(event, Frame) and event.kind == "state":
                state_report.update(event.payload)  # what the boot code carried: provenance, %state
                return
            if notices is not None and isinstance(event, Output) and event.stream == "stderr":
                notices.add(event.data)
            if silent:
                return
            if isinstance(event, Output):
                coalescer.add(event.stream, event.data)
            elif isinstance(event, Notice):
                coalescer.add_text("stderr", event.text.rstrip("\n") + "\n")
            elif isinstance(event, Frame):
                coalescer.flush()
                self._publish_frame(event)

        started = time.time()
        try:
            outcome = await self.sandbox.run(request, on_event, on_input)
        finally:
            answered.set()
            held = coalescer.take_held()
        self._record(request, outcome, started, state_report, notices)
        return self._reply_for(outcome, request, held, built[1] if built else None)

    def _record(self, request: CellRequest, outcome: CellOutcome, started: float, state_report: dict,
                notices: NotCarriedNotices | None) -> None:
        """After a cell: its provenance, what it carried (``%state``) and its notebook program's commit."""
        self._provenance = replies.provenance(request, outcome, started)
        built = self._built
        if built:  # a cell that compiled joins the program; its values count only if it ran to the end
            built[0].commit(built[1], compiled=outcome.reason != "compile", succeeded=outcome.reason == "ok",
                            dropped=notices.dropped if notices else [])
            if outcome.reason == "ok" and not built[1].whole_program:
                state_report = built[0].state_report(notices.found if notices else {})
        self.settings.record_state(request.language, outcome.reason, request.execution_count, state_report)
        if state_report:
            self._provenance["state"] = state_report

    def _reply_for(self, outcome: CellOutcome, request: CellRequest, held_stderr: str = "", kept=None) -> dict:
        """Publish what the outcome means (``replies.verdict``) and return the execute reply."""
        found = replies.verdict(outcome, request, held_stderr, kept)
        if found is None:
            if held_stderr:
                self._send_stream("stderr", held_stderr)
            return self._ok()
        if found.stderr:
            self._send_stream("stderr", found.stderr)
        return self._error(found.ename, found.evalue, found.traceback)

    # -- publishing ------------------------------------------------------------------------
    def _send_stream(self, name: str, text: str) -> None:
        self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def _publish_frame(self, frame: Frame) -> None:
        payload = frame.payload
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
        transient = payload.get("transient") if isinstance(payload.get("transient"), dict) else {}
        content = {"data": data, "metadata": metadata, "transient": transient}
        if frame.kind == "display":
            self.send_response(self.iopub_socket, "display_data", content)
        elif frame.kind == "update" and transient.get("display_id"):
            self.send_response(self.iopub_socket, "update_display_data", content)
        elif frame.kind == "clear":
            self.send_response(self.iopub_socket, "clear_output", {"wait": bool(payload.get("wait"))})
        elif frame.kind == "result":
            self.history.record_output(self.execution_count, str(data.get("text/plain", "")))
            self.send_response(
                self.iopub_socket, "execute_result",
                {"execution_count": self.execution_count, "data": data, "metadata": metadata},
            )

    def _ok(self) -> dict:
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}

    def _error(self, ename: str, evalue: str, traceback: list[str] | None = None) -> dict:
        """Publish one ``error`` message and return the matching reply."""
        traceback = traceback or [f"{ename}: {evalue}"]
        content = {"ename": ename, "evalue": evalue, "traceback": traceback}
        self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    def finish_metadata(self, parent, metadata, reply_content):
        """Attach how the cell ran (image, limits, exit status, wall time) to the reply."""
        metadata = super().finish_metadata(parent, metadata, reply_content)
        installed = self.installed_requirements()  # the packages travel with the notebook
        if self._provenance or installed:
            metadata["dockerkernel"] = {**self._provenance, **({"requirements": installed} if installed else {})}
        return metadata

    # -- completion, is_complete -----------------------------------------------------------
    async def do_is_complete(self, code):
        """Tell jupyter console whether to run the input or continue it."""
        return is_complete(self.lang.completeness, code, self.lang.comment)

    async def do_complete(self, code, cursor_pos):
        """Python: IPython's completions over the session's state (in a container); else words."""
        return await introspection.complete(self, code, cursor_pos, self._complete_words)

    async def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        """Python: IPython's ``obj?`` over the session's state (in a container)."""
        return await introspection.inspect(self, code, cursor_pos, detail_level)

    async def do_history(self, hist_access_type, output, raw, session=None, start=None, stop=None, n=None,
                         pattern=None, unique=False):
        """The cells this kernel ran (tail, range, search)."""
        return self.history.reply(hist_access_type, output, session, start, stop, n, pattern, unique)

    def _complete_words(self, code, cursor_pos):
        """Offer keywords, magics and workspace file names."""
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        before = code[:cursor_pos]
        match = re.search(r"[%\w./\-]*$", before)
        token = match.group(0) if match else ""
        start = cursor_pos - len(token)
        candidates: list[str] = []
        if token.startswith("%"):
            candidates = [f"%{name}" for name in magics.LINE_MAGICS] + ["%%file"] + [f"%%{name}" for name in LANGUAGES]
        else:
            word = re.search(r"[\w]*$", token).group(0)
            if "/" not in token:
                candidates += list(self.lang.keywords)
            candidates += list(self.sandbox.last_files)
            if word != token and "/" not in token:
                start = cursor_pos - len(word)
                token = word
        matches = sorted({c for c in candidates if c.startswith(token)}) if token else []
        return {"status": "ok", "matches": matches, "cursor_start": start, "cursor_end": cursor_pos, "metadata": {}}

    # -- shutdown --------------------------------------------------------------------------
    def _on_sigterm(self, signum, frame):
        raise SystemExit(0)

    def _cleanup_at_exit(self) -> None:
        if not self.sandbox.closed:
            self.sandbox.close_sync()

    async def do_shutdown(self, restart):
        """Remove this kernel's containers and workspace (restart starts from an empty one)."""
        try:
            shell_loop = self._shell_loop
            if shell_loop is not None and shell_loop is not asyncio.get_running_loop() and shell_loop.is_running():
                # shutdown arrives on the control thread; the sandbox lives on the shell loop
                done = asyncio.run_coroutine_threadsafe(self.sandbox.close(), shell_loop)
                await asyncio.wait_for(asyncio.wrap_future(done), 30)
            else:
                await asyncio.wait_for(self.sandbox.close(), 30)
        except Exception as exc:
            self.log.warning("dockerkernel: cleanup incomplete (dockerkernel gc will finish it): %s", exc)
        return {"status": "ok", "restart": restart}


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
