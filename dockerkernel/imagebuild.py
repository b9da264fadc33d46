"""Moved to ``dockerkernel.images`` (how images are made); this old name is that package itself."""

import sys

from . import images

sys.modules[__name__] = images
