"""Whatever DigitalOcean or Vault answers, the clients return typed values or raise an error from
`components.errors` (never another exception, never a traceback), and a planted secret never
shows: not in the error's message or repr, and, when it was planted where secrets travel
(`secret_key`, Vault's `api_key`, the secret being written), not in the traceback's locals either.

DigitalOcean's answers are served by the sandbox (its `answer` fault) to the real pydo; Vault's by
`FakeVault`, a loopback server impersonating it (a real Vault cannot be made to answer garbage).
The answers mix arbitrary JSON with near-valid shapes (the documented ones, a field off), so the
parsers' every branch is reached, and arbitrary statuses and rate-limit headers.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from components.do_keys import ClientSettings, DeleteOutcome, IssuedKey, ModelKey, ModelKeys
from components.errors import GradientKeysError
from components.secret import Secret
from components.vault_sink import LedgerEntry, VaultSink
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.integration.test_hostile_responses import SINK_CALLS, Canned, FakeVault, ledger_for

SECRET = "sk-do-PLANTEDsecretPLANTEDsecretPLANTEDsecret01"  # only where secrets travel
OTHER = "sk-do-PLANTEDelsewhere0123456789abcdefABCDEF0123"  # anywhere: ids, messages, names, headers
KEY_UUID = "@key-uuid@"  # replaced by the uuid of the key the example works on
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    # One sandbox and one fake Vault serve every example; each example starts from a clean slate.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def locals_report(exc: BaseException) -> str:
    """The traceback with every frame's locals (full reprs), chained exceptions included."""
    return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())


def outcome_of(call: Callable[[], object]) -> tuple[object, GradientKeysError | None]:
    """Run `call`; any exception outside the error tree fails the example as itself."""
    try:
        return call(), None
    except GradientKeysError as exc:
        return None, exc


