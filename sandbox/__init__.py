"""gradient-keys sandbox: a local stand-in for DigitalOcean's model-key API and inference surface.

The emulator's classes load on first use (`from sandbox import Emulator` still works), so code that
needs only a piece of the sandbox (the command's parser needs `sandbox.options`) does not start
with the HTTP server imported."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DEFAULT_ADMIN_TOKEN", "DEFAULT_TOKEN", "Emulator", "EmulatorConfig"]

_LAZY = {
    "DEFAULT_ADMIN_TOKEN": "sandbox.options",
    "DEFAULT_TOKEN": "sandbox.options",
    "Emulator": "sandbox.server",
    "EmulatorConfig": "sandbox.server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
