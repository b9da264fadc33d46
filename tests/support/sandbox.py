"""Cells run through a real Sandbox from tests: one request builder (the kernel's) and one result type."""

from __future__ import annotations

from dataclasses import dataclass, field

import docker

from dockerkernel.cells import CellOutcome, CellRequest, Limits, Notice, Output, build_request
from dockerkernel.languages import get_language
from dockerkernel.magics import SessionSettings
from dockerkernel.protocol import Frame


def make_request(lang: str, source: str | bytes, image: str | None = None, count: int = 1, **limits) -> CellRequest:
    """A request built by ``cells.build_request`` (as the kernel builds it) with these limits (timeout 20 s)."""
    language = get_language(lang)
    limits.setdefault("timeout", 20)
    text = source.decode("utf-8", "surrogateescape") if isinstance(source, bytes) else source
    settings = SessionSettings(language, base_limits=Limits(**limits), image=image or "")
    return build_request(language, text, settings, count)


@dataclass
class Ran:
    """One cell's outcome and every event it produced."""

    outcome: CellOutcome
    events: list = field(default_factory=list)
    elapsed: float = 0.0
    end_token: str = ""
    nonce: str = ""

    def out(self, stream: str = "stdout") -> bytes:
        """All bytes of one stream."""
        return b"".join(e.data for e in self.events if isinstance(e, Output) and e.stream == stream)

    def text(self, stream: str = "stdout") -> str:
        """One stream, decoded leniently."""
        return self.out(stream).decode("utf-8", "replace")

    @property
    def both(self) -> str:
        """stdout and stderr together (for messages that may go to either)."""
        return self.text("stdout") + self.text("stderr")

    @property
    def frames(self) -> list:
        """Frames delivered to the kernel side."""
        return [e for e in self.events if isinstance(e, Frame) and e.kind != "state"]  # not the boots' report

    @property
    def notices(self) -> list:
        """Notices (dropped frames, ...)."""
        return [e for e in self.events if isinstance(e, Notice)]

    @property
    def reason(self) -> str:
        """How the cell ended."""
        return self.outcome.reason

    def describe(self) -> str:
        """For assertion messages."""
        o = self.outcome
        return (f"reason={o.reason} exit={o.exit_code} signal={o.signal} error={o.error} elapsed={self.elapsed:.1f}s\n"
                f"stdout={self.out('stdout')[-600:]!r}\nstderr={self.out('stderr')[-600:]!r}"
                + (f"\ndiagnostics={o.diagnostics[-1500:]}" if o.diagnostics else ""))


def container_exists(client: docker.DockerClient, container_id: str) -> bool:
    """Does the daemon still know the container?"""
    try:
        client.api.inspect_container(container_id)
        return True
    except docker.errors.NotFound:
        return False
