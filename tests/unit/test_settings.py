"""DigitalOcean settings come from the environment, are checked, and never show the token."""

from __future__ import annotations

import pickle

import pytest

from components.do_keys import DEFAULT_API_URL, ClientSettings
from components.errors import ConfigurationError

TOKEN = "dop_v1_settings_test_token_value"


def test_defaults_to_the_real_api() -> None:
    settings = ClientSettings.from_env({"DIGITALOCEAN_TOKEN": TOKEN})
    assert settings.api_url == DEFAULT_API_URL
    assert settings.token.reveal() == TOKEN
    assert TOKEN not in repr(settings)


def test_missing_token_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="DIGITALOCEAN_TOKEN is not set"):
        ClientSettings.from_env({})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com", "not an http"),
        ("api.digitalocean.com", "not an http"),
        ("https://api.digitalocean.com/v2", "bare base URL"),
        ("https://user:pw@api.digitalocean.com", "carries a user or password"),
        ("http://sandbox.internal:8080", "plain http"),
    ],
    ids=["ftp", "no-scheme", "path", "userinfo", "http-remote"],
)
def test_bad_urls_are_refused_with_the_fix(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        ClientSettings.from_env({"DIGITALOCEAN_TOKEN": TOKEN, "DIGITALOCEAN_API_URL": url})
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8087", "http://localhost:1", "http://[::1]:9"])
def test_plain_http_is_fine_on_loopback(url: str) -> None:
    assert ClientSettings.from_env({"DIGITALOCEAN_TOKEN": TOKEN, "DIGITALOCEAN_API_URL": url}).api_url == url


def test_plain_http_elsewhere_needs_an_explicit_opt_in() -> None:
    env = {
        "DIGITALOCEAN_TOKEN": TOKEN,
        "DIGITALOCEAN_API_URL": "http://sandbox.internal:8080/",
        "GRADIENT_KEYS_ALLOW_INSECURE_HTTP": "1",
        "GRADIENT_KEYS_TRUSTED_HOSTS": "sandbox.internal",
    }
    assert ClientSettings.from_env(env).api_url == "http://sandbox.internal:8080"


def test_settings_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(ClientSettings.from_env({"DIGITALOCEAN_TOKEN": TOKEN}))


@pytest.mark.parametrize(
    "url", ["http://[::1", "https://api.digitalocean.com:99999"], ids=["bad-ipv6", "bad-port"]
)
def test_malformed_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"DIGITALOCEAN_API_URL .* is not a valid URL"):
        ClientSettings.from_env({"DIGITALOCEAN_TOKEN": TOKEN, "DIGITALOCEAN_API_URL": url})
