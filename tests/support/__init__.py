"""Helpers shared by the test tiers (import them from here, never from a conftest)."""

from .kernels import CellResult, KernelHandle, assert_error, assert_ok
from .objects import (
    ROOT,
    leftovers_of_kernels,
    objects_of_pid,
    objects_of_this_process,
    our_objects,
    require_images,
    unique_id,
    wait_until,
)

__all__ = [
    "CellResult", "KernelHandle", "assert_error", "assert_ok", "ROOT", "leftovers_of_kernels", "objects_of_pid",
    "objects_of_this_process", "our_objects", "require_images", "unique_id", "wait_until",
]
