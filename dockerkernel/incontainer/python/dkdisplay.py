"""Rich output from a Python cell: display(), HTML(), Markdown(), Image(), inline matplotlib.

The names follow IPython.display so notebook code reads the same. Everything ends up as a
side-channel frame on stdout (see dockerkernel/protocol.py), signed with the cell's nonce.
"""

import base64
import json
import os
import sys

MAGIC = b"\x1bDK "
NONCE = os.environ.get("DK_NONCE", "")


def send_frame(kind, payload):
    """Write one frame after flushing what the program printed before it (keeps order)."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    data = MAGIC + b"%s %s %d\n" % (NONCE.encode(), kind.encode(), len(body)) + body
    try:
        sys.stdout.flush()
    except Exception:
        pass
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


_REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
)


def _encode(mime, value):
    if isinstance(value, bytes) and mime.startswith("image/") and mime != "image/svg+xml":
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def format_bundle(obj):
    """MIME bundle and metadata for ``obj``, the way IPython's formatters pick them."""
    data, metadata = {}, {}
    mimebundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(mimebundle) and not isinstance(obj, type):
        try:
            result = mimebundle()
            if isinstance(result, tuple):
                result, metadata = result
            for mime, value in (result or {}).items():
                data[mime] = _encode(mime, value)
        except Exception:
            pass
    for mime, method_name in _REPR_METHODS:
        method = getattr(obj, method_name, None)
        if mime in data or not callable(method) or isinstance(obj, type):
            continue
        try:
            value = method()
        except Exception:
            continue
        if isinstance(value, tuple):
            value, meta = value
            metadata[mime] = meta
        if value is not None:
            data[mime] = _encode(mime, value)
    if _is_figure(obj) and "image/png" not in data:
        data["image/png"] = _figure_png(obj)
    data.setdefault("text/plain", repr(obj))
    return data, metadata


def display(*objs, raw=False, display_id=None, metadata=None, transient=None, update=False, clear=False, **_):
    """Show objects as rich output; ``display_id=True`` returns a handle for updates."""
    if clear:
        clear_output(wait=True)
    if display_id is True:
        display_id = os.urandom(16).hex()
    for obj in objs:
        if raw:
            data, meta = obj, dict(metadata or {})
        else:
            data, meta = format_bundle(obj)
            meta.update(metadata or {})
        trans = dict(transient or {})
        if display_id:
            trans["display_id"] = display_id
        send_frame("update" if update else "display", {"data": data, "metadata": meta, "transient": trans})
    if display_id:
        return DisplayHandle(display_id)
    return None


def update_display(obj, *, display_id, **kwargs):
    """Replace the output shown under ``display_id``."""
    display(obj, display_id=display_id, update=True, **kwargs)


def clear_output(wait=False):
    """Clear the cell's output (after the next output if ``wait``)."""
    send_frame("clear", {"wait": bool(wait)})


def publish_result(value):
    """Send a trailing expression's value as execute_result."""
    data, metadata = format_bundle(value)
    send_frame("result", {"data": data, "metadata": metadata})


class DisplayHandle:
    """A handle to update or replace an earlier display (IPython's API)."""

    def __init__(self, display_id=None):
        self.display_id = display_id or os.urandom(16).hex()

    def display(self, obj, **kwargs):
        """Show ``obj`` under this handle's id."""
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        """Replace what this handle shows."""
        update_display(obj, display_id=self.display_id, **kwargs)

    def __repr__(self):
        return "<DisplayHandle display_id=%s>" % self.display_id


class _Data:
    mime = "text/plain"

    def __init__(self, data=None, url=None, filename=None, metadata=None):
        if filename is not None or (isinstance(data, str) and self._looks_like_path(data)):
            with open(filename or data, "rb") as fh:
                data = fh.read()
            if self.mime.startswith("text/") or self.mime == "image/svg+xml":
                data = data.decode("utf-8", "replace")
        self.data = data
        self.metadata = metadata or {}

    def _looks_like_path(self, text):
        return False

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {self.mime: _encode(self.mime, self.data)}, ({self.mime: self.metadata} if self.metadata else {})

    def __repr__(self):
        return "<%s object>" % type(self).__name__


class HTML(_Data):
    """HTML to render."""

    mime = "text/html"


class Markdown(_Data):
    """Markdown to render."""

    mime = "text/markdown"


class Latex(_Data):
    """LaTeX to render."""

    mime = "text/latex"


class Math(_Data):
    """A LaTeX math expression."""

    mime = "text/latex"

    def __init__(self, data=None, **kwargs):
        super().__init__("$$%s$$" % data.strip("$") if isinstance(data, str) else data, **kwargs)


class SVG(_Data):
    """An SVG image (markup or file name)."""

    mime = "image/svg+xml"

    def _looks_like_path(self, text):
        return text.endswith(".svg") and "<" not in text


class JSON(_Data):
    """A JSON document, rendered as a tree by JupyterLab."""

    mime = "application/json"


class Javascript(_Data):
    """JavaScript for the frontend (JupyterLab ignores it unless trusted)."""

    mime = "application/javascript"


class Image(_Data):
    """A PNG or JPEG image from bytes or a file name."""

    def __init__(self, data=None, url=None, filename=None, format=None, width=None, height=None, metadata=None, **_):
        name = filename or (data if isinstance(data, str) else None)
        if format is None and name:
            format = "jpeg" if name.lower().endswith((".jpg", ".jpeg")) else "png"
        raw = data
        if name:
            with open(name, "rb") as fh:
                raw = fh.read()
        if format is None and isinstance(raw, bytes) and raw[:3] == b"\xff\xd8\xff":
            format = "jpeg"
        self.mime = "image/%s" % (format or "png")
        meta = dict(metadata or {})
        if width:
            meta["width"] = width
        if height:
            meta["height"] = height
        self.data = raw
        self.metadata = meta


def _is_figure(obj):
    return type(obj).__name__ == "Figure" and type(obj).__module__.startswith("matplotlib")


def _figure_png(fig):
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _show(*args, **kwargs):
    """plt.show(): display every open figure inline, then close them."""
    show_open_figures()


def show_open_figures():
    """Display the figures the cell left open (what %matplotlib inline does at cell end)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for number in pyplot.get_fignums():
        fig = pyplot.figure(number)
        send_frame("display", {"data": {"image/png": _figure_png(fig), "text/plain": repr(fig)}, "metadata": {}, "transient": {}})
    pyplot.close("all")


def _patch_pyplot(module):
    module.show = _show


def _patch_ipython_display(module):
    # IPython's display() prints a repr when no IPython shell runs; ours sends frames
    module.display = display
    module.update_display = update_display
    module.clear_output = clear_output


_PATCHES = {"matplotlib.pyplot": _patch_pyplot, "IPython.core.display_functions": _patch_ipython_display}


class _PostImportHook:
    """Import hook: patch a few modules right after they load (plt.show, IPython's display)."""

    def find_spec(self, name, path=None, target=None):
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        original_exec = spec.loader.exec_module

        def exec_module(module):
            original_exec(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


def _register_hooks():
    for name, patch in _PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _PostImportHook())


def install(namespace):
    """Give the cell the display helpers as builtins (IPython's names work too)."""
    import builtins

    builtins.display = display  # like IPython; the classes come from `from IPython.display import ...`


os.environ.setdefault("MPLBACKEND", "Agg")
_register_hooks()
