"""The kernel's configuration (``--DockerKernel.NAME=VALUE``), checked when the kernel starts.

A bad value (``--DockerKernel.mem_limit=lots``) is a ``TraitError`` naming the trait, raised
while the kernel is constructed, not a Docker error at the first cell.
"""

from __future__ import annotations

import os

from traitlets import Bool, CFloat, CInt, Dict, TraitError, Unicode, validate
from traitlets.config import Configurable

from ..cells import Limits
from ..magics import Ceilings, parse_size

SIZE_TRAITS = ("mem_limit", "output_limit", "tmp_size", "workspace_size", "max_mem_limit", "max_output_limit")
POSITIVE_TRAITS = ("timeout", "cpus", "pids_limit", "max_timeout", "max_cpus", "max_pids_limit")


class KernelConfig(Configurable):
    """The configurable settings of ``DockerKernel`` (it inherits them), with their units."""

    language = Unicode(
        "python", config=True,
        help="Language of this kernel (python, javascript, bash, ruby, c, cpp, go, rust, java) or 'polyglot'.",
    )
    polyglot_default = Unicode(
        "python", config=True, help="Polyglot kernel: language of cells without a %%LANG line (%lang)."
    )
    compile_flags = Unicode(
        "", config=True, help="Extra compiler flags for the kernel's own (compiled) language (%cflags)."
    )
    image = Unicode("", config=True, help="Image for the cells (default: dockerkernel/<language>:latest).")
    timeout = CFloat(30.0, config=True, help="Wall-clock limit per cell, in seconds.")
    mem_limit = Unicode("512m", config=True, help="Memory limit per cell (e.g. 512m, 1g); swap is never added.")
    cpus = CFloat(1.0, config=True, help="CPU limit per cell (number of CPUs, fractions allowed).")
    pids_limit = CInt(256, config=True, help="Maximum number of processes and threads in a cell.")
    output_limit = Unicode("1m", config=True, help="Output cap per cell; the program is stopped when it is reached.")
    tmp_size = Unicode("64m", config=True, help="Size of the /tmp tmpfs of a cell.")
    workspace_size = Unicode(
        "1g", config=True,
        help="Size cap of /workspace (an in-memory tmpfs, so filling it cannot fill the disk); "
        "0 = plain volume, no cap.",
    )
    network = Unicode("none", config=True, help="Docker network of the cells ('none' = no network).")
    allow_network = Bool(False, config=True, help="Let users turn the network on with %network on (network 'bridge').")
    allow_image_change = Bool(False, config=True, help="Let users pick another image with %image.")
    runtime = Unicode("", config=True, help="OCI runtime for the cells ('' = daemon default runc; 'runsc' = gVisor).")
    pool_size = CInt(
        2, config=True, help="Pre-started containers kept ready per (image, limits); 0 disables the pool."
    )
    stream_interval = CFloat(
        0.05, config=True, help="Seconds over which stream output is coalesced into one message."
    )
    env = Dict(config=True, help="Environment variables for every cell.")
    max_timeout = CFloat(3600.0, config=True, help="Highest %timeout a user may set, in seconds.")
    max_mem_limit = Unicode("8g", config=True, help="Highest %memory a user may set.")
    max_cpus = CFloat(float(os.cpu_count() or 1), config=True, help="Highest %cpus a user may set.")
    max_pids_limit = CInt(4096, config=True, help="Highest %pids a user may set.")
    max_output_limit = Unicode("64m", config=True, help="Highest %output a user may set.")
    watchdog = Bool(
        True, config=True, help="Start a watchdog process that cleans up if this kernel dies (even SIGKILL)."
    )
    keep_state = Bool(
        True, config=True,
        help="Carry variables and definitions from cell to cell: Python, JavaScript, Ruby, Bash (%state on|off).",
    )

    @validate(*SIZE_TRAITS)
    def _valid_size(self, proposal):
        value = proposal["value"]
        name = proposal["trait"].name
        if name == "workspace_size" and value.strip() in ("", "0"):
            return value
        try:
            parse_size(value)
        except ValueError:
            raise TraitError(
                f"DockerKernel.{name}={value!r} is not a size; write it like 512m, 1g or 65536 (bytes)"
            ) from None
        return value

    @validate(*POSITIVE_TRAITS)
    def _valid_positive(self, proposal):
        value = proposal["value"]
        if not value > 0:
            raise TraitError(f"DockerKernel.{proposal['trait'].name}={value!r} must be greater than 0")
        return value

    def configured_limits(self) -> Limits:
        """The limits of the configuration (values already validated)."""
        return Limits(
            memory=parse_size(self.mem_limit),
            cpus=self.cpus,
            pids=self.pids_limit,
            timeout=self.timeout,
            output=parse_size(self.output_limit),
            tmp_size=parse_size(self.tmp_size),
            network=self.network,
            runtime=self.runtime,
        )

    def workspace_bytes(self) -> int:
        """The /workspace cap in bytes (0: no cap)."""
        return 0 if self.workspace_size.strip() in ("", "0") else parse_size(self.workspace_size)

    def ceilings(self) -> Ceilings:
        """The administrator's bounds of the limit magics."""
        return Ceilings(
            timeout=self.max_timeout,
            memory=parse_size(self.max_mem_limit),
            cpus=self.max_cpus,
            pids=self.max_pids_limit,
            output=parse_size(self.max_output_limit),
        )
