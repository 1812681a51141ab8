"""Where each credential goes, where that choice came from, and who may redirect it.

Three endpoints receive a credential or a secret: the DigitalOcean API (the API token), the
inference endpoint (every freshly minted key, to verify it) and Vault (the Vault token and every
secret); and each declared agent's endpoint, every new key of that agent (to verify it), which
must be a DigitalOcean agent host (`*.agents.do-ai.run`), loopback or a trusted host. The first
three come from the environment, else the stack config, else DigitalOcean's default (Vault has
none). A stack file lives in the repository and anyone who can open a pull request
can edit it, while the credentials belong to whoever runs the tool (often CI), so:

- DigitalOcean and inference: a host other than DigitalOcean's own or loopback (the sandbox)
  must be listed in `GRADIENT_KEYS_TRUSTED_HOSTS`, whatever set it;
- Vault: `VAULT_ADDR` is the operator's choice; a `vault.addr` from the stack file is only
  followed to loopback or to a host listed in `GRADIENT_KEYS_TRUSTED_HOSTS`.

Every command says on stderr which endpoint came from where (`Endpoints.describe`). The URL
rules (https, loopback http, no userinfo) are components/urls.py's.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.errors import ConfigurationError
from components.urls import credential_endpoint, is_loopback, shown

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_INFERENCE_URL",
    "AGENT_HOST_SUFFIX",
    "TRUSTED_HOSTS_ENV",
    "Endpoint",
    "Endpoints",
    "Source",
    "agent",
    "digitalocean_api",
    "inference",
    "resolve",
    "vault",
]

DEFAULT_API_URL = "https://api.digitalocean.com"
DEFAULT_INFERENCE_URL = "https://inference.do-ai.run"
TRUSTED_HOSTS_ENV = "GRADIENT_KEYS_TRUSTED_HOSTS"


class Source(enum.Enum):
    ENVIRONMENT = "environment"
    STACK = "stack config"
    DEFAULT = "default"


@dataclass(frozen=True)
class Endpoint:
    service: str
    url: str
    source: Source
    setting: str  # the variable or stack field it came from ("" for a default)

    def describe(self) -> str:
        origin = "default" if self.source is Source.DEFAULT else self.setting
        return f"{self.service} {shown(self.url)} (from {origin})"


@dataclass(frozen=True)
class Endpoints:
    digitalocean: Endpoint
    inference: Endpoint
    vault: Endpoint | None
    agents: tuple[Endpoint, ...] = ()  # each declared agent's endpoint

    def describe(self) -> str:
        parts = [self.digitalocean.describe(), self.inference.describe()]
        parts.append(self.vault.describe() if self.vault else "Vault not set (VAULT_ADDR)")
        parts += [agent.describe() for agent in self.agents]
        return "endpoints: " + "; ".join(parts)


def _trusted(environ: Mapping[str, str]) -> set[str]:
    return {h.strip().lower().rstrip(".") for h in environ.get(TRUSTED_HOSTS_ENV, "").split(",") if h.strip()}


def _pick(  # noqa: PLR0913 - the three names of a setting, then keyword-only sources
    service: str,
    variable: str,
    field: str,
    *,
    configured: str | None,
    default: str | None,
    environ: Mapping[str, str],
) -> Endpoint | None:
    from_env = environ.get(variable, "").strip()
    if from_env:
        return Endpoint(service, from_env.rstrip("/"), Source.ENVIRONMENT, variable)
    if configured:
        return Endpoint(service, configured.rstrip("/"), Source.STACK, f"stack config {field}")
    if default:
        return Endpoint(service, default, Source.DEFAULT, "")
    return None


def _checked(endpoint: Endpoint, example: str, own_host: str | None, environ: Mapping[str, str]) -> Endpoint:
    parts = credential_endpoint(endpoint.setting or endpoint.service, endpoint.url, example, environ)
    host = (parts.hostname or "").lower().rstrip(".")
    needs_trust = own_host is not None or endpoint.source is Source.STACK
    if needs_trust and host != own_host and not is_loopback(host) and host not in _trusted(environ):
        whose = f"{own_host}, " if own_host else ""
        raise ConfigurationError(
            f"{endpoint.setting} points the {endpoint.service} at {host}: its credentials go only to "
            f"{whose}loopback or a host you trust. If {host} is yours, set {TRUSTED_HOSTS_ENV}={host} "
            "in the environment (a stack file cannot trust a host by itself)"
        )
    return endpoint


def digitalocean_api(configured: str | None, environ: Mapping[str, str]) -> Endpoint:
    picked = _pick(
        "DigitalOcean API",
        "DIGITALOCEAN_API_URL",
        "digitalocean.api_url",
        configured=configured,
        default=DEFAULT_API_URL,
        environ=environ,
    )
    assert picked is not None
    return _checked(
        picked, f"{DEFAULT_API_URL} or the sandbox's http://127.0.0.1:PORT", "api.digitalocean.com", environ
    )


def inference(configured: str | None, environ: Mapping[str, str]) -> Endpoint:
    picked = _pick(
        "inference endpoint",
        "DIGITALOCEAN_INFERENCE_URL",
        "digitalocean.inference_url",
        configured=configured,
        default=DEFAULT_INFERENCE_URL,
        environ=environ,
    )
    assert picked is not None
    return _checked(picked, DEFAULT_INFERENCE_URL, "inference.do-ai.run", environ)


AGENT_HOST_SUFFIX = ".agents.do-ai.run"  # DigitalOcean's agent endpoints: https://<id>.agents.do-ai.run


def agent(configured: str, environ: Mapping[str, str]) -> Endpoint:
    """An agent's endpoint (the stack config's `agents[].endpoint`), where its new keys are
    checked: a DigitalOcean agent host, loopback (the sandbox) or a host listed in
    GRADIENT_KEYS_TRUSTED_HOSTS, like every endpoint a stack file names."""
    endpoint = Endpoint(
        "agent endpoint", configured.rstrip("/"), Source.STACK, "stack config agents[].endpoint"
    )
    parts = credential_endpoint(endpoint.setting, endpoint.url, "https://<id>.agents.do-ai.run", environ)
    host = (parts.hostname or "").lower().rstrip(".")
    if host.endswith(AGENT_HOST_SUFFIX):
        return endpoint
    return _checked(endpoint, "https://<id>.agents.do-ai.run", None, environ)


def vault(configured: str | None, environ: Mapping[str, str]) -> Endpoint | None:
    picked = _pick("Vault", "VAULT_ADDR", "vault.addr", configured=configured, default=None, environ=environ)
    if picked is None:
        return None
    return _checked(picked, "https://vault.example.com:8200", None, environ)


def resolve(
    api_url: str | None,
    inference_url: str | None,
    vault_addr: str | None,
    environ: Mapping[str, str],
    agents: Sequence[str] = (),
) -> Endpoints:
    """All of them, from the stack config's values (`agents`: the declared agents' endpoints) and
    the environment; raises ConfigurationError."""
    return Endpoints(
        digitalocean_api(api_url, environ),
        inference(inference_url, environ),
        vault(vault_addr, environ),
        tuple(agent(url, environ) for url in dict.fromkeys(agents)),
    )
