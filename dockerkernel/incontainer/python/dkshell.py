"""IPython's own ``InteractiveShell`` for one cell, talking to the kernel through frames.

The boot code (pyboot.py) builds the shell while the container waits in the pool, then runs
the one cell it receives with ``run_cell``: IPython's input transformers, magics, ``!cmd``,
displayhook (``execute_result``), display publisher (``display_data``/``update_display_data``)
and traceback formatting do what they do under ipykernel. Only the transport differs: what
ipykernel sends on ZMQ we write as frames (dkdisplay.send_frame).

Each container lives for one cell, so what IPython keeps in the process between cells is
carried here as *process state* (``snapshot``/``restore``): the working directory,
``os.environ`` changes, ``sys.path``, the ``In``/``Out`` history, ``%precision``,
``%xmode``, ``%config`` assignments and loaded extensions. The cell's variables are carried
by pyboot (pickled); ``Out[n]`` is rebuilt from the carried ``_n`` variables.
"""

import io
import os
import re
import sys
import types
import zlib

from dkdisplay import encode_data, send_frame

# IPython imports jedi (~0.1 s of CPU in every pool container) only to offer it to its
# completer; completion here uses IPython's own matchers (see introspect), so IPython is
# loaded without it. The cell can still import jedi: the block is lifted below.
_jedi_blocked = "jedi" not in sys.modules
if _jedi_blocked:
    sys.modules["jedi"] = None
from IPython.core import ultratb  # noqa: E402
from IPython.core.compilerop import CachingCompiler  # noqa: E402
from IPython.core.completer import provisionalcompleter, rectify_completions  # noqa: E402
from IPython.core.displayhook import DisplayHook  # noqa: E402
from IPython.core.displaypub import DisplayPublisher  # noqa: E402
from IPython.core.error import StdinNotImplementedError, UsageError  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class  # noqa: E402
from IPython.utils.tokenutil import token_at_cursor  # noqa: E402
from traitlets import Type  # noqa: E402
from traitlets.config import Config  # noqa: E402

if _jedi_blocked and sys.modules.get("jedi", 0) is None:
    del sys.modules["jedi"]

# The magics the kernel applies itself, from the lines at the top of a cell (kept in step with
# dockerkernel/magics.py KERNEL_MAGICS): used only to explain a misplaced one.
KERNEL_MAGICS = ("timeout", "memory", "cpus", "pids", "output", "network", "image", "state", "lang", "cflags",
                 "limits", "help")
# variables of IPython's output history: carried when they can be pickled, never announced
OUTPUT_NAME = re.compile(r"^_\d+$|^_{1,3}$|^_exit_code$")
INPUT_NAME = re.compile(r"^_i(\d+|i{0,2}|00)$")
# set for each container by the runner and the boot code, never carried
OWN_ENV = {"DK_NONCE", "DK_INPUT_FD", "DK_DONE_FD", "DK_RUNTIME", "DK_INTROSPECT"}


class FrameDisplayPublisher(DisplayPublisher):
    """display()/update_display()/clear_output() → display, update and clear frames."""

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        """Send one MIME bundle (``update``: replace the output shown under its display_id)."""
        send_frame("update" if update else "display",
                   {"data": encode_data(data), "metadata": metadata or {}, "transient": transient or {}})

    def clear_output(self, wait=False):
        """Clear the cell's output (after the next output when ``wait``)."""
        send_frame("clear", {"wait": bool(wait)})


class FrameDisplayHook(DisplayHook):
    """The value of a cell's last expression → one result frame (execute_result)."""

    bundle = None

    def start_displayhook(self):
        self.bundle = None

    def write_output_prompt(self):
        pass  # the frontend shows Out[n] itself

    def write_format_data(self, format_dict, md_dict=None):
        self.bundle = {"data": encode_data(format_dict), "metadata": md_dict or {}}

    def finish_displayhook(self):
        bundle, self.bundle = self.bundle, None
        if bundle is not None:
            send_frame("result", bundle)


