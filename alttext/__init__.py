"""alttext: find images without alt text in built static sites, caption them once, fix them."""

from __future__ import annotations

__version__ = "0.1.0"
