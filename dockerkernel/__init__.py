"""dockerkernel: a Jupyter kernel that runs every cell in a fresh, locked-down container."""

__version__ = "0.1.0"