class CellCompiler(CachingCompiler):
    """Names each cell's code as ipykernel does, ``/tmp/ipykernel_<pid>/<hash>.py``.

    Warnings and pdb show this name (tracebacks show ``Cell In[n]``). The directory is the
    first cell's and carried (``code_dir``): a function defined in an earlier cell keeps the
    name its code was compiled with, and the next process caches that cell's lines under it.
    """

    code_dir = "/tmp/ipykernel_%d" % os.getpid()

    def get_code_name(self, raw_code, transformed_code, number):
        return "%s/%d.py" % (self.code_dir, zlib.crc32(raw_code.encode("utf-8", "surrogatepass")))


class CellShell(InteractiveShell):
    """InteractiveShell whose output, results and errors go out as frames."""

    displayhook_class = Type(FrameDisplayHook)
    display_pub_class = Type(FrameDisplayPublisher)
    compiler_class = Type(CellCompiler)
    dk_stdin = False  # can the frontend answer input requests (the cell's header says)
    dk_last_frame = None  # (file, line, function) where the last failed cell's exception was raised

    def _showtraceback(self, etype, evalue, stb):
        """An exception, formatted by IPython (``stb``), becomes the cell's error frame."""
        send_frame("error", {"ename": getattr(etype, "__name__", str(etype)), "evalue": str(evalue), "traceback": stb})

    def show_usage_error(self, exc):
        """A UsageError (bad magic arguments, unknown magic) without a traceback, as IPython prints it."""
        text = str(exc)
        found = re.match(r"(Line magic function|Cell magic) `%+([\w-]+)` not found", text)
        if found and found.group(2) in KERNEL_MAGICS:
            text += (" %%%s is a dockerkernel magic: the kernel applies it only in the lines at the top of a cell, "
                     "before the cell's container starts." % found.group(2))
        elif found:
            text += " %lsmagic lists the magics (IPython's, the kernel's and the %%LANG lines)."
        send_frame("error", {"ename": "UsageError", "evalue": text, "traceback": ["UsageError: " + text]})

    def enable_gui(self, gui=None):
        if gui in (None, "inline"):  # %matplotlib inline: figures are always inline here
            return
        raise UsageError(
            "%%gui %s: a cell's container has no display or event loop; figures are shown inline" % (gui or ""))


@magics_class
class SandboxMagics(Magics):
    """IPython magics that cannot work in a one-cell container say why instead."""

    @line_magic
    def pip(self, line=""):
        """%pip below code: the kernel installs packages only from the lines at the top of a cell."""
        raise UsageError("%pip works only at the top of a cell (the kernel runs the install in a container of its "
                         "own, before the cell's; cells have no network): move this line to the top of its cell.")

    @line_magic
    def conda(self, line=""):
        """%conda: not available."""
        raise UsageError("%conda is not available: the image has no conda, and cells have no network.")

    @line_magic
    def mamba(self, line=""):
        """%mamba: not available."""
        raise UsageError("%mamba is not available: the image has no mamba, and cells have no network.")

    @line_cell_magic
    def debug(self, line="", cell=None):
        """%debug: IPython's, but the post-mortem of an earlier cell cannot reach its frames.

        ``%debug statement`` and ``%%debug`` run their code under pdb in this process, as
        IPython does. Without arguments, IPython enters the frames of the last exception, which
        ended with that cell's process: without a frontend that answers input (nbclient,
        papermill) it shows where pdb would start and fails as IPython fails there, for want of
        input; with one, it says why it cannot.
        """
        shell = self.shell
        if line.strip() or cell is not None or not shell.dk_last_frame:
            return shell.magics_manager.registry["ExecutionMagics"].debug(line, cell)
        if not shell.dk_stdin:
            filename, lineno, name = shell.dk_last_frame
            frame = types.SimpleNamespace(f_code=types.SimpleNamespace(co_filename=filename, co_name=name),
                                          f_locals={}, f_globals={}, f_lineno=lineno)
            pdb = shell.debugger_cls()
            pdb.curframe, pdb.curframe_locals = frame, {}
            pdb.print_stack_entry((frame, lineno))
            raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")
        raise UsageError("%debug is not available after the cell that failed: each cell runs as a new process in a "
                         "container that ends with the cell, and the failed cell's frames ended with it. Run the "
                         "code again under pdb (%%debug, %debug STATEMENT, or %pdb on before it), or use "
                         "%xmode Verbose for the variables in a traceback.")

    @line_magic
    def qtconsole(self, line=""):
        """%qtconsole: not available."""
        raise UsageError("%qtconsole is not available: the cell's process ends with the cell.")

    @cell_magic
    def bash(self, line, cell):
        """%%bash as IPython runs it, with the child's output written straight to the cell's."""
        return self._script("bash", line, cell)

    @cell_magic
    def sh(self, line, cell):
        """%%sh as IPython runs it, with the child's output written straight to the cell's."""
        return self._script("sh", line, cell)

    def _script(self, program, line, cell):
        # IPython relays the child's output line by line through pipes, so a frame (which ends
        # without a newline) from the `display` or `input` helpers would wait for ever; without
        # options, the child writes to our stdout/stderr itself. Options (--out, --bg, ...) are
        # IPython's own.
        if line.strip():
            return self.shell.magics_manager.registry["ScriptMagics"].shebang("%s %s" % (program, line), cell)
        import subprocess

        sys.stdout.flush()
        sys.stderr.flush()
        status = subprocess.run([program], input=cell.encode("utf-8", "surrogateescape")).returncode
        if status != 0:
            raise subprocess.CalledProcessError(status or -9, cell)  # as IPython's --raise-error default

    @line_magic
    def lsmagic(self, line=""):
        """IPython's %lsmagic, introduced as what runs inside the container."""
        print("IPython magics (they run inside the cell's container):")
        return self.shell.magics_manager.registry["BasicMagics"].lsmagic(line)


