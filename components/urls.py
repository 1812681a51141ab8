"""Checking base URLs taken from the environment, with errors that name the variable and a fix."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from components.errors import ConfigurationError

__all__ = ["http_base_url"]


def http_base_url(variable: str, url: str, example: str) -> SplitResult:
    """An http(s) URL with a host and a valid port, or a ConfigurationError naming `variable`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ConfigurationError(
            f"{variable} {url!r} is not a valid URL (check the host and the port)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{variable} {url!r} is not an http(s) URL; use e.g. {example}")
    return parts
