"""One root exception for everything dockerkernel raises; Docker/requests errors are wrapped here."""

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
