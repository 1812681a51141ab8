"""The client over https, with pydo's own bearer-token policy, against the sandbox serving TLS.

The certificate is made here (a throwaway self-signed CA for 127.0.0.1), and reaches the client
the way a private CA would in production: through REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.do_keys import ClientSettings, ModelKeys
from sandbox.server import DEFAULT_TOKEN, Emulator, EmulatorConfig

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gradient-keys sandbox test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_client_works_over_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = make_certificate(tmp_path)
    config = EmulatorConfig(tls_cert=cert, tls_key=key, create_mode="legacy")
    with Emulator(config) as emulator:
        assert emulator.base_url.startswith("https://127.0.0.1:")
        emulator.console_create("tls-key")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        monkeypatch.setenv("DIGITALOCEAN_API_URL", emulator.base_url)
        monkeypatch.setenv("DIGITALOCEAN_TOKEN", DEFAULT_TOKEN)
        with ModelKeys(ClientSettings.from_env(os.environ)) as client:
            keys = client.list_all()
            assert [k.name for k in keys] == ["tls-key"]
            issued = client.regenerate(keys[0].uuid)
            assert emulator.store.find_by_secret(issued.secret.reveal()) is not None
            assert client.create("over-tls").key.name == "over-tls"


def test_tls_needs_both_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both a certificate and its key"):
        Emulator(EmulatorConfig(tls_cert=tmp_path / "cert.pem"))
