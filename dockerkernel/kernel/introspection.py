"""Completion, inspection and history for languages whose cells run IPython (Python).

``complete_request`` and ``inspect_request`` are answered from the session's real state: the
request runs as a short program in a sandboxed container (a pool container when one is ready),
where the boot code restores the previous cells' variables and process state exactly as for a
cell, then asks IPython's completer (jedi) or inspector and sends the reply back as one frame.
The user's pickled state is never loaded on the host. ``history_request`` is answered from the
kernel's own record of the cells it ran (``History``).

The kernel calls ``complete``/``inspect`` with itself (for its sandbox, the request it would
build for a cell, and its word-based fallback) and owns a ``History``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
from dataclasses import replace

from .. import magics
from ..protocol import Frame

# the MIME type of the boot code's reply frame (pyboot.INTROSPECTION_MIME)
REPLY_MIME = "application/x.dockerkernel.introspection+json"
# a completion must come back while the user waits at the keyboard; a slow restore (a large
# state) gives up and falls back to the word list
TIMEOUT = 10.0

_LEADING_MAGIC = re.compile(r"^[ \t]*%(%?)([A-Za-z_][\w-]*)")


def masked(kernel, code: str) -> tuple[object, str]:
    """(language of the cell, the code as the cell's IPython sees it, offsets unchanged).

    The lines the kernel itself takes from the top of a cell (``%timeout 5``, a polyglot
    ``%%python``) are blanked with spaces, so cursor positions keep their meaning.
    """
    lang = kernel.lang
    lines = code.split("\n")
    switches = kernel._switch_magics()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LEADING_MAGIC.match(line)
        if not match:
            break
        cell, name = bool(match.group(1)), match.group(2)
        if cell:
            if name in switches:
                from ..languages import get_language

                lang = get_language(name)
                lines[index] = " " * len(line)
            break
        if name in magics.KERNEL_MAGICS:
            lines[index] = " " * len(line)
    return lang, "\n".join(lines)


async def ask_container(kernel, lang, query: dict) -> dict | None:
    """Run one introspection query in a fresh container of ``lang``; its reply, or None."""
    request = kernel._request(json.dumps(query).encode(), kernel.execution_count, lang)
    request = replace(request, env={**request.env, "DK_INTROSPECT": query["kind"]}, stdin=False)
    replies: list[dict] = []

    def on_event(event) -> None:
        if isinstance(event, Frame) and event.kind == "result":
            data = event.payload.get("data")
            if isinstance(data, dict) and isinstance(data.get(REPLY_MIME), dict):
                replies.append(data[REPLY_MIME])

    task = asyncio.ensure_future(kernel.sandbox.run(request, on_event))
    done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
    if not done:
        kernel.sandbox.interrupt()
    try:
        await task
    except Exception as exc:  # no daemon, image missing: the caller falls back
        kernel.log.warning("dockerkernel: %s request failed: %s", query["kind"], exc)
        return None
    return replies[-1] if replies else None


async def complete(kernel, code: str, cursor_pos: int | None, fallback) -> dict:
    """``complete_reply`` content: IPython's completions over the session's namespace, plus the kernel's magics."""
    cursor_pos = len(code) if cursor_pos is None else cursor_pos
    lang, text = masked(kernel, code)
    if not lang.magics_in_container:
        return fallback(code, cursor_pos)
    reply = await ask_container(kernel, lang, {"kind": "complete", "code": text, "cursor_pos": cursor_pos})
    if reply is None:
        return fallback(code, cursor_pos)
    token = re.search(r"%{0,2}[\w-]*$", code[:cursor_pos]).group(0)
    if token.startswith("%"):
        start = cursor_pos - len(token)
        ours = [f"%{name}" for name in (*magics.KERNEL_MAGICS, *magics.BOTH_SIDES)]
        ours += [f"%%{name}" for name in sorted(kernel._switch_magics())]
        extra = [m for m in ours if m.startswith(token) and m not in reply["matches"]]
        if extra and (not reply["matches"] or reply.get("cursor_start") == start):
            reply["matches"] = sorted([*reply["matches"], *extra])
            reply["cursor_start"], reply["cursor_end"] = start, cursor_pos
    return reply


async def inspect(kernel, code: str, cursor_pos: int | None, detail_level: int = 0) -> dict:
    """``inspect_reply`` content: IPython's ``obj?`` (signature, docstring) as text/plain."""
    cursor_pos = len(code) if cursor_pos is None else cursor_pos
    lang, text = masked(kernel, code)
    nothing = {"status": "ok", "found": False, "data": {}, "metadata": {}}
    if not lang.magics_in_container:
        return nothing
    reply = await ask_container(
        kernel, lang, {"kind": "inspect", "code": text, "cursor_pos": cursor_pos, "detail_level": detail_level}
    )
    return reply or nothing


class History:
    """The cells this kernel ran, for ``history_request`` (session 1 is this kernel's life)."""

    SESSION = 1

    def __init__(self):
        """An empty history."""
        self.cells: list[tuple[int, str]] = []  # (execution_count, source), in order
        self.outputs: dict[int, str] = {}  # execution_count -> text/plain of its execute_result

    def record(self, count: int, source: str) -> None:
        """Remember cell ``count``'s source."""
        self.cells.append((count, source))

    def record_output(self, count: int, text: str) -> None:
        """Remember the text/plain of cell ``count``'s execute_result."""
        self.outputs[count] = text

    def _entry(self, count: int, source: str, output: bool):
        return (self.SESSION, count, (source, self.outputs.get(count)) if output else source)

    def reply(self, hist_access_type: str, output: bool = False, session=None, start=None, stop=None, n=None,
              pattern=None, unique: bool = False, **_) -> dict:
        """``history_reply`` content for tail (last ``n``), range (``start`` ≤ line < ``stop`` of
        ``session``; 0 means this one) and search (glob ``pattern``, last ``n``, ``unique``)."""
        cells = self.cells
        if hist_access_type == "tail":
            chosen = cells[-n:] if n else list(cells)
        elif hist_access_type == "range":
            if session not in (None, 0, self.SESSION):
                chosen = []  # earlier sessions: a restarted kernel starts from nothing
            else:
                low = start or 0
                chosen = [c for c in cells if c[0] >= low and (stop is None or c[0] < stop)]
        elif hist_access_type == "search":
            found = [c for c in cells if fnmatch.fnmatchcase(c[1], pattern or "*")]
            if unique:
                seen, kept = set(), []
                for cell in reversed(found):
                    if cell[1] not in seen:
                        seen.add(cell[1])
                        kept.append(cell)
                found = kept[::-1]
            chosen = found[-n:] if n else found
        else:
            chosen = []
        return {"status": "ok", "history": [self._entry(count, source, output) for count, source in chosen]}
