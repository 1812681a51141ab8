"""The Secret type: redacted everywhere, comparable, never serializable."""

from __future__ import annotations

import hashlib
import logging
import pickle

import dill  # type: ignore[import-untyped]
import pytest

from components.secret import Secret, fingerprint

PLANTED = "sk-do-PLANTED-secret-value-0123456789"


def test_repr_str_format_and_logging_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(PLANTED)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("t").debug("secret=%s %r", secret, secret)
    percent = "%s" % (secret,)  # noqa: UP031 - the %-operator path is the one logging takes
    rendered = [repr(secret), str(secret), f"{secret}", f"{secret!r}", percent, caplog.text]
    for text in rendered:
        assert PLANTED not in text
    assert "redacted" in repr(secret)


def test_fingerprint_is_a_short_sha256_prefix() -> None:
    assert Secret(PLANTED).fingerprint == hashlib.sha256(PLANTED.encode()).hexdigest()[:12]
    assert fingerprint(PLANTED) == Secret(PLANTED).fingerprint


def test_reveal_and_equality() -> None:
    assert Secret(PLANTED).reveal() == PLANTED
    assert Secret(PLANTED) == Secret(PLANTED)
    assert Secret(PLANTED) != Secret(PLANTED + "x")


@pytest.mark.parametrize("dumps", [pickle.dumps, dill.dumps], ids=["pickle", "dill"])
def test_cannot_be_serialized(dumps: object) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        dumps(Secret(PLANTED))  # type: ignore[operator]


@pytest.mark.parametrize("value", ["", None, 42], ids=["empty", "none", "int"])
def test_rejects_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        Secret(value)  # type: ignore[arg-type]
