"""Each Vault login method against a real OpenBao, and namespaces."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import hvac
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.errors import VaultAuthError
from components.ledger import Ledger
from components.secret import Secret
from components.vault_policy import render_policy
from components.vault_sink import VaultSink
from sandbox.openbao import OpenBaoServer

AUDIENCE = "gradient-keys"
ISSUER = "https://ci.example.test"


def without_token(vault_env: dict[str, str]) -> dict[str, str]:
    """Where Vault is (address, namespace, CA), for a login that brings its own credentials."""
    return {name: value for name, value in vault_env.items() if name != "VAULT_TOKEN"}


def write_once(sink: VaultSink, path: str) -> None:
    secret = Secret(f"sk-do-{uuid.uuid4().hex}")
    sink.preflight([path], delete_mode="destroy")
    ledger = Ledger(fingerprint=secret.fingerprint, rotated_at="2026-11-25T00:00:00Z", slot_a="u")
    assert sink.write(path, secret, ledger, 0).version == 1


@pytest.fixture
def tool_policy(root_vault: hvac.Client) -> str:
    root_vault.sys.create_or_update_policy("gradient-keys", render_policy())
    return "gradient-keys"


def test_token_from_the_environment(
    vault_env: dict[str, str], root_vault: hvac.Client, tool_policy: str, key_path: str
) -> None:
    token = root_vault.auth.token.create(policies=[tool_policy], no_default_policy=True, ttl="5m")["auth"][
        "client_token"
    ]
    write_once(VaultSink(environ={**vault_env, "VAULT_TOKEN": token}), key_path)


def test_token_from_the_token_file(
    vault_env: dict[str, str], root_vault: hvac.Client, tool_policy: str, key_path: str, tmp_path: Path
) -> None:
    token = root_vault.auth.token.create(policies=[tool_policy], ttl="5m")["auth"]["client_token"]
    (tmp_path / ".vault-token").write_text(token + "\n")  # HOME is tmp_path (vault_env)
    env = {k: v for k, v in vault_env.items() if k != "VAULT_TOKEN"}
    sink = VaultSink(environ=env)
    write_once(sink, key_path)


def test_approle(vault_env: dict[str, str], root_vault: hvac.Client, tool_policy: str, key_path: str) -> None:
    mount = f"approle-{uuid.uuid4().hex[:6]}"
    root_vault.sys.enable_auth_method("approle", path=mount)
    root_vault.auth.approle.create_or_update_approle(
        "rotator", token_policies=[tool_policy], mount_point=mount
    )
    role_id = root_vault.auth.approle.read_role_id("rotator", mount_point=mount)["data"]["role_id"]
    secret_id = root_vault.auth.approle.generate_secret_id("rotator", mount_point=mount)["data"]["secret_id"]
    env = {**without_token(vault_env), "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id}
    write_once(VaultSink(environ={**env, "VAULT_APPROLE_MOUNT": mount}), key_path)
    with pytest.raises(VaultAuthError, match=r"approle login .* was refused") as caught:
        VaultSink(environ={**env, "VAULT_APPROLE_MOUNT": mount, "VAULT_SECRET_ID": "wrong-secret-id"})
    assert secret_id not in str(caught.value) and "wrong-secret-id" not in str(caught.value)


@pytest.fixture
def jwt_backend(root_vault: hvac.Client, tool_policy: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A JWT auth mount trusting a key pair made here, as a CI system's OIDC issuer would be."""
    key = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    mount = f"jwt-{uuid.uuid4().hex[:6]}"
    root_vault.sys.enable_auth_method("jwt", path=mount)
    root_vault.auth.jwt.configure(jwt_validation_pubkeys=[public_pem], bound_issuer=ISSUER, path=mount)
    root_vault.auth.jwt.create_role(
        "pulumi-ci",
        role_type="jwt",
        user_claim="sub",
        bound_audiences=[AUDIENCE],
        token_policies=[tool_policy],
        allowed_redirect_uris=[],
        path=mount,
    )
    return mount, key


def sign(key: ec.EllipticCurvePrivateKey, audience: str = AUDIENCE, lifetime: int = 300) -> str:
    now = int(time.time())
    claims = {
        "sub": "repo:acme/infra:ref:main",
        "aud": audience,
        "iss": ISSUER,
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, key, algorithm="ES256")


def test_jwt_from_an_environment_variable(
    vault_env: dict[str, str], jwt_backend: tuple[str, ec.EllipticCurvePrivateKey], key_path: str
) -> None:
    mount, key = jwt_backend
    env = {**without_token(vault_env), "VAULT_JWT_ROLE": "pulumi-ci", "VAULT_JWT_MOUNT": mount}
    write_once(VaultSink(environ={**env, "VAULT_JWT": sign(key)}), key_path)


def test_jwt_from_a_file(
    vault_env: dict[str, str],
    jwt_backend: tuple[str, ec.EllipticCurvePrivateKey],
    key_path: str,
    tmp_path: Path,
) -> None:
    mount, key = jwt_backend
    token_file = tmp_path / "oidc-token"
    token_file.write_text(sign(key))
    env = {
        **without_token(vault_env),
        "VAULT_JWT_ROLE": "pulumi-ci",
        "VAULT_JWT_MOUNT": mount,
        "VAULT_JWT_FILE": str(token_file),
    }
    write_once(VaultSink(environ=env), key_path)


@pytest.mark.parametrize(
    "make_token",
    [lambda k: sign(k, audience="someone-else"), lambda k: sign(k, lifetime=-120)],
    ids=["wrong-audience", "expired"],
)
def test_jwt_refusals_are_clear(
    vault_env: dict[str, str], jwt_backend: tuple[str, ec.EllipticCurvePrivateKey], make_token: object
) -> None:
    mount, key = jwt_backend
    bad = make_token(key)  # type: ignore[operator]
    env = {
        **without_token(vault_env),
        "VAULT_JWT_ROLE": "pulumi-ci",
        "VAULT_JWT_MOUNT": mount,
        "VAULT_JWT": bad,
    }
    with pytest.raises(VaultAuthError, match=r"jwt login .* was refused: check VAULT_JWT_ROLE") as caught:
        VaultSink(environ=env)
    assert bad not in str(caught.value)


def test_namespace_header_is_sent(
    vault_env: dict[str, str], root_vault: hvac.Client, openbao: OpenBaoServer, key_path: str
) -> None:
    child = f"team-{uuid.uuid4().hex[:6]}"
    root_vault.sys.create_namespace(child)  # inside the suite's own namespace when it runs in one
    namespace = f"{openbao.namespace}/{child}" if openbao.namespace else child
    in_namespace = hvac.Client(
        url=vault_env["VAULT_ADDR"], token=vault_env["VAULT_TOKEN"], namespace=namespace
    )
    in_namespace.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    sink = VaultSink(environ={**vault_env, "VAULT_NAMESPACE": namespace})
    write_once(sink, key_path)
    full = f"gradient-keys/{key_path}"
    assert (
        in_namespace.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")["data"]["current_version"]
        == 1
    )
    with pytest.raises(hvac.exceptions.InvalidPath):
        root_vault.secrets.kv.v2.read_secret_metadata(full, mount_point="secret")
