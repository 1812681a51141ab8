"""One rule for every endpoint that receives a credential or a secret (Vault, the inference endpoint
that verifies new keys, the DigitalOcean API): https, or plain http on loopback, or an explicit
opt-in; and no user:password in the URL, which no message ever shows."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from components.do_keys import ClientSettings
from components.errors import ConfigurationError
from components.inference_check import inference_url
from components.vault_auth import VaultConnection

PASSWORD = "hunter2-planted-password"
TRUSTED = {
    "GRADIENT_KEYS_TRUSTED_HOSTS": "vault.example.com"
}  # another host takes trust (test_endpoint_sources)
OPT_IN = {"GRADIENT_KEYS_ALLOW_INSECURE_HTTP": "1", **TRUSTED}


def vault(url: str, extra: dict[str, str]) -> str:
    return VaultConnection.from_env({"VAULT_ADDR": url, **extra}).addr


def inference(url: str, extra: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DIGITALOCEAN_INFERENCE_URL", url)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return inference_url(None, os.environ)


def digitalocean(url: str, extra: dict[str, str]) -> str:
    return ClientSettings.from_env({"DIGITALOCEAN_TOKEN": "t", "DIGITALOCEAN_API_URL": url, **extra}).api_url


@pytest.fixture(params=["vault", "inference", "digitalocean"])
def endpoint(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, dict[str, str]], str]:
    monkeypatch.delenv("GRADIENT_KEYS_ALLOW_INSECURE_HTTP", raising=False)
    if request.param == "vault":
        return vault
    if request.param == "inference":
        return lambda url, extra: inference(url, extra, monkeypatch)
    return digitalocean


def test_plain_http_to_another_host_is_refused(endpoint: Callable[[str, dict[str, str]], str]) -> None:
    with pytest.raises(ConfigurationError, match=r"plain http to vault\.example\.com"):
        endpoint("http://vault.example.com:8200", {})


def test_plain_http_elsewhere_takes_an_explicit_opt_in(
    endpoint: Callable[[str, dict[str, str]], str],
) -> None:
    assert endpoint("http://vault.example.com:8200", OPT_IN) == "http://vault.example.com:8200"


@pytest.mark.parametrize(
    "url", ["https://vault.example.com:8200", "http://127.0.0.1:8200", "http://localhost:8"]
)
def test_https_and_loopback_are_fine(endpoint: Callable[[str, dict[str, str]], str], url: str) -> None:
    assert endpoint(url, TRUSTED) == url


def test_a_password_in_the_url_is_refused_and_never_shown(
    endpoint: Callable[[str, dict[str, str]], str],
) -> None:
    with pytest.raises(ConfigurationError, match="carries a user or password") as caught:
        endpoint(f"https://admin:{PASSWORD}@vault.example.com:8200", OPT_IN)
    assert PASSWORD not in str(caught.value)


def test_a_password_in_a_malformed_url_is_not_shown_either(
    endpoint: Callable[[str, dict[str, str]], str],
) -> None:
    with pytest.raises(ConfigurationError, match="not a valid URL") as caught:
        endpoint(f"https://admin:{PASSWORD}@vault.example.com:99999", {})
    assert PASSWORD not in str(caught.value)
