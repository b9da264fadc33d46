"""Moved to ``dockerkernel.sandbox.connection`` (reaching the daemon); this name keeps old imports working."""

from .sandbox.connection import *  # noqa: F403
from .sandbox.connection import __all__  # noqa: F401
