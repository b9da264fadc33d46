"""The Jupyter side: ``DockerKernel`` turns execute requests into sandboxed cell runs.

This module knows Jupyter messages and nothing of the Docker API: containers are the
business of ``sandbox.py``. Every cell runs in a fresh container of the kernel's language;
its output arrives as coalesced ``stream`` messages, rich output as ``display_data``, and
every way a cell can end badly (timeout, memory, output cap, fork bomb, interrupt, the
program's own exception) as one ``error`` message with a name that says what happened.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import os
import re
import shlex
import signal
import sys
import threading
import time
import uuid
from dataclasses import replace

import zmq

from ipykernel.kernelbase import Kernel
from traitlets import Bool, CFloat, CInt, Dict, Unicode, observe

from . import __version__, magics, sources
from .notebook_program import NotebookProgram
from .completeness import is_complete
from .errors import DockerKernelError, MagicError
from .languages import LANGUAGES, Language, get_language
from .protocol import Frame
from .sandbox import CellOutcome, CellRequest, Limits, Notice, Output, Sandbox
from .versions import LanguageVersions


class StreamCoalescer:
    """Turns many small writes into few ``stream`` messages (one per interval per stream).

    Order between stdout and stderr is kept: text of one stream is flushed before text of
    the other is added. Bytes are decoded incrementally, so a UTF-8 character split across
    reads stays whole; invalid UTF-8 becomes U+FFFD and NUL becomes U+2400 (␀), which every
    notebook format and exporter can carry.
    """

    def __init__(self, send, interval: float = 0.05):
        """``send(name, text)`` publishes one stream message."""
        self._send = send
        self.interval = interval
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")}
        self._pending: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._last = None
        self._timer: asyncio.TimerHandle | None = None
        self.messages = 0

    def add(self, name: str, data: bytes) -> None:
        """Queue program output of stream ``name``."""
        self._flush_other(name)  # even when the bytes only start a character: order is kept
        self.add_text(name, self._decoders[name].decode(data))

    def _flush_other(self, name: str) -> None:
        other = "stderr" if name == "stdout" else "stdout"
        if self._pending[other]:
            self._flush_one(other)

    def add_text(self, name: str, text: str) -> None:
        """Queue already decoded text."""
        if not text:
            return
        if "\x00" in text:
            text = text.replace("\x00", "\u2400")
        self._flush_other(name)
        self._pending[name].append(text)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self.flush)

    def _flush_one(self, name: str) -> None:
        parts = self._pending[name]
        if parts:
            self._pending[name] = []
            self.messages += 1
            self._send(name, "".join(parts))

    def flush(self, final: bool = False) -> None:
        """Publish everything pending (``final``: also the decoders' leftovers)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if final:
            for name, decoder in self._decoders.items():
                self.add_text(name, decoder.decode(b"", final=True))  # flushes the other stream first
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for name in ("stdout", "stderr"):  # at most one stream has pending text
            self._flush_one(name)


SIGNAL_NAMES = {int(s): s.name for s in signal.Signals}


class DockerKernel(Kernel):
    """A Jupyter kernel that runs every cell as a new program in a fresh, locked-down container."""

    implementation = "dockerkernel"
    implementation_version = __version__

    language = Unicode(
        "python", config=True,
        help="Language of this kernel (python, javascript, bash, ruby, c, cpp, go, rust, java) or 'polyglot'.",
    )
    polyglot_default = Unicode("python", config=True, help="Polyglot kernel: language of cells without a %%LANG line (%lang).")
    compile_flags = Unicode("", config=True, help="Extra compiler flags for the kernel's own (compiled) language (%cflags).")
    image = Unicode("", config=True, help="Image for the cells (default: dockerkernel/<language>:latest).")
    timeout = CFloat(30.0, config=True, help="Wall-clock limit per cell, in seconds.")
    mem_limit = Unicode("512m", config=True, help="Memory limit per cell (e.g. 512m, 1g); swap is never added.")
    cpus = CFloat(1.0, config=True, help="CPU limit per cell (number of CPUs, fractions allowed).")
    pids_limit = CInt(256, config=True, help="Maximum number of processes and threads in a cell.")
    output_limit = Unicode("1m", config=True, help="Output cap per cell; the program is stopped when it is reached.")
    tmp_size = Unicode("64m", config=True, help="Size of the /tmp tmpfs of a cell.")
    workspace_size = Unicode(
        "1g", config=True,
        help="Size cap of /workspace (an in-memory tmpfs, so filling it cannot fill the disk); 0 = plain volume, no cap.",
    )
    network = Unicode("none", config=True, help="Docker network of the cells ('none' = no network).")
    allow_network = Bool(False, config=True, help="Let users turn the network on with %network on (network 'bridge').")
    allow_image_change = Bool(False, config=True, help="Let users pick another image with %image.")
    runtime = Unicode("", config=True, help="OCI runtime for the cells ('' = daemon default runc; 'runsc' = gVisor).")
    pool_size = CInt(2, config=True, help="Pre-started containers kept ready per (image, limits); 0 disables the pool.")
    stream_interval = CFloat(0.05, config=True, help="Seconds over which stream output is coalesced into one message.")
    env = Dict(config=True, help="Environment variables for every cell.")
    max_timeout = CFloat(3600.0, config=True, help="Highest %timeout a user may set, in seconds.")
    max_mem_limit = Unicode("8g", config=True, help="Highest %memory a user may set.")
    max_cpus = CFloat(float(os.cpu_count() or 1), config=True, help="Highest %cpus a user may set.")
    max_pids_limit = CInt(4096, config=True, help="Highest %pids a user may set.")
    max_output_limit = Unicode("64m", config=True, help="Highest %output a user may set.")
    watchdog = Bool(True, config=True, help="Start a watchdog process that cleans up if this kernel dies (even SIGKILL).")
    keep_state = Bool(True, config=True, help="Python: carry picklable globals from cell to cell (%state on|off).")

    def __init__(self, **kwargs):
        """Start the kernel; containers are created lazily, the pool warms up in the background."""
        super().__init__(**kwargs)
        self.polyglot = self.language.strip().lower() == "polyglot"
        # the kernel's language; a polyglot kernel's default (cells may pick another with %%LANG)
        self.lang: Language = get_language(self.polyglot_default if self.polyglot else self.language)
        self.kernel_id = uuid.uuid4().hex
        self.sandbox = Sandbox(self.kernel_id, pool_size=self.pool_size, workspace_size=self._workspace_bytes())
        self.versions = LanguageVersions()
        self.cell_env: dict[str, str] = {}
        self.language_flags: dict[str, str] = {}  # %cflags, per compiled language
        self._network_on = False
        self._image_override = ""
        self._limits_cache: Limits | None = None
        self._provenance: dict = {}
        self.notebook_programs: dict[str, NotebookProgram] = {}  # compiled languages: the notebook is one program
        self._built = None
        self._setup_task: asyncio.Future | None = None
        self._shell_loop: asyncio.AbstractEventLoop | None = None
        # a kernel stopped without a shutdown_request (SIGTERM from a manager, a crash) still
        # removes its containers and workspace; only SIGKILL needs the next start's sweep or gc
        atexit.register(self._cleanup_at_exit)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.watchdog:
            # removes our containers the moment this process dies, however it dies
            from . import watchdog
            from .sandbox import process_start_time

            self._watchdog = watchdog.start(os.getpid(), process_start_time(os.getpid()), self.kernel_id)

    # -- configuration ---------------------------------------------------------------------
    def _workspace_bytes(self) -> int:
        return 0 if self.workspace_size.strip() in ("", "0") else magics.parse_size(self.workspace_size)

    @observe("timeout", "mem_limit", "cpus", "pids_limit", "output_limit", "tmp_size", "network", "runtime")
    def _limits_changed(self, change) -> None:
        self._limits_cache = None

    @property
    def limits(self) -> Limits:
        """The limits that apply to the next cell."""
        if self._limits_cache is None:
            network = "bridge" if self._network_on else self.network
            self._limits_cache = Limits(
                memory=magics.parse_size(self.mem_limit),
                cpus=self.cpus,
                pids=self.pids_limit,
                timeout=self.timeout,
                output=magics.parse_size(self.output_limit),
                tmp_size=magics.parse_size(self.tmp_size),
                network=network,
                runtime=self.runtime,
            )
        return self._limits_cache

    @property
    def current_image(self) -> str:
        """The image the next cell of the kernel's language runs in."""
        return self.image_for(self.lang)

    def image_for(self, lang: Language) -> str:
        """The image for a cell of ``lang`` (overrides apply to the kernel's own language)."""
        if lang is self.lang:
            return self._image_override or self.image or lang.image
        return lang.image

    def _request(self, source: bytes, count: int, lang: Language | None = None) -> CellRequest:
        lang = lang or self.lang
        text = source.decode("utf-8", "surrogateescape")
        program, source_file = sources.prepare(lang.wrapper, text, lang.source_file)
        self._built = None
        if lang.wrapper and text.strip():
            notebook = self.notebook_programs.setdefault(lang.name, NotebookProgram(lang.name, lang.source_file))
            self._built = (notebook, notebook.build(text, count))
            program, source_file = self._built[1].program, self._built[1].file_name
        chosen = self.language_flags.get(lang.name)
        if chosen is None:
            chosen = self.compile_flags if lang is self.lang else ""
        flags = shlex.split(chosen or lang.default_flags)
        compile_argv, run_argv = lang.command_lines(flags)
        return CellRequest(
            language=lang,
            source=program.encode("utf-8", "surrogateescape"),
            image=self.image_for(lang),
            limits=self.limits,
            env={**{str(k): str(v) for k, v in self.env.items()}, **self.cell_env},
            execution_count=count,
            state=self.keep_state,
            source_file=source_file,
            compile=tuple(compile_argv) if compile_argv else None,
            run=tuple(run_argv) if run_argv else None,
        )

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
        try:
            from .sandbox import sweep

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
    async def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False, *, cell_meta=None, cell_id=None):
        """Run one cell in a fresh container and report how it ended."""
        self._provenance = {}
        if code.strip() in ("exit", "quit", "exit()", "quit()"):
            # what IPython does: jupyter console leaves when it sees this payload
            reply = self._ok()
            reply["payload"] = [{"source": "ask_exit", "keepkernel": False}]
            return reply
        try:
            found, body = magics.split_magics(code, self.lang.comment)
            lang = self.lang
            for magic in found:
                if magic.cell and _cell_language(magic.name):
                    # %%ruby etc.: this cell is another language; blank lines keep its line numbers
                    lang = _cell_language(magic.name)
                    body = "\n" * magic.line_number + body
                    continue
                result = await self._apply_magic(magic, body)
                if result is not None:  # a cell magic consumed the cell
                    return self._ok()
            if "\x00" in body:
                return self._error("InvalidSource", "the cell contains NUL bytes, which no program source may contain")
            if not body.strip():
                return self._ok()  # nothing to run: no container at all
            return await self._run_cell(body.encode("utf-8", "surrogateescape"), silent, allow_stdin, lang)
        except MagicError as exc:
            return self._error("UsageError", str(exc))
        except DockerKernelError as exc:
            return self._error(type(exc).__name__, str(exc).split("\n")[0], [str(exc)])
        except Exception as exc:  # never leave a frontend without a reply
            self.log.exception("dockerkernel: unexpected failure")
            from .sandbox import wrap_docker_error

            wrapped = wrap_docker_error(exc)
            return self._error(type(wrapped).__name__, str(wrapped).split("\n")[0], [str(wrapped)])

    async def _run_cell(self, source: bytes, silent: bool, allow_stdin: bool = False, lang: Language | None = None) -> dict:
        coalescer = StreamCoalescer(self._send_stream if not silent else (lambda name, text: None), self.stream_interval)
        request = replace(self._request(source, self.execution_count, lang), stdin=bool(allow_stdin))
        answered = threading.Event()  # set when the cell ends: stop waiting for the frontend
        ident = self._get_shell_context_var(self._shell_parent_ident)
        parent = self.get_parent("shell")

        async def on_input(prompt: str, password: bool):
            coalescer.flush()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self._ask_frontend, prompt, password, ident, parent, answered)

        def on_event(event):
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
            coalescer.flush(final=True)
        self._provenance = self._provenance_of(request, outcome, started)
        if self._built:
            self._built[0].commit(self._built[1], compiled=outcome.reason != "compile", succeeded=outcome.reason == "ok")
        return self._reply_for(outcome, request, coalescer)

    def _ask_frontend(self, prompt: str, password: bool, ident, parent, cancelled: threading.Event):
        """Thread: send an input_request and wait for its reply (None on EOF or when the cell ends).

        Like ipykernel's ``_input_request``, but in a worker thread and cancellable, so the
        event loop keeps relaying output and an interrupt still kills the cell.
        """
        while True:  # drop stale replies
            try:
                self.stdin_socket.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:
                break
        self.session.send(self.stdin_socket, "input_request", {"prompt": prompt, "password": password}, parent, ident=ident)
        while not cancelled.is_set():
            readable, _, failed = zmq.select([self.stdin_socket], [], [self.stdin_socket], 0.05)
            if readable or failed:
                _, reply = self.session.recv(self.stdin_socket)
                if reply is None:
                    continue
                value = reply.get("content", {}).get("value", "")
                return None if value == "\x04" else str(value)
        return None

    def _send_stream(self, name: str, text: str) -> None:
        self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def _publish_frame(self, frame: Frame) -> None:
        payload = frame.payload
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
        transient = payload.get("transient") if isinstance(payload.get("transient"), dict) else {}
        if frame.kind == "display":
            self.send_response(self.iopub_socket, "display_data", {"data": data, "metadata": metadata, "transient": transient})
        elif frame.kind == "update" and transient.get("display_id"):
            self.send_response(self.iopub_socket, "update_display_data", {"data": data, "metadata": metadata, "transient": transient})
        elif frame.kind == "clear":
            self.send_response(self.iopub_socket, "clear_output", {"wait": bool(payload.get("wait"))})
        elif frame.kind == "result":
            self.send_response(
                self.iopub_socket, "execute_result",
                {"execution_count": self.execution_count, "data": data, "metadata": metadata},
            )

    def _reply_for(self, outcome: CellOutcome, request: CellRequest, coalescer: StreamCoalescer) -> dict:
        limits = request.limits
        reason = outcome.reason
        if reason == "ok":
            return self._ok()
        if reason == "exit" and outcome.error:
            err = outcome.error
            return self._error(str(err.get("ename") or "Error"), str(err.get("evalue") or ""), [str(x) for x in err.get("traceback") or []])
        if reason == "compile":
            label = f"Cell In[{request.execution_count}]"
            text = outcome.diagnostics.replace(f"/tmp/dk/{request.source_file}", label).replace(request.source_file, label)
            if self._built:  # kept code of earlier cells (Java, Rust: after the cell) names its own cell
                text = self._built[1].relabel(text, label)
            lines = text.rstrip("\n").split("\n")
            # the summary: the first diagnostic with a position (go build prints a "# package"
            # header first and never says "error"), else the first line that says error
            first = next((line for line in lines if re.search(r":\d+(:\d+)?: ", line)), None) \
                or next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
            return self._error("CompileError", first.strip(), lines)
        if reason == "exit" and request.language.error_pattern:
            found = list(re.finditer(request.language.error_pattern, outcome.stderr_tail, re.MULTILINE))
            if found:
                groups = found[-1].groupdict()
                label = f"Cell In[{request.execution_count}]"
                for key in ("evalue", "ename"):
                    if groups.get(key):
                        groups[key] = groups[key].replace(f"/tmp/dk/{request.source_file}", label)
                ename = groups.get("ename") or "Panic"
                return self._error(ename, (groups.get("evalue") or "").strip(), [f"{ename}: {(groups.get('evalue') or '').strip()}", f"(the program exited with status {outcome.exit_code}; its stderr is above)"])
        if reason == "output":
            notice = f"\n[dockerkernel: output limit of {magics.format_size(limits.output)} reached; the program was stopped]\n"
            self._send_stream("stderr", notice)
        messages = {
            "timeout": ("CellTimeout", f"the cell ran longer than {limits.timeout:g} s and was stopped (%timeout SECONDS changes the limit)"),
            "oom": ("OutOfMemory", f"the cell needed more than {magics.format_size(limits.memory)} of memory and was killed (%memory SIZE changes the limit)"),
            "output": ("OutputLimitExceeded", f"the cell printed more than {magics.format_size(limits.output)}; output was cut there and the program stopped"),
            "pids": ("PidsLimitExceeded", f"the cell tried to run more than {limits.pids} processes or threads at once (a fork bomb?) and was stopped"),
            "interrupt": ("KeyboardInterrupt", "the cell was interrupted; its container was killed"),
            "exit": ("ExitCode", f"the program exited with status {outcome.exit_code}"),
            "lost": ("ContainerLost", f"the cell's container ended unexpectedly (exit code {outcome.exit_code}); the next cell gets a new one"),
        }
        if reason == "signal":
            name = SIGNAL_NAMES.get(outcome.signal or 0, f"signal {outcome.signal}")
            described = signal.strsignal(outcome.signal) if outcome.signal else "unknown"
            ename, evalue = name, f"the program was killed by {name} ({described})"
        else:
            ename, evalue = messages.get(reason, ("CellFailed", reason))
        return self._error(ename, evalue)

    def _ok(self) -> dict:
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}

    def _error(self, ename: str, evalue: str, traceback: list[str] | None = None) -> dict:
        """Publish one ``error`` message and return the matching reply."""
        traceback = traceback or [f"{ename}: {evalue}"]
        content = {"ename": ename, "evalue": evalue, "traceback": traceback}
        self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    def _provenance_of(self, request: CellRequest, outcome: CellOutcome, started: float) -> dict:
        limits = request.limits
        return {
            "image": request.image,
            "image_id": outcome.image_id,
            "runtime": limits.runtime or "default",
            "limits": {
                "memory": limits.memory, "cpus": limits.cpus, "pids": limits.pids, "timeout": limits.timeout,
                "output": limits.output, "network": limits.network,
            },
            "outcome": outcome.reason,
            "exit_code": outcome.exit_code,
            "signal": outcome.signal,
            "wall_time": round(outcome.elapsed, 6),
            "warm_container": outcome.from_pool,
            "started": started,
        }

    def finish_metadata(self, parent, metadata, reply_content):
        """Attach how the cell ran (image, limits, exit status, wall time) to the reply."""
        metadata = super().finish_metadata(parent, metadata, reply_content)
        if self._provenance:
            metadata["dockerkernel"] = self._provenance
        return metadata

    # -- magics ----------------------------------------------------------------------------
    async def _apply_magic(self, magic: magics.Magic, body: str):
        """Apply one magic; returns non-None when a cell magic consumed the cell."""
        name, args = magic.name, magic.args
        try:
            if magic.cell:
                if name == "file":
                    path = args.strip()
                    if not path:
                        raise MagicError("usage: %%file PATH")
                    await self.sandbox.write_file(path, body.encode(), self.current_image)
                    self._send_stream("stdout", f"Writing {path}\n")
                    return True
                raise MagicError(f"%%{name} is not a dockerkernel cell magic; %lsmagic lists them")
            if name == "timeout":
                self.timeout = _within("timeout", float(args), 0.1, self.max_timeout, "s")
            elif name == "memory":
                _within("memory", magics.parse_size(args), 16 << 20, magics.parse_size(self.max_mem_limit), "bytes")
                self.mem_limit = args.strip()
            elif name == "cpus":
                self.cpus = _within("cpus", float(args), 0.01, self.max_cpus, "CPUs")
            elif name == "pids":
                self.pids_limit = int(_within("pids", int(args), 8, self.max_pids_limit, "processes"))
            elif name == "output":
                _within("output", magics.parse_size(args), 1024, magics.parse_size(self.max_output_limit), "bytes")
                self.output_limit = args.strip()
            elif name == "env":
                if not args.strip():
                    listing = "".join(f"{k}={v}\n" for k, v in sorted(self.cell_env.items())) or "(no variables set)\n"
                    self._send_stream("stdout", listing)
                else:
                    key, value = magics.parse_env(args)
                    self.cell_env[key] = value
            elif name == "limits":
                self._send_stream("stdout", self._limits_text())
            elif name in ("lsmagic", "help"):
                self._send_stream("stdout", magics.help_text())
            elif name == "network":
                wanted = magics.parse_on_off(args)
                if wanted and not self.allow_network:
                    raise MagicError(
                        "network access is not allowed by the administrator "
                        "(set DockerKernel.allow_network=True in the kernel's configuration to permit %network on)"
                    )
                self._network_on = wanted
                self._limits_cache = None
            elif name == "image":
                if not self.allow_image_change:
                    raise MagicError("changing the image is not allowed (set DockerKernel.allow_image_change=True)")
                self._image_override = args.strip()
            elif name == "cflags":
                targets, flags = self._flags_targets(args)
                shlex.split(flags)  # refuse unbalanced quotes now, not in the container
                for target in targets:
                    self.language_flags[target] = flags
                self._send_stream("stdout", f"compiler flags for {', '.join(targets)}: {flags or '(none)'}\n")
            elif name == "lang":
                chosen = _cell_language(args.strip())
                if chosen is None:
                    raise MagicError(f"unknown language {args.strip()!r}; known: {', '.join(LANGUAGES)}")
                self.lang = chosen
                self._send_stream("stdout", f"cells without a %%LANG line now run as {chosen.name}\n")
            elif name == "state" and self.lang.name == "python":
                self.keep_state = magics.parse_on_off(args)
                self._send_stream("stdout", f"variables {'are' if self.keep_state else 'are not'} carried to the next cell\n")
            elif name == "matplotlib" and self.lang.name == "python":
                pass  # figures are always shown inline
            else:
                raise MagicError(f"%{name} is not a dockerkernel magic; %lsmagic lists them")
        except ValueError as exc:
            if isinstance(exc, MagicError):
                raise
            raise MagicError(f"%{name} {args}: {exc}") from None
        return None

    def _flags_targets(self, args: str) -> tuple[list[str], str]:
        """``%cflags [LANG:] FLAGS``: which compiled languages the flags are for."""
        match = re.match(r"^\s*(c|cpp|go|rust|java)\s*:\s*(.*)$", args)
        if match:
            return [match.group(1)], match.group(2).strip()
        if self.lang.compile_command:
            return [self.lang.name], args.strip()
        return ["c", "cpp"], args.strip()  # polyglot: gcc's flags mean nothing to go/rustc/javac

    def _limits_text(self) -> str:
        limits = self.limits
        rows = [
            ("image", self.current_image),
            ("timeout", f"{limits.timeout:g} s"),
            ("memory", f"{magics.format_size(limits.memory)} (no swap)"),
            ("cpus", f"{limits.cpus:g}"),
            ("pids", str(limits.pids)),
            ("output", magics.format_size(limits.output)),
            ("/tmp", magics.format_size(limits.tmp_size)),
            ("/workspace", magics.format_size(self._workspace_bytes()) if self._workspace_bytes() else "no cap"),
            ("network", limits.network),
            ("runtime", limits.runtime or "default (runc)"),
            ("env", ", ".join(sorted(self.cell_env)) or "-"),
        ]
        return "".join(f"{key:<11} {value}\n" for key, value in rows)

    # -- completion, is_complete -----------------------------------------------------------
    async def do_is_complete(self, code):
        """Tell jupyter console whether to run the input or continue it."""
        return is_complete(self.lang.completeness, code, self.lang.comment)

    async def do_complete(self, code, cursor_pos):
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


def _within(what: str, value: float, lowest: float, highest: float, unit: str) -> float:
    """Check a user's limit against the floor and the administrator's ceiling."""
    if not lowest <= value <= highest:
        raise MagicError(
            f"%{what} {value:g}: must be between {lowest:g} and {highest:g} {unit} "
            f"(the upper bound is the administrator's DockerKernel.max_* setting)"
        )
    return value


def _cell_language(name: str) -> Language | None:
    """The language a ``%%name`` cell magic selects, if it names one."""
    try:
        return get_language(name)
    except KeyError:
        return None


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