def _cell_in_name():
    """Name cells ``Cell In[n]`` as current IPython does (8.5 writes ``Cell In [n]``)."""
    original = ultratb._format_filename

    def format_filename(file, *args, **kwargs):
        text = original(file, *args, **kwargs)
        shell = InteractiveShell.instance() if InteractiveShell.initialized() else None
        if shell is not None and file in shell.compile._filename_map:
            text = text.replace("In [", "In[", 1)
        return text

    ultratb._format_filename = format_filename


def make_shell(main_module):
    """The shell, built while the container waits in the pool (IPython's import costs ~0.3 s)."""
    config = Config()
    config.HistoryManager.enabled = False  # no sqlite file: the history is carried by us
    shell = CellShell.instance(config=config, user_module=main_module)
    shell.register_magics(SandboxMagics)
    _cell_in_name()
    _record_config_assignments(shell)
    _inline_figures(shell)
    return shell


def _inline_figures(shell):
    """A Figure shown in a cell that drew nothing (one carried from an earlier cell) is an image.

    Under ipykernel, matplotlib-inline registers IPython's image formatters for Figure when its
    backend is first loaded, and they stay for the rest of the process. Here each cell is a new
    process that loads the backend only when it draws, so ``fig`` alone in a later cell would be
    only its text. The first Figure to be formatted loads the backend (text/plain is formatted
    before the image types, so the image formatters are in place in time); then IPython's own
    printers take over.
    """
    plain = shell.display_formatter.formatters["text/plain"]

    def first_figure(fig, printer, cycle):
        from matplotlib.figure import Figure

        plain.type_printers.pop(Figure, None)  # once: from now on IPython's own printers
        try:
            import matplotlib

            if matplotlib.get_backend() == "module://matplotlib_inline.backend_inline":
                import matplotlib_inline.backend_inline  # noqa: F401  (its import configures IPython)
        except Exception:
            pass
        printer.text(repr(fig))

    plain.for_type_by_name("matplotlib.figure", "Figure", first_figure)


def warm(shell):
    """Run IPython's cell machinery once, while the container waits in the pool.

    The first ``run_cell`` of a process sets up its transformers, compiler and formatters
    (~30-100 ms); done here, the user's cell does not wait for it.
    """
    shell.run_cell("pass", store_history=False, silent=True)
    shell.display_formatter.format(0)


