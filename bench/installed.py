"""Make the timed ``python -m alttext`` runs start like an installed package.

A wheel installed with pip has its modules byte-compiled; an editable checkout run with
``PYTHONDONTWRITEBYTECODE=1`` (set on some machines, including CI images) compiles every
module from source at each start — tens of milliseconds that no user pays, and more for
``fix`` (which imports more) than for ``check``. Compiling once up front removes that
artefact from every subprocess timing.
"""

from __future__ import annotations

import compileall
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "alttext"


def byte_compile_package() -> None:
    """Write ``__pycache__`` for every module of the package (as ``pip install`` does)."""
    if not compileall.compile_dir(str(PACKAGE), quiet=1):
        raise RuntimeError(f"could not byte-compile {PACKAGE}")
