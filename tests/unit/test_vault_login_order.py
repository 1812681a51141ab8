"""Which Vault login the environment selects, and the errors that name what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.errors import ConfigurationError
from components.vault_auth import VaultConnection, resolve_login

TOKEN = "hvs.PLANTED-token-for-order-tests"


def test_token_env_wins_over_everything(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("from-file")
    env = {
        "VAULT_TOKEN": TOKEN,
        "VAULT_ROLE_ID": "r",
        "VAULT_SECRET_ID": "s",
        "VAULT_JWT_ROLE": "j",
        "VAULT_JWT": "x",
    }
    how = resolve_login(env, home=tmp_path)
    assert how.method == "token" and how.source == "VAULT_TOKEN" and how.token is not None
    assert how.token.reveal() == TOKEN
    assert TOKEN not in repr(how)


def test_then_the_token_file(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("from-file\n")
    how = resolve_login({"VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s"}, home=tmp_path)
    assert how.method == "token" and how.source == "~/.vault-token"


def test_then_approle_then_jwt(tmp_path: Path) -> None:
    approle = resolve_login(
        {"VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s", "VAULT_JWT_ROLE": "j", "VAULT_JWT": "x"}, home=tmp_path
    )
    assert approle.method == "approle" and approle.mount == "approle"
    jwt = resolve_login(
        {"VAULT_JWT_ROLE": "ci", "VAULT_JWT": "eyJ", "VAULT_JWT_MOUNT": "gitlab"}, home=tmp_path
    )
    assert jwt.method == "jwt" and jwt.role == "ci" and jwt.mount == "gitlab" and jwt.source == "VAULT_JWT"


def test_jwt_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "id-token").write_text("eyJfile\n")
    how = resolve_login({"VAULT_JWT_ROLE": "ci", "VAULT_JWT_FILE": str(tmp_path / "id-token")}, home=tmp_path)
    assert (
        how.credential is not None and how.credential.reveal() == "eyJfile" and how.source == "VAULT_JWT_FILE"
    )


def test_explicit_method_overrides_the_order(tmp_path: Path) -> None:
    env = {"VAULT_TOKEN": TOKEN, "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s", "VAULT_AUTH_METHOD": "approle"}
    assert resolve_login(env, home=tmp_path).method == "approle"
    assert resolve_login({**env, "VAULT_AUTH_METHOD": ""}, method="token", home=tmp_path).method == "token"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no Vault credentials found"),
        ({"VAULT_ROLE_ID": "r"}, "needs VAULT_SECRET_ID"),
        ({"VAULT_SECRET_ID": "s"}, "needs VAULT_ROLE_ID"),
        ({"VAULT_JWT_ROLE": "ci"}, "needs VAULT_JWT or VAULT_JWT_FILE"),
        ({"VAULT_JWT": "eyJ"}, "needs VAULT_JWT_ROLE"),
        ({"VAULT_JWT_ROLE": "ci", "VAULT_JWT_FILE": "/nonexistent/token"}, "missing or empty"),
        ({"VAULT_AUTH_METHOD": "kerberos"}, "not supported"),
        ({"VAULT_AUTH_METHOD": "token"}, "neither VAULT_TOKEN"),
        ({"VAULT_AUTH_METHOD": "approle"}, "neither VAULT_ROLE_ID nor VAULT_SECRET_ID is set; set both"),
        ({"VAULT_AUTH_METHOD": "approle", "VAULT_ROLE_ID": "r"}, "needs VAULT_SECRET_ID as well: set both"),
    ],
    ids=[
        "nothing",
        "role-only",
        "secret-only",
        "jwt-role-only",
        "jwt-only",
        "jwt-file-missing",
        "bad-method",
        "token-missing",
        "approle-missing",
        "approle-half",
    ],
)
def test_incomplete_settings_name_what_is_missing(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        resolve_login(env, home=tmp_path)
    if env.get("VAULT_AUTH_METHOD") == "approle":
        assert "neither, to" not in str(raised.value)  # approle was asked for: not an option


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "VAULT_ADDR is not set"), ({"VAULT_ADDR": "vault:8200"}, "not an http")],
    ids=["missing", "no-scheme"],
)
def test_vault_addr_is_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        VaultConnection.from_env(env)


def test_namespace_is_normalised() -> None:
    connection = VaultConnection.from_env(
        {"VAULT_ADDR": "http://127.0.0.1:8200/", "VAULT_NAMESPACE": "/team-a/"}
    )
    assert connection.addr == "http://127.0.0.1:8200" and connection.namespace == "team-a"


def test_malformed_vault_settings_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"VAULT_ADDR .* is not a valid URL"):
        VaultConnection.from_env({"VAULT_ADDR": "http://127.0.0.1:99999"})
    with pytest.raises(ConfigurationError, match=r"VAULT_CACERT .* is not a readable file"):
        VaultConnection.from_env({"VAULT_ADDR": "https://v:8200", "VAULT_CACERT": str(tmp_path / "none.pem")})
