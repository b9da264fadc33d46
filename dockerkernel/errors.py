"""One root exception for everything dockerkernel raises: catch ``DockerKernelError`` to catch them all.

Docker and requests exceptions become these at one boundary, ``sandbox.connection``
(``wrap_docker_error``, ``connect``); the command line prints them without a traceback.
"""

from __future__ import annotations


class DockerKernelError(Exception):
    """Root of dockerkernel's errors; ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}\n{self.hint}" if self.hint else message


class DaemonUnavailable(DockerKernelError, ConnectionError):
    """The Docker daemon does not answer."""


class ImageMissing(DockerKernelError, LookupError):
    """A language image is not built on the daemon."""


class ImageBuildError(DockerKernelError, RuntimeError):
    """An image build failed."""


class SandboxError(DockerKernelError, RuntimeError):
    """Creating, starting or talking to a cell container failed."""


class MagicError(DockerKernelError, ValueError):
    """A magic line is unknown or malformed."""
