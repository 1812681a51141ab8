"""gradient-keys sandbox: a local stand-in for DigitalOcean's model-key API and inference surface."""

from sandbox.server import DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN, Emulator, EmulatorConfig

__all__ = ["DEFAULT_ADMIN_TOKEN", "DEFAULT_TOKEN", "Emulator", "EmulatorConfig"]
