"""Checking base URLs taken from the environment, with errors that name the variable and a fix.

One rule for every endpoint that receives a credential or a secret (the DigitalOcean API, Vault,
the inference endpoint that verifies new keys): https, or plain http to a loopback address, or
plain http anywhere only with `GRADIENT_KEYS_ALLOW_INSECURE_HTTP=1`; and never user:password in
the URL (it would be echoed in errors and stored in state inputs). Messages never show userinfo."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit

from components.errors import ConfigurationError

__all__ = ["ALLOW_HTTP_ENV", "credential_endpoint", "http_base_url", "is_loopback"]

ALLOW_HTTP_ENV = "GRADIENT_KEYS_ALLOW_INSECURE_HTTP"
_USERINFO = re.compile(r"//[^/@]*@")


def http_base_url(variable: str, url: str, example: str) -> SplitResult:
    """An http(s) URL with a host and a valid port, or a ConfigurationError naming `variable`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ConfigurationError(
            f"{variable} {shown(url)!r} is not a valid URL (check the host and the port)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{variable} {shown(url)!r} is not an http(s) URL; use e.g. {example}")
    return parts


def shown(url: str) -> str:
    """The URL as messages may show it: any user:password replaced."""
    return _USERINFO.sub("//***@", url)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credential_endpoint(variable: str, url: str, example: str, environ: Mapping[str, str]) -> SplitResult:
    """`http_base_url`, plus the rule for endpoints that receive a credential (module docstring)."""
    parts = http_base_url(variable, url, example)
    assert parts.hostname is not None
    if parts.username or parts.password:
        raise ConfigurationError(
            f"{variable} {shown(url)!r} carries a user or password: remove it; credentials come from "
            "their own variables (VAULT_TOKEN, DIGITALOCEAN_TOKEN, ...)"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname) and environ.get(ALLOW_HTTP_ENV) != "1":
        raise ConfigurationError(
            f"{variable} uses plain http to {parts.hostname}: credentials would cross the network "
            f"unencrypted. Use https, or set {ALLOW_HTTP_ENV}=1 for a sandbox on a trusted network"
        )
    return parts