def _record_config_assignments(shell):
    """Wrap %config so that its assignments can be replayed in the next cell's process."""
    shell.dk_config = []
    original = shell.magics_manager.magics["line"]["config"]

    def config(line=""):
        if "InlineBackend" in line and not any(type(c).__name__ == "InlineBackend" for c in shell.configurables):
            # %config InlineBackend... works before pyplot is imported, as under ipykernel; the
            # import (it loads matplotlib, ~0.5 s) is paid only by the notebooks that use it
            try:
                from matplotlib_inline.config import InlineBackend

                shell.configurables.append(InlineBackend.instance(parent=shell))
            except Exception:
                pass
        result = original(line)
        if "=" in line:
            shell.dk_config.append(line.strip())
        return result

    config.__doc__ = original.__doc__
    shell.magics_manager.magics["line"]["config"] = config


# -- process state ---------------------------------------------------------------------------
class Baseline:
    """The process as it starts a cell, before any carried state: what changes are measured from."""

    def __init__(self):
        self.env = dict(os.environ)
        self.path = list(sys.path)


def _quietly(function, *args):
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = io.StringIO()
    try:
        return function(*args)
    except Exception:
        return None
    finally:
        sys.stdout, sys.stderr = saved


def snapshot(shell, baseline):
    """What the next cell's process needs to continue where this one stopped (JSON-able)."""
    history = shell.history_manager
    environ = dict(os.environ)
    formatter = shell.display_formatter.formatters["text/plain"]
    return {
        "cwd": os.getcwd(),
        "env_set": {k: v for k, v in environ.items() if baseline.env.get(k) != v and k not in OWN_ENV},
        "env_unset": sorted(k for k in baseline.env if k not in environ and k not in OWN_ENV),
        "sys_path": list(sys.path) if sys.path != baseline.path else None,
        "in_parsed": list(history.input_hist_parsed),
        "in_raw": list(history.input_hist_raw),
        "dh": [str(d) for d in shell.user_ns.get("_dh", [])],
        "precision": formatter.float_precision,
        "xmode": shell.InteractiveTB.mode,
        "pdb": bool(shell.call_pdb),
        "code_dir": shell.compile.code_dir,
        "last_frame": shell.dk_last_frame,
        "config": list(shell.dk_config),
        "extensions": sorted(shell.extension_manager.loaded),
    }


# one branch per kind of process state (env, cwd, sys.path, history, settings): a flat list
def restore(shell, state, notice):  # noqa: C901
    """Put the process state of the previous cells back (before their variables)."""
    for key, value in (state.get("env_set") or {}).items():
        os.environ[str(key)] = str(value)
    for key in state.get("env_unset") or ():
        os.environ.pop(key, None)
    if isinstance(state.get("sys_path"), list):
        sys.path[:] = [str(p) for p in state["sys_path"]]
    cwd = state.get("cwd")
    if cwd:
        try:
            os.chdir(cwd)
        except OSError:
            notice("the working directory %s of the previous cell does not exist in this cell's container "
                   "(only /workspace is kept between cells); the cell starts in %s" % (cwd, os.getcwd()))
    history = shell.history_manager
    if state.get("code_dir"):
        shell.compile.code_dir = str(state["code_dir"])
    if isinstance(state.get("last_frame"), list) and len(state["last_frame"]) == 3:
        shell.dk_last_frame = tuple(state["last_frame"])
    parsed, raw = state.get("in_parsed") or [""], state.get("in_raw") or [""]
    history.input_hist_parsed[:] = parsed
    history.input_hist_raw[:] = raw
    for number, source in enumerate(parsed[1:], 1):
        shell.user_ns["_i%d" % number] = source
        shell.user_ns_hidden["_i%d" % number] = source
        if source and number < len(raw):
            # the lines of earlier cells, under the names their code was compiled with: tracebacks
            # (and pdb) through a function defined in an earlier cell show its source, "Cell In[n]"
            shell.compile.cache(source + "\n", number, raw[number])  # history strips the newline
    # what store_inputs shifts into _i, _ii, _iii when this cell is stored
    history._i00, history._i, history._ii = (list(reversed(parsed[-3:])) + ["", "", ""])[:3]
    if state.get("dh"):
        shell.user_ns["_dh"][:] = state["dh"]
    formatter = shell.display_formatter.formatters["text/plain"]
    if state.get("precision"):
        _quietly(setattr, formatter, "float_precision", state["precision"])
    if state.get("pdb"):
        shell.call_pdb = True
    if state.get("xmode") and state["xmode"] != shell.InteractiveTB.mode:
        _quietly(lambda: shell.InteractiveTB.set_mode(mode=state["xmode"]))
    for statement in state.get("config") or ():
        _quietly(shell.run_line_magic, "config", statement)
    shell.dk_config = list(state.get("config") or ())
    for name in state.get("extensions") or ():
        _quietly(shell.extension_manager.load_extension, name)