# -- what an answer can hold -----------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.just(OTHER),
    st.just(KEY_UUID),
    st.uuids().map(str),
)
FIELD_NAMES = st.sampled_from(
    ["api_key_info", "api_key_infos", "uuid", "name", "meta", "pages", "links", "next", "id", "request_id"]
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(FIELD_NAMES | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
# A secret field holds the secret, or something else that may wrap it.
secret_values = st.one_of(
    st.just(SECRET),
    st.just(SECRET),
    st.just([SECRET]),
    st.just({"value": SECRET}),
    st.just(""),
    scalars,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The documented value mostly, anything else sometimes."""
    return st.one_of(value, value, json_values)


_MISSING = object()


def shape(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with these fields, each the documented value mostly, else junk, else absent."""
    drawn = {
        name: st.one_of(value, value, value, json_values, st.just(_MISSING)) for name, value in fields.items()
    }
    return st.fixed_dictionaries(drawn).map(lambda d: {k: v for k, v in d.items() if v is not _MISSING})


key_infos = shape(
    uuid=st.just(KEY_UUID) | st.uuids().map(str),
    name=st.text(max_size=12) | st.just(OTHER),
    created_at=st.just("2026-11-25T10:00:00Z"),
    created_by=st.just("1000001"),
    secret_key=secret_values,
)
one_key = shape(api_key_info=key_infos)  # create, rename, regenerate, delete
listing = shape(
    api_key_infos=st.lists(maybe(key_infos), max_size=3),
    meta=shape(page=st.integers(0, 3), pages=st.integers(0, 5), total=st.integers(0, 9)),
    links=shape(pages=shape(next=st.just("https://api.example/next") | st.text(max_size=5))),
)
error_bodies = shape(
    id=st.sampled_from(["not_found", "server_error", "sk_do_planted_secret", OTHER, "Not Found"]),
    message=st.just(OTHER),
    request_id=st.uuids().map(str) | st.just(OTHER),
)


header_values = st.one_of(
    st.integers(min_value=-10, max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=16),
    st.just(OTHER),
)
rate_headers = st.dictionaries(
    st.sampled_from(
        ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after", "x-request-id"]
    ),
    header_values,
    max_size=4,
)
statuses = st.one_of(
    st.just(200),
    st.just(200),
    st.sampled_from([201, 204, 400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503]),
    st.integers(200, 599),
)
raw_texts = st.one_of(
    st.just("<html><body>502 Bad Gateway</body></html>"),
    st.just('{"api_key_info": {"secret_key": "' + SECRET + '"'),  # cut off mid-answer
    st.text(max_size=20),
)


def with_uuid(value: Any, key_uuid: str) -> Any:
    if value == KEY_UUID:
        return key_uuid
    if isinstance(value, list):
        return [with_uuid(v, key_uuid) for v in value]
    if isinstance(value, dict):
        return {k: with_uuid(v, key_uuid) for k, v in value.items()}
    return value


# -- DigitalOcean ----------------------------------------------------------------------------------
@pytest.fixture
def sandbox(shared_emulator: Emulator) -> Iterator[Emulator]:
    yield shared_emulator
    shared_emulator.reset()
    shared_emulator.config.create_mode = "retired"


def operation_and_body(operation: str) -> st.SearchStrategy[tuple[str, Any]]:
    documented = listing if operation == "list" else one_key
    return st.tuples(st.just(operation), st.one_of(documented, documented, error_bodies, json_values))


cases = st.sampled_from(["list", "rename", "regenerate", "delete", "create"]).flatmap(operation_and_body)


@EXAMPLES
@given(
    case=cases,
    status=statuses,
    raw=st.none() | st.none() | st.none() | raw_texts,
    headers=rate_headers,
    commit=st.booleans(),
    times=st.integers(1, 3),
    legacy_create=st.booleans(),
)
# Always tried, whatever else is drawn: one answer for each way this once went wrong.
@example(  # a 200 to regenerate without a uuid: a ValueError traceback, after the secret was minted
    case=("regenerate", {"api_key_info": {"name": "k", "secret_key": SECRET}}),
    status=200,
    raw=None,
    headers={},
    commit=True,
    times=1,
    legacy_create=False,
)
@example(  # a secret-shaped request_id, printed in the error message
    case=("list", {"id": "not_found", "message": OTHER, "request_id": OTHER}),
    status=404,
    raw=None,
    headers={},
    commit=False,
    times=1,
    legacy_create=False,
)
@example(  # a 201 with the secret: the reply (body and all) shown among the traceback's locals
    case=("create", {"api_key_info": {"uuid": KEY_UUID, "name": "made", "secret_key": SECRET}}),
    status=201,
    raw=None,
    headers={"ratelimit-remaining": "0", "ratelimit-reset": "99999999999"},
    commit=True,
    times=1,
    legacy_create=True,
)
def test_digitalocean_answers_give_typed_values_or_typed_errors(
    sandbox: Emulator,
    case: tuple[str, Any],
    status: int,
    raw: str | None,
    headers: dict[str, str],
    commit: bool,
    times: int,
    legacy_create: bool,
) -> None:
    operation, body = case
    sandbox.reset()
    sandbox.config.create_mode = "legacy" if legacy_create else "retired"
    key_uuid = sandbox.console_create("k")["uuid"]
    answer: dict[str, Any] = {"raw": raw} if raw is not None else {"body": with_uuid(body, key_uuid)}
    sandbox.inject(
        operation=operation,
        kind="answer",
        status=status,
        headers=headers,
        commit=commit,
        times=times,
        **answer,
    )
    settings_ = ClientSettings(api_url=sandbox.base_url, token=Secret(DEFAULT_TOKEN), max_attempts=3)
    with ModelKeys(settings_, sleep=lambda _s: None) as client:
        client.backoff.base = 0.001
        calls: dict[str, Callable[[], object]] = {
            "list": client.list_all,
            "rename": lambda: client.rename(key_uuid, "renamed"),
            "regenerate": lambda: client.regenerate(key_uuid),
            "delete": lambda: client.delete(key_uuid),
            "create": lambda: client.create("made"),
        }
        result, error = outcome_of(calls[operation])
    event(f"{operation}: {type(error or result).__name__}")
    if error is None:
        expected = {
            "list": list,
            "rename": ModelKey,
            "regenerate": IssuedKey,
            "delete": DeleteOutcome,
            "create": IssuedKey,
        }[operation]
        assert isinstance(result, expected)
        if isinstance(result, IssuedKey):
            assert isinstance(result.secret, Secret) and result.key.uuid
        return
    for planted in (SECRET, OTHER):
        assert planted not in str(error) and planted not in repr(error)
    assert SECRET not in locals_report(error)


# -- Vault ---------------------------------------------------------------------------------------
PATH = "secret/data/gradient-keys/apps/a"
STORED = ledger_for(Secret(SECRET))  # the ledger a version holding SECRET would carry
# Ledger mirrors a real Vault could hold (strings only: Vault's custom_metadata is a map of strings).
# `version` is drawn from ASCII digits and a few non-numbers, and ledger copies in the data hold
# string values (numbers and "²" are covered in tests/integration/test_hostile_responses.py).
mirrors = shape(
    **{"managed-by": st.sampled_from(["gradient-keys", "someone-else"])},
    version=st.sampled_from(["1", "2", "", "x", "-1"]),
    fingerprint=st.sampled_from([STORED.fingerprint, "nothex", OTHER]),
    rotated_at=st.just(STORED.rotated_at),
    slot_a=st.just("uuid-a"),
    owner=st.just(OTHER),
)
ledger_copies = st.sampled_from(
    [STORED.to_data_field(), "{not json", "[]", "{}", '{"fingerprint": "x"}', OTHER]
)
capabilities = st.lists(
    st.sampled_from(["create", "read", "update", "patch", "root", "deny", OTHER]), max_size=4
)
# The documented answer of each endpoint the sink calls, a field off now and then.
capabilities_answer = shape(data=shape(**{PATH: capabilities}), **{PATH: capabilities})
metadata_answer = shape(
    data=shape(
        current_version=st.integers(0, 3),
        versions=st.dictionaries(
            st.sampled_from(["1", "2", "x"]),
            shape(deletion_time=st.sampled_from(["", "2026-11-25T10:00:00Z"]), destroyed=st.booleans()),
            max_size=2,
        ),
        custom_metadata=mirrors | st.none(),
    )
)
version_answer = shape(
    data=shape(
        data=shape(api_key=secret_values, gradient_keys_ledger=ledger_copies),
        metadata=shape(version=st.integers(1, 3)),
    )
)
written_answer = shape(data=shape(version=st.integers(0, 3)))
listing_answer = shape(
    data=shape(keys=st.lists(st.sampled_from(["a", "b/", "_gradient-keys/", "x/y", "", OTHER]), max_size=3))
)
errors_answer = shape(errors=st.lists(st.just(OTHER) | st.text(max_size=8), max_size=2))
any_answer = st.one_of(
    capabilities_answer,
    metadata_answer,
    version_answer,
    written_answer,
    listing_answer,
    errors_answer,
    json_values,
)


def answers(documented: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Canned]]:
    """One to three answers in a row (the last repeats): mostly 200 with the documented shape."""
    one = st.builds(
        lambda status, body, raw, json_type: Canned(
            status,
            raw.encode() if raw is not None else json.dumps(body).encode(),
            "application/json" if json_type else "text/html",
        ),
        status=st.one_of(
            st.just(200),
            st.just(200),
            st.just(200),
            st.just(404),
            st.sampled_from([204, 400, 403, 412, 429, 500, 501, 502, 503]),
            st.integers(200, 599),
        ),
        body=st.one_of(documented, documented, any_answer),
        raw=st.none() | st.none() | st.none() | raw_texts,
        json_type=st.booleans() | st.just(True),
    )
    return st.lists(one, min_size=1, max_size=3)


def json_answer(body: Any) -> Canned:
    return Canned(200, json.dumps(body).encode())


def vault_example(call: str, **answers: list[Canned]) -> example:
    """An explicit example: these answers, and 404 from every other endpoint."""
    routes = ("caps", "metadata", "version", "written", "listing", "other")
    return example(
        call=call, **{name: answers.get(name, [Canned(404, b'{"errors": []}')]) for name in routes}
    )


@pytest.fixture(scope="module")
def fake_vault() -> Iterator[tuple[FakeVault, str]]:
    fake = FakeVault()
    server, addr = fake.serve()
    yield fake, addr
    server.shutdown()
    server.server_close()


@EXAMPLES
@given(
    call=st.sampled_from(sorted(SINK_CALLS)),
    caps=answers(capabilities_answer),
    metadata=answers(metadata_answer),
    version=answers(version_answer),
    written=answers(written_answer),
    listing=answers(listing_answer),
    other=answers(any_answer),
)
# Always tried: one answer for each way this once went wrong (the other endpoints answer 404).
@vault_example("preflight", caps=[json_answer({"data": ["read"]})])  # an AttributeError
@vault_example("read_ledger", metadata=[json_answer({"data": {"current_version": "three"}})])  # ValueError
@vault_example(  # a version whose ledger is broken: its secret was among the traceback's locals
    "read_secret",
    metadata=[json_answer({"data": {"current_version": 1, "versions": {"1": {}}}})],
    version=[json_answer({"data": {"data": {"api_key": SECRET, "gradient_keys_ledger": "{not json"}}})],
)
def test_vault_answers_give_typed_values_or_typed_errors(
    fake_vault: tuple[FakeVault, str],
    call: str,
    caps: list[Canned],
    metadata: list[Canned],
    version: list[Canned],
    written: list[Canned],
    listing: list[Canned],
    other: list[Canned],
) -> None:
    fake, addr = fake_vault
    fake.routes = [
        ("POST", "/v1/sys/capabilities-self", caps),
        ("LIST", "/v1/secret/metadata/", listing),
        ("GET", "/v1/secret/metadata/", metadata),
        ("GET", "/v1/secret/data/", version),
        ("POST", "/v1/secret/data/", written),
        ("*", "/v1/", other),  # the ledger mirror's PATCH, soft-deletes, anything else
    ]
    sink = VaultSink(
        "secret", "gradient-keys", environ={"VAULT_ADDR": addr, "VAULT_TOKEN": "hvs.t"}, sleep=lambda _s: None
    )
    secret = Secret(SECRET)
    result, error = outcome_of(lambda: SINK_CALLS[call](sink, secret))
    event(f"{call}: {type(error or result).__name__}")
    if error is None:
        assert result is None or isinstance(result, (LedgerEntry, list, dict, tuple))
        return
    for planted in (SECRET, OTHER):
        assert planted not in str(error) and planted not in repr(error)
    assert SECRET not in locals_report(error)
