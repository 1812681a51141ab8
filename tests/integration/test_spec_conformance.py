"""The sandbox against DigitalOcean's own OpenAPI fragments, over real HTTP.

Every response the emulator gives here is validated by openapi-core against a document assembled
from spec/do-openapi/ (tests/specdoc.py): status, body schema, formats, media type and the declared
headers. On top of what openapi-core checks, every exchange also asserts what the spec states but a
validator cannot enforce: the ratelimit-* headers the spec declares (not `required` there) are
present as integers, error bodies carry id/message/request_id, and `secret_key` appears only where a
secret is minted (regenerate, and create before its retirement). Statuses the spec does not document
for an operation (400, 403, 413, other 5xx) must validate against its `default` response. Requests
the tests mean to be well-formed are validated against the spec too, before they are sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.server import DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN, Emulator, EmulatorConfig
from tests import specdoc

READ_ONLY_TOKEN = "dop_v1_conformance_read_only"
RATE_HEADERS = frozenset({"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"})
DEFAULTS = EmulatorConfig()
REPO = Path(__file__).resolve().parents[2]
SHARED_SPEC = REPO.parent / "shared" / "do-openapi"
UINT64_MAX = 2**64 - 1


def _is_uint64(value: Any) -> bool:
    # `created_by` is `type: string, format: uint64` (a numeric user id sent as a string); the
    # OAS 3.0 format checker does not know uint64, so without this the format would go unchecked.
    if isinstance(value, str):
        return value.isascii() and value.isdigit() and int(value) <= UINT64_MAX
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT64_MAX


VALIDATOR_CONFIG = Config(extra_format_validators={"uint64": _is_uint64})


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    template: str  # the spec's path

    def path(self, key_uuid: str | None) -> str:
        return self.template.replace("{api_key_uuid}", key_uuid or "")

    @property
    def needs_key(self) -> bool:
        return "{api_key_uuid}" in self.template

    @property
    def mints_secret(self) -> bool:
        return self.name in ("create", "regenerate")


OPS = {
    op.name: op
    for op in (
        Operation("list", "GET", specdoc.COLLECTION_PATH),
        Operation("create", "POST", specdoc.COLLECTION_PATH),
        Operation("rename", "PUT", specdoc.ITEM_PATH),
        Operation("regenerate", "PUT", specdoc.REGENERATE_PATH),
        Operation("delete", "DELETE", specdoc.ITEM_PATH),
    )
}
WRITES = ("create", "rename", "regenerate", "delete")
KEYED = ("rename", "regenerate", "delete")

_UNSET: Any = object()


@dataclass
class Exchange:
    """One request and its validated response."""

    op: Operation
    response: requests.Response
    body: Any
    matched: str  # the spec's response key the status fell under: "200", "410", ..., "default"
    declared: Mapping[str, Any]  # that response object, from the document

    @property
    def status(self) -> int:
        return self.response.status_code


@dataclass
class Spec:
    document: dict[str, Any]
    api: OpenAPI

    @classmethod
    def of(cls, document: dict[str, Any]) -> Spec:
        # from_dict also runs openapi-spec-validator: the assembled document must be valid OAS 3.0.
        return cls(document, OpenAPI.from_dict(document, config=VALIDATOR_CONFIG))

    def responses(self, op: Operation) -> dict[str, Any]:
        responses: dict[str, Any] = self.document["paths"][op.template][op.method.lower()]["responses"]
        return responses

    def example(self, op: Operation, status: int) -> dict[str, Any]:
        example: dict[str, Any] = self.responses(op)[str(status)]["content"]["application/json"]["example"]
        return example


@dataclass
class Specs:
    current: Spec
    legacy: Spec


def _secrets_in(node: Any) -> list[Any]:
    """Every `secret_key` value anywhere in a JSON body."""
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "secret_key":
                found.append(value)
            found += _secrets_in(value)
    elif isinstance(node, list):
        for item in node:
            found += _secrets_in(item)
    return found


def _explain(errors: list[Exception], redact: list[str]) -> str:
    """Validation errors, readable; secrets in them replaced (sandbox secrets, but still secrets)."""
    lines: list[str] = []
    for error in errors:
        cause = error.__cause__
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:  # the error's own text repeats the whole body: name the paths instead
            lines.append(f"{type(error).__name__} ({type(cause).__name__}):")
            for schema_error in schema_errors:
                where = "/".join(str(p) for p in schema_error.absolute_path)
                lines.append(f"  - at /{where}: {schema_error.message}")
        else:
            lines.append(f"{type(error).__name__}: {error}")
            if cause is not None:
                lines.append(f"  caused by {type(cause).__name__}: {cause}")
    text = "\n".join(lines)
    for secret in redact:
        text = text.replace(secret, "[secret]")
    return text


class Client:
    """Sends real requests to the emulator; every response is checked before a test sees it."""

    def __init__(self, emulator: Emulator, specs: Specs, session: requests.Session) -> None:
        self.emulator = emulator
        self.specs = specs
        self.session = session

    def call(
        self,
        op_name: str,
        key_uuid: str | None = None,
        *,
        token: str | None = DEFAULT_TOKEN,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = _UNSET,
        raw_body: bytes | None = None,
        legacy: bool = False,
        spec_valid_request: bool = True,
        claimed_length: int | None = None,
    ) -> Exchange:
        """`spec_valid_request=False` for requests the spec itself rejects (the 400 cases).

        `claimed_length` sends a Content-Length with no body behind it: the server must refuse on
        the header alone, and with nothing unread it can close the connection cleanly.
        """
        op = OPS[op_name]
        spec = self.specs.legacy if legacy else self.specs.current
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        kwargs: dict[str, Any] = {}
        if json_body is not _UNSET:
            kwargs["json"] = json_body
        elif raw_body is not None:
            kwargs["data"] = raw_body
            headers["Content-Type"] = "application/json"
        prepared = requests.Request(
            op.method,
            self.emulator.base_url + op.path(key_uuid),
            headers=headers,
            params=dict(params or {}),
            **kwargs,
        ).prepare()
        if claimed_length is not None:
            prepared.headers["Content-Length"] = str(claimed_length)
        openapi_request = RequestsOpenAPIRequest(prepared)
        if spec_valid_request:
            request_errors = list(spec.api.iter_request_errors(openapi_request))
            assert not request_errors, (
                f"the test sent a request the spec rejects:\n{_explain(request_errors, [])}"
            )

        response = self.session.send(prepared, timeout=10)
        body = response.json()
        minted = [s for s in _secrets_in(body) if isinstance(s, str) and s]
        errors = list(spec.api.iter_response_errors(openapi_request, RequestsOpenAPIResponse(response)))
        where = f"{op.method} {op.template} -> {response.status_code}"
        assert not errors, f"{where} does not conform:\n{_explain(errors, minted)}"

        responses = spec.responses(op)
        matched = str(response.status_code) if str(response.status_code) in responses else "default"
        assert matched in responses
        exchange = Exchange(op, response, body, matched, responses[matched])
        self._check_rate_headers(exchange)
        self._check_secrets(exchange)
        if response.status_code >= 400:
            self._check_error_body(exchange)
        return exchange

    @staticmethod
    def _check_rate_headers(exchange: Exchange) -> None:
        declared = exchange.declared.get("headers", {})
        assert set(declared) >= RATE_HEADERS, f"spec: {exchange.matched} declares {sorted(declared)}"
        for name, header in declared.items():
            assert header["schema"]["type"] == "integer"
            value = exchange.response.headers.get(name)
            assert value is not None, f"{name} missing from a {exchange.status} response"
            assert re.fullmatch(r"[0-9]+", value), f"{name}: {value!r} is not a non-negative integer"

    @staticmethod
    def _check_secrets(exchange: Exchange) -> None:
        found = _secrets_in(exchange.body)
        if exchange.op.mints_secret and exchange.status == 200:
            assert len(found) == 1
            assert isinstance(found[0], str)
            assert found[0]
            assert exchange.body["api_key_info"]["secret_key"] is found[0]
        else:
            assert found == [], f"secret_key in a {exchange.op.name} {exchange.status} response"

    @staticmethod
    def _check_error_body(exchange: Exchange) -> None:
        body = exchange.body
        assert isinstance(body, dict)
        assert isinstance(body.get("id"), str)
        assert body["id"]
        assert isinstance(body.get("message"), str)
        assert body["message"]
        # request_id is optional in the schema; the emulator always sends it, matching x-request-id.
        assert body.get("request_id") == exchange.response.headers.get("x-request-id")
        uuid.UUID(body["request_id"])


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    emulator = Emulator(EmulatorConfig(read_only_tokens=(READ_ONLY_TOKEN,)))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def specs(server: Emulator) -> Specs:
    return Specs(
        current=Spec.of(specdoc.build_current(server.base_url)),
        legacy=Spec.of(specdoc.build_legacy(server.base_url)),
    )


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


@pytest.fixture
def emu(server: Emulator) -> Iterator[Emulator]:
    """The module's emulator, emptied, retired-create mode, DigitalOcean's default rate limits."""
    server.reset()
    server.config.create_mode = "retired"
    server.limiter.per_minute = DEFAULTS.rate_limit_per_minute
    server.limiter.per_hour = DEFAULTS.rate_limit_per_hour
    yield server
    server.reset()


@pytest.fixture
def client(emu: Emulator, specs: Specs, session: requests.Session) -> Client:
    return Client(emu, specs, session)


# -- the assembled documents ------------------------------------------------------------------
def _refs_left(node: Any) -> int:
    if isinstance(node, dict):
        return int("$ref" in node) + sum(_refs_left(v) for v in node.values())
    if isinstance(node, list):
        return sum(_refs_left(v) for v in node)
    return 0


@pytest.mark.parametrize("variant", ["current", "legacy"])
def test_documents_hold_the_five_operations_fully_resolved(specs: Specs, variant: str) -> None:
    document = getattr(specs, variant).document
    for path, method, filename in specdoc.OPERATIONS:
        operation = document["paths"][path][method]
        assert operation["operationId"] == filename.removesuffix(".yml")
        assert list(operation["security"][0]) == ["bearer_auth"]
    assert document["components"]["securitySchemes"]["bearer_auth"] == {"type": "http", "scheme": "bearer"}
    assert _refs_left(document) == 0


def test_legacy_document_differs_only_in_create(specs: Specs) -> None:
    current, legacy = specs.current.document, specs.legacy.document
    for path, method, _ in specdoc.OPERATIONS:
        if (path, method) != (specdoc.COLLECTION_PATH, "post"):
            assert legacy["paths"][path][method] == current["paths"][path][method]
    now = current["paths"][specdoc.COLLECTION_PATH]["post"]
    then = legacy["paths"][specdoc.COLLECTION_PATH]["post"]
    assert now["deprecated"] is True
    assert set(now["responses"]) == {"410", "401", "429", "500", "default"}
    assert "deprecated" not in then
    assert set(then["responses"]) == {"200", "401", "404", "429", "500", "default"}
    created = then["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert "secret_key" in created["api_key_info"]["properties"]
    # The cURL sample exists in history/ and wins over today's tree (which has none for create).
    assert "-X POST" in then["x-codeSamples"][0]["source"]


def test_whole_definitions_file_is_recursive_so_only_reached_refs_are_followed() -> None:
    resolver = specdoc.RefResolver([specdoc.CURRENT_ROOT])
    with pytest.raises(specdoc.SpecRefError, match="cycle"):
        resolver.resolve_file("resources/gen-ai/definitions.yml")
    info = resolver.resolve_file("resources/gen-ai/definitions.yml", "/apiModelAPIKeyInfo")
    assert set(info["properties"]) == {"uuid", "name", "created_at", "created_by", "deleted_at", "secret_key"}


@pytest.mark.parametrize(
    ("files", "ref", "message"),
    [
        pytest.param(
            {"a.yml": "x: {$ref: './b.yml#/y'}", "b.yml": "y: {$ref: './a.yml#/x'}"},
            "a.yml",
            "cycle",
            id="two-file-cycle",
        ),
        pytest.param(
            {"a.yml": "node: {properties: {child: {$ref: '#/node'}}}"},
            "a.yml",
            "cycle",
            id="self-recursive-schema",
        ),
        pytest.param(
            {"a.yml": "x: {$ref: './missing.yml'}"},
            "a.yml",
            "none of the specification roots",
            id="missing-file",
        ),
        pytest.param({"a.yml": "x: {$ref: '#/nope'}"}, "a.yml", "no 'nope'", id="bad-pointer"),
        pytest.param({"a.yml": "x: {$ref: '../../etc/passwd'}"}, "a.yml", "outside", id="escapes-root"),
        pytest.param(
            {"a.yml": "x: {$ref: 'https://example.com/s.yml'}"}, "a.yml", "only relative", id="remote-ref"
        ),
    ],
)
def test_resolver_refuses_what_it_cannot_follow(
    tmp_path: Path, files: dict[str, str], ref: str, message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(specdoc.SpecRefError, match=message):
        specdoc.RefResolver([tmp_path]).resolve_file(ref)


def test_resolver_follows_relative_paths_pointers_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "top.yml").write_text(
        "a: {$ref: 'sub/inner.yml#/defs/a~1b'}\nb: [{$ref: 'sub/inner.yml#/list/1'}]\n"
        "when: 2023-01-01T00:00:00Z\n"
    )
    (tmp_path / "sub" / "inner.yml").write_text(
        "defs: {a/b: {$ref: '../top.yml#/when'}}\nlist: [zero, {$ref: '#/defs'}]\n"
    )
    resolved = specdoc.RefResolver([tmp_path]).resolve_file(PurePosixPath("top.yml"))
    assert resolved == {
        "a": "2023-01-01T00:00:00Z",  # a YAML timestamp stays the string JSON would have
        "b": [{"a/b": "2023-01-01T00:00:00Z"}],
        "when": "2023-01-01T00:00:00Z",
    }


# -- list -------------------------------------------------------------------------------------
SEEDED = 7


@pytest.mark.parametrize(
    ("params", "count", "meta", "links"),
    [
        pytest.param({}, 7, (1, 1), set(), id="defaults"),
        pytest.param({"page": 1, "per_page": 3}, 3, (1, 3), {"next", "last"}, id="page1-of-3"),
        pytest.param(
            {"page": 2, "per_page": 3}, 3, (2, 3), {"first", "previous", "next", "last"}, id="page2-of-3"
        ),
        pytest.param({"page": 3, "per_page": 3}, 1, (3, 3), {"first", "previous"}, id="page3-of-3-partial"),
        pytest.param({"page": 4, "per_page": 3}, 0, (4, 3), {"first", "previous"}, id="page-beyond-end"),
        pytest.param({"page": 99}, 0, (99, 1), {"first", "previous"}, id="page-99-default-per_page"),
        pytest.param({"per_page": 1}, 1, (1, 7), {"next", "last"}, id="per_page-1"),
        pytest.param({"per_page": 7}, 7, (1, 1), set(), id="per_page-exact"),
        pytest.param({"per_page": 200}, 7, (1, 1), set(), id="per_page-max-200"),
        pytest.param({"per_page": 500}, 7, (1, 1), set(), id="per_page-500-clamped"),
    ],
)
def test_list_pages(
    client: Client, params: dict[str, int], count: int, meta: tuple[int, int], links: set[str]
) -> None:
    made = [client.emulator.console_create(f"key-{i}")["uuid"] for i in range(SEEDED)]
    exchange = client.call("list", params=params)
    assert exchange.status == 200
    body = exchange.body
    assert len(body["api_key_infos"]) == count
    assert {k["uuid"] for k in body["api_key_infos"]} <= set(made)
    assert (body["meta"]["page"], body["meta"]["pages"], body["meta"]["total"]) == (*meta, SEEDED)
    assert set(body["links"]["pages"]) == links


def test_list_with_no_keys(client: Client) -> None:
    exchange = client.call("list")
    assert exchange.body["api_key_infos"] == []
    assert exchange.body["meta"] == {"page": 1, "pages": 1, "total": 0}


@pytest.mark.parametrize("per_page", [1, 2, 3, 20], ids=lambda n: f"per_page-{n}")
def test_list_walk_following_next_links(client: Client, per_page: int) -> None:
    made = [client.emulator.console_create(f"walk-{i}")["uuid"] for i in range(SEEDED)]
    seen: list[str] = []
    params: dict[str, str | int] = {"per_page": per_page}
    for _ in range(SEEDED + 1):
        body = client.call("list", params=params).body
        seen += [k["uuid"] for k in body["api_key_infos"]]
        following = body["links"]["pages"].get("next")
        if following is None:
            break
        parts = urlsplit(following)
        assert f"{parts.scheme}://{parts.netloc}" == client.emulator.base_url
        assert parts.path == specdoc.COLLECTION_PATH
        params = dict(parse_qsl(parts.query))
    assert seen == made


# -- rename, regenerate, delete -------------------------------------------------------------------
@pytest.mark.parametrize("with_uuid", [True, False], ids=["uuid-and-name-as-upstream-curl", "name-only"])
def test_rename(client: Client, with_uuid: bool) -> None:
    key = client.emulator.console_create("before")
    body = {"api_key_uuid": key["uuid"], "name": "after"} if with_uuid else {"name": "after"}
    exchange = client.call("rename", key["uuid"], json_body=body)
    assert exchange.status == 200
    info = exchange.body["api_key_info"]
    assert (info["uuid"], info["name"]) == (key["uuid"], "after")
    listed = client.call("list").body["api_key_infos"]
    assert [k["name"] for k in listed] == ["after"]


def test_regenerate_mints_a_new_secret_each_time(client: Client) -> None:
    key = client.emulator.console_create("rotating")
    first = client.call("regenerate", key["uuid"])
    second = client.call("regenerate", key["uuid"])
    secrets = {
        key["secret_key"],
        first.body["api_key_info"]["secret_key"],
        second.body["api_key_info"]["secret_key"],
    }
    assert len(secrets) == 3
    assert first.body["api_key_info"]["uuid"] == key["uuid"]


def test_delete_answers_200_with_the_deleted_key(client: Client) -> None:
    key = client.emulator.console_create("doomed")
    keep = client.emulator.console_create("kept")
    exchange = client.call("delete", key["uuid"])
    assert exchange.status == 200
    info = exchange.body["api_key_info"]
    assert info["uuid"] == key["uuid"]
    assert info["deleted_at"]
    assert [k["uuid"] for k in client.call("list").body["api_key_infos"]] == [keep["uuid"]]
    again = client.call("delete", key["uuid"])
    assert (again.status, again.matched) == (404, "404")


# -- create, retired and legacy ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("json_body", "raw_body", "valid"),
    [
        pytest.param({"name": "new"}, None, True, id="valid-body"),
        pytest.param(_UNSET, None, True, id="no-body"),
        pytest.param(_UNSET, b'{"name": ', False, id="malformed-json"),
    ],
)
def test_create_is_retired_with_410(
    client: Client, json_body: Any, raw_body: bytes | None, valid: bool
) -> None:
    exchange = client.call("create", json_body=json_body, raw_body=raw_body, spec_valid_request=valid)
    assert (exchange.status, exchange.matched) == (410, "410")
    example = client.specs.current.example(exchange.op, 410)
    assert (exchange.body["id"], exchange.body["message"]) == (example["id"], example["message"])
    assert len(client.emulator.store) == 0


def test_legacy_create_answers_200_with_the_secret(client: Client) -> None:
    client.emulator.config.create_mode = "legacy"
    exchange = client.call("create", json_body={"name": "made-by-api"}, legacy=True)
    assert (exchange.status, exchange.matched) == (200, "200")
    info = exchange.body["api_key_info"]
    assert info["name"] == "made-by-api"
    assert client.emulator.store.find_by_secret(info["secret_key"]) is not None
    # Today's spec has no 200 for create: the same response falls to `default` (the error body).
    current = client.specs.current.api
    request = RequestsOpenAPIRequest(exchange.response.request)
    assert list(current.iter_response_errors(request, RequestsOpenAPIResponse(exchange.response)))
    listed = client.call("list").body["api_key_infos"]
    assert [k["uuid"] for k in listed] == [info["uuid"]]


# -- documented errors: 401, 404, 429, 500 ------------------------------------------------------
def _key_for(client: Client, op_name: str) -> str | None:
    return client.emulator.console_create("target")["uuid"] if OPS[op_name].needs_key else None


def _body_for(op_name: str, key_uuid: str | None) -> Any:
    if op_name == "rename":
        return {"api_key_uuid": key_uuid, "name": "renamed"}
    if op_name == "create":
        return {"name": "new"}
    return _UNSET


def _assert_spec_example(client: Client, exchange: Exchange) -> None:
    example = client.specs.current.example(exchange.op, exchange.status)
    assert (exchange.body["id"], exchange.body["message"]) == (example["id"], example["message"])


@pytest.mark.parametrize(
    ("token", "valid"),
    [
        pytest.param("dop_v1_wrong", True, id="wrong-token"),
        pytest.param(DEFAULT_ADMIN_TOKEN, True, id="admin-token"),
        pytest.param(None, False, id="no-token"),
    ],
)
@pytest.mark.parametrize("op_name", list(OPS))
def test_401_unauthenticated(client: Client, op_name: str, token: str | None, valid: bool) -> None:
    key_uuid = _key_for(client, op_name)
    exchange = client.call(
        op_name, key_uuid, token=token, json_body=_body_for(op_name, key_uuid), spec_valid_request=valid
    )
    assert (exchange.status, exchange.matched) == (401, "401")
    _assert_spec_example(client, exchange)


@pytest.mark.parametrize("op_name", KEYED)
def test_404_unknown_uuid(client: Client, op_name: str) -> None:
    client.emulator.console_create("someone-else")
    unknown = str(uuid.uuid4())
    exchange = client.call(op_name, unknown, json_body=_body_for(op_name, unknown))
    assert (exchange.status, exchange.matched) == (404, "404")
    _assert_spec_example(client, exchange)


@pytest.mark.parametrize("source", ["budget", "fault"], ids=["per-minute-budget", "injected"])
@pytest.mark.parametrize("op_name", list(OPS))
def test_429_rate_limited(client: Client, op_name: str, source: str) -> None:
    key_uuid = _key_for(client, op_name)
    if source == "budget":
        client.emulator.limiter.per_minute = 2
        assert client.call("list").status == 200
        assert client.call("list").status == 200
    else:
        client.emulator.inject(operation=op_name, kind="rate_limit", retry_after=3)
    exchange = client.call(op_name, key_uuid, json_body=_body_for(op_name, key_uuid))
    assert (exchange.status, exchange.matched) == (429, "429")
    _assert_spec_example(client, exchange)
    assert exchange.response.headers["ratelimit-remaining"] == "0"
    # retry-after is not in the fragments; description.yml documents it for a burst 429.
    assert re.fullmatch(r"[1-9][0-9]*", exchange.response.headers["retry-after"])


@pytest.mark.parametrize("op_name", list(OPS))
def test_500_server_error(client: Client, op_name: str) -> None:
    key_uuid = _key_for(client, op_name)
    client.emulator.inject(operation=op_name, kind="error", status=500)
    exchange = client.call(op_name, key_uuid, json_body=_body_for(op_name, key_uuid))
    assert (exchange.status, exchange.matched) == (500, "500")
    _assert_spec_example(client, exchange)


@pytest.mark.parametrize("op_name", ["list", "regenerate"])
def test_undocumented_5xx_validates_against_default(client: Client, op_name: str) -> None:
    key_uuid = _key_for(client, op_name)
    client.emulator.inject(operation=op_name, kind="error", status=503)
    exchange = client.call(op_name, key_uuid)
    assert (exchange.status, exchange.matched) == (503, "default")


# -- undocumented errors: 400 and 403 fall under `default` --------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"page": "abc"}, id="page-abc"),
        pytest.param({"page": "1.5"}, id="page-1.5"),
        pytest.param({"page": "0"}, id="page-0"),
        pytest.param({"per_page": "0"}, id="per_page-0"),
        pytest.param({"per_page": "-5"}, id="per_page-negative"),
        pytest.param({"per_page": "abc"}, id="per_page-abc"),
    ],
)
def test_400_bad_query_values(client: Client, params: dict[str, str]) -> None:
    client.emulator.console_create("present")
    # Not all of these break the gen-ai operation's own parameter schema (plain `integer`, no minimum):
    # the minimum of 1 is the API-wide convention (shared/parameters.yml), so the request is not
    # validated here, only the answer.
    exchange = client.call("list", params=params, spec_valid_request=False)
    assert (exchange.status, exchange.matched) == (400, "default")
    assert exchange.body["id"] == "bad_request"


@pytest.mark.parametrize(
    ("op_name", "json_body", "raw_body", "valid"),
    [
        pytest.param("rename", _UNSET, b'{"name": ', False, id="rename-malformed-json"),
        pytest.param("rename", _UNSET, b"\xff\xfe", False, id="rename-not-utf8"),
        pytest.param("rename", ["after"], None, False, id="rename-json-array"),
        pytest.param("rename", _UNSET, None, True, id="rename-no-body"),
        pytest.param("rename", {"name": ""}, None, True, id="rename-empty-name"),
        pytest.param("rename", {"name": "x" * 129}, None, True, id="rename-name-too-long"),
        pytest.param("rename", {"name": 7}, None, False, id="rename-name-not-string"),
        pytest.param(
            "rename",
            {"api_key_uuid": str(uuid.UUID(int=1)), "name": "a"},
            None,
            True,
            id="rename-uuid-mismatch",
        ),
        pytest.param("create", _UNSET, b'{"name": ', False, id="legacy-create-malformed-json"),
        pytest.param("create", {}, None, True, id="legacy-create-no-name"),
        pytest.param("create", _UNSET, b"[]", False, id="legacy-create-json-array"),
    ],
)
def test_400_bad_bodies(
    client: Client, op_name: str, json_body: Any, raw_body: bytes | None, valid: bool
) -> None:
    client.emulator.config.create_mode = "legacy"
    key = client.emulator.console_create("before")
    key_uuid = key["uuid"] if OPS[op_name].needs_key else None
    exchange = client.call(
        op_name, key_uuid, json_body=json_body, raw_body=raw_body, legacy=True, spec_valid_request=valid
    )
    assert (exchange.status, exchange.matched) == (400, "default")
    assert exchange.body["id"] == "bad_request"
    assert [(k.uuid, k.name) for k in client.emulator.store.list()] == [(key["uuid"], "before")]


@pytest.mark.parametrize("op_name", WRITES)
def test_403_read_only_token_on_a_write(client: Client, op_name: str) -> None:
    key_uuid = _key_for(client, op_name)
    exchange = client.call(op_name, key_uuid, token=READ_ONLY_TOKEN, json_body=_body_for(op_name, key_uuid))
    assert (exchange.status, exchange.matched) == (403, "default")
    assert exchange.body["id"] == "forbidden"
    assert client.call("list", token=READ_ONLY_TOKEN).status == 200


@pytest.mark.parametrize("op_name", list(OPS))
def test_413_oversized_body_validates_against_default(client: Client, op_name: str) -> None:
    client.emulator.config.create_mode = "legacy"
    key_uuid = _key_for(client, op_name)
    exchange = client.call(op_name, key_uuid, legacy=True, claimed_length=2 << 20)
    assert (exchange.status, exchange.matched) == (413, "default")
    assert exchange.body["id"] == "request_entity_too_large"
    assert exchange.response.headers["Connection"] == "close"  # the unread body ends the connection
    assert len(client.emulator.store) == (1 if key_uuid else 0)


# -- the repo's copy of the spec ----------------------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.skipif(
    not SHARED_SPEC.is_dir(),
    reason=f"{SHARED_SPEC} is absent: no shared copy of the spec to compare spec/do-openapi with",
)
def test_repo_spec_copy_is_the_shared_one_plus_the_agent_key_fragments() -> None:
    """The shared copy, byte for byte, and the agent-key operations copied since from the same
    upstream commit (their README section says which); the README lists them too."""
    ours, shared = _tree(specdoc.SPEC_DIR), _tree(SHARED_SPEC)
    assert set(ours) - set(shared) == AGENT_FRAGMENTS and set(shared) <= set(ours)
    differing = [name for name in sorted(shared) if name != "README.md" and ours[name] != shared[name]]
    assert differing == [], f"spec/do-openapi differs from {SHARED_SPEC} in: {differing}"


AGENT_FRAGMENTS = {
    f"specification/resources/gen-ai/{folder}{operation}.yml"
    for operation in (
        "genai_list_agents",
        "genai_list_agent_api_keys",
        "genai_create_agent_api_key",
        "genai_update_agent_api_key",
        "genai_delete_agent_api_key",
        "genai_regenerate_agent_api_key",
    )
    for folder in ("", "examples/curl/")
}


SHARED_DOC = REPO.parent / "shared" / "do-docs" / "serverless-inference.txt"


@pytest.mark.skipif(not SHARED_DOC.is_file(), reason=f"{SHARED_DOC} is absent: nothing to compare with")
def test_repo_doc_copy_is_byte_identical_to_the_shared_one() -> None:
    assert (
        specdoc.SPEC_DIR.parent / "do-docs" / "serverless-inference.txt"
    ).read_bytes() == SHARED_DOC.read_bytes()