def restore_outputs(shell):
    """After the variables came back: Out, _, __, ___ from the carried ``_n`` (IPython keeps them in sync)."""
    ns = shell.user_ns
    out = shell.history_manager.output_hist
    for name in [n for n in ns if re.match(r"^_\d+$", n)]:
        out[int(name[1:])] = ns[name]
        shell.user_ns_hidden[name] = ns[name]
    hook = shell.displayhook
    for name in ("_", "__", "___"):
        if name in ns:
            setattr(hook, name, ns[name])
            shell.user_ns_hidden[name] = ns[name]


def carried_names(shell):
    """(names never carried, names carried quietly): IPython's own variables."""
    never = {n for n in shell.user_ns_hidden if not OUTPUT_NAME.match(n)}
    never |= {n for n in shell.user_ns if INPUT_NAME.match(n)}
    never |= {"In", "Out", "_ih", "_oh", "_dh", "get_ipython", "exit", "quit"}
    return never, OUTPUT_NAME


def run(shell, source, count):
    """Run one cell as cell ``count``; its exit status: 0 ok, else 1 or ``sys.exit``'s own number."""
    history = shell.history_manager
    del history.input_hist_parsed[count:]
    del history.input_hist_raw[count:]
    while len(history.input_hist_parsed) < count:  # cells with no container (kernel magics only)
        history.input_hist_parsed.append("")
        history.input_hist_raw.append("")
    shell.execution_count = count
    result = shell.run_cell(source, store_history=True)
    if result.success:
        return 0
    error = result.error_in_exec
    tb = getattr(error, "__traceback__", None)
    if tb is not None:  # for %debug in a later cell (see SandboxMagics.debug)
        while tb.tb_next is not None:
            tb = tb.tb_next
        shell.dk_last_frame = (tb.tb_frame.f_code.co_filename, tb.tb_lineno, tb.tb_frame.f_code.co_name)
    if isinstance(error, SystemExit) and isinstance(error.code, int) and error.code & 0xFF:
        return error.code & 0xFF  # what the process of a script would have exited with (provenance)
    return 1


# -- introspection (complete_request / inspect_request) --------------------------------------
def introspect(shell, request):
    """Answer a completion or inspection request over the restored namespace, like ipykernel."""
    code, cursor = request.get("code", ""), request.get("cursor_pos")
    cursor = len(code) if cursor is None else int(cursor)
    if request.get("kind") == "inspect":
        name = token_at_cursor(code, cursor)
        try:
            bundle = shell.object_inspect_mime(name, detail_level=int(request.get("detail_level") or 0))
            if not shell.enable_html_pager:
                bundle.pop("text/html", None)
            return {"status": "ok", "found": True, "data": bundle, "metadata": {}}
        except KeyError:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    # IPython's own matchers (names, attributes, keys, files, magics) answer in ~10 ms; jedi's
    # first call in a fresh process costs 0.4-1.5 s, more than a keystroke may wait
    shell.Completer.use_jedi = False
    with provisionalcompleter():
        completions = list(rectify_completions(code, shell.Completer.completions(code, cursor)))
    if not completions:
        return {"status": "ok", "matches": [], "cursor_start": cursor, "cursor_end": cursor, "metadata": {}}
    types = [{"start": c.start, "end": c.end, "text": c.text, "type": c.type, "signature": c.signature}
             for c in completions]
    return {"status": "ok", "matches": [c.text for c in completions], "cursor_start": completions[0].start,
            "cursor_end": completions[0].end, "metadata": {"_jupyter_types_experimental": types}}
