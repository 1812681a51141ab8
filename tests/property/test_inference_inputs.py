"""Whatever a request holds, the inference surface answers 200 or a 4xx (issue 15): never a 5xx,
never a dropped connection, always JSON (server-sent events for a streamed 200), every 4xx exactly
the documented error shape `{"error": {"message", "type", "code"}}` (spec/inference.yaml's
`error`, strings all three), every 200 the shape spec/inference.yaml declares for its endpoint,
and the server logs no traceback. A body that is not JSON (RFC 8259: no `NaN`, no `Infinity`) is
a 400 `invalid_json`.

Every route of `sandbox.inference.routes.ROUTES` is driven over real HTTP with a valid model access
key: the POST routes with near-valid bodies (the documented fields with valid values, a few of
them, or the whole body, replaced by hostile values: wrong types, huge and negative numbers,
floats, booleans where integers go, empty and odd strings, deep nesting, and number tokens Python
cannot hold such as `1e309` or `NaN`), and with raw bytes; the GET routes with hostile path
parameters; every route with every method. An async job the fuzzer manages to start is polled to
completion, so its hostile input reaches the code that makes the output.

The bugs these properties found are fixed; each has its explicit `@example` (marked "regression")
that fails without its fix: an unhashable `role` or part `type` (TypeError), a reasoning budget
from a `max_completion_tokens` beyond a float (OverflowError), JSON nested deeper than the parser's
recursion limit (RecursionError), the non-JSON literals `NaN`/`Infinity` taken as numbers, and a
body over the size limit refused in the control plane's error shape instead of the inference one.
"""

from __future__ import annotations

import http.client
import json
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from jsonschema import (  # type: ignore[import-untyped]  # no stubs in the dev requirements
    Draft202012Validator,
    FormatChecker,
)

from sandbox.inference.async_invoke import IMAGE_SIZES
from sandbox.inference.catalogue import CATALOGUE, ENDPOINT_KINDS, REASONING_EFFORTS
from sandbox.inference.images import SIZES
from sandbox.inference.messages import PART_TYPES, ROLES
from sandbox.inference.prompt_cache import RETENTIONS
from sandbox.inference.responses import OTHER_PARTS, TEXT_PARTS
from sandbox.inference.routes import ROUTES, Route
from sandbox.server import MAX_BODY_BYTES, Emulator

SPEC = Path(__file__).resolve().parents[2] / "spec" / "inference.yaml"
DOCUMENT: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
TIMEOUT = 10.0

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    # One sandbox serves every example (the function-scoped `emulator`); each example is one request.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SWEEP = settings(FUZZ, max_examples=100)


def _template(route: Route) -> str:
    """`/v1/async-invoke/{request_id}/status` from the route's regex."""
    return re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}", route.pattern.pattern)


TEMPLATES = {route.operation: _template(route) for route in ROUTES}
POSTS = {route.operation: TEMPLATES[route.operation] for route in ROUTES if route.method == "POST"}
WITH_PARAMS = [route for route in ROUTES if route.pattern.groupindex]


# -- what the answers must look like -------------------------------------------------------------
@cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({**DOCUMENT, "$ref": pointer}, format_checker=FormatChecker())


def _schema_problems(pointer: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in _validator(pointer).iter_errors(instance)
    ]


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def strict_json(text: bytes | str) -> Any:
    """JSON as RFC 8259 has it: Python's extensions (NaN, Infinity, -Infinity) refused."""
    return json.loads(text, parse_constant=_not_json)


def parses(raw: bytes) -> bool | None:
    """Whether `raw` is JSON; None when too deep to tell here (the test runs on a deep stack)."""
    try:
        strict_json(raw)
    except RecursionError:
        return None
    except ValueError:
        return False
    return True


def shown(raw: bytes | None) -> str:
    return "no body" if raw is None else f"{len(raw)} bytes: {raw[:120]!r}"


class Big(bytes):
    """A long body, shown by its length and its start when Hypothesis reports an example."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Big({shown(self)})")


def deep_inside(body: bytes, depth: int) -> Big:
    """`body` with its first `[]` replaced by arrays nested `depth` levels deep."""
    return Big(body.replace(b"[]", b"[" * depth + b"]" * depth, 1))


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    payload: bytes

    def json(self) -> Any:
        return strict_json(self.payload)

    def events(self) -> list[Any]:
        """A server-sent event stream's `data:` blocks, `[DONE]` last and required."""
        blocks = [b for b in self.payload.decode().split("\n\n") if b.strip()]
        assert blocks and blocks[-1] == "data: [DONE]", f"the stream does not end with [DONE]: {blocks[-1:]}"
        assert all(block.startswith("data: ") for block in blocks), "a block is not a data: line"
        return [strict_json(block[len("data: ") :]) for block in blocks[:-1]]


class Wire:
    """Requests over real HTTP with a valid model access key; the server's tracebacks, recorded."""

    def __init__(self, emulator: Emulator, secret: str) -> None:
        self.emulator, self.secret = emulator, secret
        self.tracebacks: list[str] = []

    def send(self, method: str, path: str, raw: bytes | None) -> Reply:
        # A connection the machine broke (a loaded CI host) is tried once more on a new one: a
        # server that drops this request drops it again, deterministically, and fails the test.
        first = self._attempt(method, path, raw)
        reply = first if isinstance(first, Reply) else self._attempt(method, path, raw)
        if not isinstance(reply, Reply):
            pytest.fail(
                f"{method} {path}: the connection failed twice ({first!r}, {reply!r}); "
                f"server: {self.tracebacks}"
            )
        assert not self.tracebacks, f"{method} {path}: the server logged\n{self.tracebacks[0]}"
        return reply

    def _attempt(self, method: str, path: str, raw: bytes | None) -> Reply | Exception:
        host, port = self.emulator._httpd.server_address[:2]
        connection = http.client.HTTPConnection(str(host), port, timeout=TIMEOUT)
        headers = {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}
        try:
            connection.request(method, path, body=raw, headers=headers)
            answer = connection.getresponse()
            return Reply(answer.status, answer.getheader("Content-Type") or "", answer.read())
        except (OSError, http.client.HTTPException) as exc:
            return exc
        finally:
            connection.close()

    def check(self, method: str, template: str, path: str, raw: bytes | None) -> Reply:
        """Send, then check what every answer must be; the reply, for checks of its own."""
        reply = self.send(method, path, raw)
        status = reply.status
        event(f"{method} {template}: {status}")
        assert status == 200 or 400 <= status < 500, (
            f"{method} {path}: status {status}: {reply.payload[:300]!r}"
        )
        if reply.content_type.startswith("text/event-stream"):
            assert status == 200
            events = reply.events()
            declared = DOCUMENT["x-endpoints"].get(f"{method} {template}", {}).get("200 text/event-stream")
            for chunk in events if declared else ():
                assert not _schema_problems(declared, chunk), _schema_problems(declared, chunk)
            return reply
        assert reply.content_type.startswith("application/json"), reply.content_type
        body = reply.json()
        if status >= 400:
            assert not _schema_problems(DOCUMENT["x-endpoints"]["*"]["4xx"], body), body
            assert list(body) == ["error"] and set(body["error"]) == {"message", "type", "code"}, body
            assert all(isinstance(value, str) and value for value in body["error"].values()), body
        else:
            pointer = DOCUMENT["x-endpoints"][f"{method} {template}"]["200"]
            if pointer == "#/$defs/async_result" and body.get("status") != "COMPLETED":
                pointer = "#/$defs/async_status"  # the documented result is the completed job's
            assert not _schema_problems(pointer, body), (_schema_problems(pointer, body), shown(raw))
        return reply


@pytest.fixture
def wire(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    channel = Wire(emulator, emulator.console_create("fuzz")["secret_key"])
    server = emulator._httpd
    report = server.handle_error  # prints the traceback to stderr: a user would see it there

    def record(request: Any, client_address: Any) -> None:
        channel.tracebacks.append(traceback.format_exc())
        report(request, client_address)

    monkeypatch.setattr(server, "handle_error", record)
    yield channel


# -- hostile values --------------------------------------------------------------------------------
# A string that stands for a JSON number token Python cannot produce (`1e309`) or one that is not
# JSON at all (`NaN`): `encode` writes the token in its place.
RAW = {f"@raw:{token}@": token for token in ("1e309", "-1e309", "1E400", "NaN", "Infinity", "-Infinity")}


def encode(body: Any) -> bytes:
    text = json.dumps(body)
    for placeholder, token in RAW.items():
        text = text.replace(json.dumps(placeholder), token)
    return text.encode()


def nest(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


EDGES = st.sampled_from(
    [
        None, True, False, 0, 1, -1, 2, 11, 129, 2**31, 2**63, 10**30, -(10**30), 10**400,
        0.0, -0.0, 0.5, 1.5, 1e308, -1e308, 5e-324,
        "", " ", "0", "1", "-1", "NaN", "Infinity", "1e309", "true", "null", "\x00", "\ud800", "é🙂\u202e",
        "x" * 300, [], {}, [None], {"": None},
        *RAW,
    ]
)  # fmt: skip
VOCAB = st.sampled_from(
    sorted(ROLES | PART_TYPES | TEXT_PARTS | OTHER_PARTS)
    + [m.id for m in CATALOGUE]
    + [
        "ephemeral",
        "5m",
        "1h",
        *RETENTIONS,
        *REASONING_EFFORTS,
        *SIZES,
        *IMAGE_SIZES,
        "png",
        "url",
        "b64_json",
    ]
)
FIELD_NAMES = [
    "model", "messages", "input", "n", "size", "max_tokens", "max_completion_tokens", "max_output_tokens",
    "stream", "reasoning", "reasoning_effort", "cache_control", "prompt_cache_retention", "stream_options",
    "logprobs", "top_logprobs", "stop", "instructions", "store", "previous_response_id", "model_id",
    "prompt", "temperature", "top_p", "metadata", "tools", "tool_choice", "user", "quality", "background",
    "output_format", "response_format", "tags",
]  # fmt: skip
INNER_NAMES = [
    "role", "content", "type", "text", "ttl", "effort", "include_usage", "tool_call_id", "refusal",
    "image_size", "width", "height", "num_images", "num_inference_steps", "guidance_scale", "seconds_total",
    "key", "value",
]  # fmt: skip
KEYS = st.sampled_from(FIELD_NAMES + INNER_NAMES) | st.text(max_size=6)
scalars = st.one_of(
    EDGES,
    VOCAB,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=10,
)
deep = st.builds(nest, st.integers(1, 300), scalars) | st.builds(
    lambda depth: json.loads('{"a": ' * depth + "1" + "}" * depth), st.integers(1, 300)
)
hostile = st.one_of(scalars, json_values, deep)


def near(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes a hostile one: most bodies get past the first field, so
    the fields after it, and the answers, are reached too. (Hypothesis draws the bounds of a range
    far more often than its middle: the hostile value is a middle roll.)"""
    return st.integers(0, 9).flatmap(lambda roll: hostile if roll == 4 else valid)


# -- near-valid bodies, route by route ------------------------------------------------------------
def _models(endpoint: str) -> st.SearchStrategy[str]:
    return st.sampled_from([m.id for m in CATALOGUE if m.kind in ENDPOINT_KINDS[endpoint]])


words = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
efforts = st.sampled_from(REASONING_EFFORTS)
tokens = st.integers(1, 10**400)  # valid however large: the documented fields have no upper bound
cache_control = st.fixed_dictionaries(
    {"type": near(st.just("ephemeral"))}, optional={"ttl": near(st.sampled_from(["5m", "1h"]))}
)
part = st.fixed_dictionaries(
    {"type": near(st.sampled_from(sorted(PART_TYPES)))},
    optional={"text": near(words), "cache_control": near(cache_control)},
)
message = st.fixed_dictionaries(
    {
        "role": near(st.sampled_from(sorted(ROLES))),
        "content": near(words | part | st.lists(part, min_size=1, max_size=3)),
    },
    optional={"cache_control": near(cache_control), "tool_call_id": near(words)},
)
response_item = st.fixed_dictionaries(
    {
        "role": near(st.sampled_from(["user", "assistant", "system", "developer"])),
        "content": near(
            words
            | st.lists(
                st.fixed_dictionaries(
                    {"type": near(st.sampled_from(sorted(TEXT_PARTS | OTHER_PARTS)))},
                    optional={"text": words},
                ),
                min_size=1,
                max_size=3,
            )
        ),
    }
)
fal_input = st.fixed_dictionaries(
    {"prompt": near(words), "text": near(words)},  # speech models read text, the others prompt
    optional={
        "image_size": near(
            st.sampled_from(sorted(IMAGE_SIZES))
            | st.fixed_dictionaries({"width": st.integers(1, 256), "height": st.integers(1, 256)})
        ),
        "num_images": near(st.integers(1, 4)),
        "num_inference_steps": near(st.integers(1, 50)),
        "guidance_scale": near(st.floats(0, 20)),
        "seconds_total": near(st.floats(1, 190)),
    },
)
VALID: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # operation: (required, optional) fields
    "chat_completions": (
        {"model": _models("/v1/chat/completions"), "messages": st.lists(message, min_size=1, max_size=3)},
        {
            "max_completion_tokens": tokens,
            "max_tokens": tokens,
            "n": st.integers(1, 8),
            "stream": st.booleans(),
            "stream_options": st.fixed_dictionaries({}, optional={"include_usage": near(st.booleans())}),
            "reasoning_effort": efforts,
            "reasoning": st.fixed_dictionaries(
                {}, optional={"effort": near(efforts), "max_tokens": near(tokens)}
            ),
            "prompt_cache_retention": st.sampled_from(sorted(RETENTIONS)),
            "logprobs": st.booleans(),
            "top_logprobs": st.integers(0, 20),
            "stop": words | st.lists(words, max_size=4),
            "temperature": st.floats(0, 2),
            "top_p": st.floats(0, 1),
            "metadata": st.dictionaries(words, words, max_size=2),
            "user": words,
        },
    ),
    "responses": (
        {"model": _models("/v1/responses"), "input": words | st.lists(response_item, min_size=1, max_size=3)},
        {
            "instructions": words,
            "previous_response_id": words,
            "max_output_tokens": tokens,
            "reasoning": st.fixed_dictionaries({}, optional={"effort": near(efforts)}),
            "reasoning_effort": efforts,
            "store": st.booleans(),
            "prompt_cache_retention": st.sampled_from(sorted(RETENTIONS)),
            "stream": st.booleans(),
            "temperature": st.floats(0, 2),
            "metadata": st.dictionaries(words, words, max_size=2),
        },
    ),
    "images_generations": (
        {"model": _models("/v1/images/generations"), "prompt": words},
        {
            "n": st.integers(1, 10),
            "size": st.sampled_from(SIZES),
            "quality": st.sampled_from(["low", "medium", "high", "auto"]),
            "background": st.sampled_from(["transparent", "opaque", "auto"]),
            "output_format": st.just("png"),
            "response_format": st.just("b64_json"),
            "stream": st.just(False),
        },
    ),
    "async_invoke": (
        {"model_id": _models("/v1/async-invoke"), "input": fal_input},
        {"tags": st.lists(st.fixed_dictionaries({"key": words, "value": words}), max_size=2)},
    ),
}


@st.composite
def near_valid_body(draw: st.DrawFn, operation: str) -> dict[str, Any]:
    """The route's documented fields, valid or nearly so, then up to three replaced by hostile values."""
    required, optional = VALID[operation]
    body: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {name: near(value) for name, value in required.items()},
            optional={name: near(value) for name, value in optional.items()},
        )
    )
    # A shuffle, not sampled_from: the first names (model, messages) would be drawn far more often.
    for name in draw(st.permutations(FIELD_NAMES))[: draw(st.integers(0, 3))]:
        body[name] = draw(hostile)
    if draw(st.integers(0, 9)) == 4:
        body.pop(draw(st.sampled_from(sorted(required))))
    return body


def bodies(operation: str) -> st.SearchStrategy[Any]:
    return st.one_of(near_valid_body(operation), near_valid_body(operation), json_values, deep)


def _post_check(wire: Wire, operation: str, raw: bytes) -> None:
    template = POSTS[operation]
    reply = wire.check("POST", template, template, raw)
    if not raw.strip():
        assert reply.status == 400, reply.payload
    elif parses(raw) is False:
        assert reply.status == 400 and reply.json()["error"]["code"] == "invalid_json", reply.payload[:300]
    if operation == "async_invoke" and reply.status == 200:
        # Poll the job to completion: its output is made from the input the fuzzer sent.
        job = reply.json()["request_id"]
        for route in WITH_PARAMS + WITH_PARAMS:  # status, result (in progress), status, result
            path = TEMPLATES[route.operation].format(request_id=job)
            assert wire.check("GET", TEMPLATES[route.operation], path, None).status == 200


def _chat(**fields: Any) -> bytes:
    return encode({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **fields})


def _response(**fields: Any) -> bytes:
    return encode({"model": "gpt-4o-mini", "input": "hi", **fields})


def _image(**fields: Any) -> bytes:
    return encode({"model": "openai-gpt-image-1", "prompt": "a red square", **fields})


def _job(**fields: Any) -> bytes:
    return encode({"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "a red square"}, **fields})


REASONER = "openai-gpt-oss-20b"
HUGE = 10**309  # an integer no float holds


# -- the properties --------------------------------------------------------------------------------
@FUZZ
@given(body=bodies("chat_completions"))
@example(body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": True})
@example(body={"model": "", "messages": [{"role": "user", "content": "hi"}]})
@example(body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**30})
@example(body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": nest(200)})
@example(
    body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "top_p": "@raw:1e309@"}
)
@example(body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": 1})
# regression: an unhashable role or part type (TypeError in the frozenset lookup)
@example(body={"model": "gpt-4o-mini", "messages": [{"role": ["user"], "content": "hi"}]})
@example(body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": {}}]}]})
# regression: a reasoning budget from a max_completion_tokens no float holds (OverflowError)
@example(
    body={"model": REASONER, "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low",
          "max_completion_tokens": HUGE}
)  # fmt: skip
@example(
    body={"model": REASONER, "messages": [{"role": "user", "content": "hi"}], "reasoning": {"effort": "max"},
          "max_tokens": HUGE, "stream": True}
)  # fmt: skip
# regression: the non-JSON literals were read as numbers (answered 200)
@example(
    body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi", "weight": "@raw:NaN@"}]}
)
@example(
    body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "seed": "@raw:Infinity@"}
)
def test_chat_completions_answer_any_body(wire: Wire, body: Any) -> None:
    _post_check(wire, "chat_completions", encode(body))


@FUZZ
@given(body=bodies("responses"))
@example(body={"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 10**30})
@example(body={"model": REASONER, "input": "hi", "max_output_tokens": HUGE, "stream": True})
@example(body={"model": "gpt-4o-mini", "input": "hi", "previous_response_id": ""})
@example(body={"model": "gpt-4o-mini", "input": "hi", "store": 0})
# regression: an unhashable role or part type (TypeError in the frozenset lookup)
@example(body={"model": "gpt-4o-mini", "input": [{"role": {"user": 1}, "content": "hi"}]})
@example(body={"model": "gpt-4o-mini", "input": [{"role": "user", "content": [{"type": ["input_text"]}]}]})
def test_responses_answer_any_body(wire: Wire, body: Any) -> None:
    _post_check(wire, "responses", encode(body))


@FUZZ
@given(body=bodies("images_generations"))
@example(body={"model": "openai-gpt-image-1", "prompt": "a cat", "n": True})
@example(body={"model": "openai-gpt-image-1", "prompt": "a cat", "n": 1.0})
@example(body={"model": "openai-gpt-image-1", "prompt": "a cat", "n": "@raw:1e309@"})
@example(body={"model": "openai-gpt-image-1", "prompt": "a cat", "size": ["1024x1024"]})
@example(body={"model": "openai-gpt-image-1", "prompt": "a cat", "size": "1024X1024"})
@example(body={"model": "", "prompt": "a cat"})
def test_image_generations_answer_any_body(wire: Wire, body: Any) -> None:
    _post_check(wire, "images_generations", encode(body))


@FUZZ
@given(body=bodies("async_invoke"))
@example(body={"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "x", "num_images": True}})
@example(
    body={"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "x", "image_size": {"width": "@raw:1e309@"}}}
)
@example(
    body={"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "x", "image_size": {"width": 2, "height": 2}}}
)
@example(body={"model_id": "fal-ai/elevenlabs/tts/multilingual-v2", "input": {"text": "x", "image_size": []}})
@example(
    body={"model_id": "fal-ai/stable-audio-25/text-to-audio", "input": {"prompt": "x", "seconds_total": 0}}
)
@example(body={"model_id": "", "input": {"prompt": "x"}})
def test_async_invoke_answers_any_body(wire: Wire, body: Any) -> None:
    _post_check(wire, "async_invoke", encode(body))


raw_bodies = st.one_of(
    st.binary(max_size=80),
    st.builds(lambda body, cut: encode(body)[:cut], json_values, st.integers(0, 60)),
    json_values.map(encode),
    st.sampled_from(
        [
            b"{", b"}", b"[", b"null", b"true", b"1", b'""', b"NaN", b"-Infinity", b"1e309",
            b'{"model": NaN}',
            b'{"a": 1}{"b": 2}', b'{"a": 1,}', b"{'a': 1}", b"\xff\xfe", b"\xef\xbb\xbf{}", b"\x00",
            '{"model": "gpt-4o-mini"}'.encode("utf-16"), b'{"model": "\\ud800"}', b" \t\r\n", b"\x0b",
        ]
    ),
)  # fmt: skip


@FUZZ
@given(operation=st.sampled_from(sorted(POSTS)), raw=raw_bodies)
@example(operation="chat_completions", raw=Big(b"[" * 200 + b"]" * 200))
@example(
    operation="chat_completions",
    raw=deep_inside(_chat(messages=[{"role": "user", "content": "hi", "d": []}]), 250),
)
@example(operation="chat_completions", raw=_chat(n=True))
@example(operation="images_generations", raw=_image(size=""))
# regression: JSON nested past the parser's recursion limit (RecursionError), at the top or inside
@example(operation="chat_completions", raw=Big(b"[" * 100_000 + b"]" * 100_000))
@example(operation="responses", raw=Big(b'{"a": ' * 5000 + b"1" + b"}" * 5000))
@example(operation="chat_completions", raw=deep_inside(_chat(deep=[]), 990))
# regression: a body that parsed but nested too deep to digest (RecursionError in json.dumps)
@example(
    operation="chat_completions",
    raw=deep_inside(_chat(messages=[{"role": "user", "content": "hi", "d": []}]), 978),
)
@example(operation="async_invoke", raw=deep_inside(_job(input={"prompt": "x", "d": []}), 980))
# regression: NaN and Infinity are not JSON (they were read as numbers)
@example(operation="responses", raw=_response(seed=0).replace(b"0}", b"NaN}"))
@example(operation="async_invoke", raw=_job(tags=[]).replace(b"[]", b"-Infinity"))
# regression: a body over the size limit was refused in the control plane's error shape
@example(operation="images_generations", raw=Big(_image(prompt="x" * MAX_BODY_BYTES)))
def test_raw_bodies_answer_json_or_invalid_json(wire: Wire, operation: str, raw: bytes) -> None:
    _post_check(wire, operation, raw)


request_ids = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", ".", "..", "%", "%00", "%2F", "null", "0" * 200, "x" * 5000]),
    st.just("@job@"),  # a job that exists
    st.just("@job@").map(lambda job: job + "x"),
)


@SWEEP
@given(route=st.sampled_from(WITH_PARAMS), request_id=request_ids, body=st.none() | hostile.map(encode))
@example(route=WITH_PARAMS[0], request_id="@job@", body=None)
@example(route=WITH_PARAMS[-1], request_id="..", body=b"NaN")
def test_path_parameters_answer_200_or_404(
    wire: Wire, route: Route, request_id: str, body: bytes | None
) -> None:
    if "@job@" in request_id:
        created = wire.check("POST", POSTS["async_invoke"], POSTS["async_invoke"], _job())
        request_id = request_id.replace("@job@", created.json()["request_id"])
    template = TEMPLATES[route.operation]
    path = template.format(request_id=quote(request_id, safe="") or "%20")
    reply = wire.check(route.method, template, path, body)
    assert reply.status in (200, 404), reply.payload


@SWEEP
@given(
    operation=st.sampled_from(sorted(TEMPLATES)),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    body=st.none() | raw_bodies | hostile.map(encode),
)
@example(operation="models", method="POST", body=_chat())
@example(operation="chat_completions", method="GET", body=_chat())
def test_every_route_and_method_answers_in_shape(
    wire: Wire, operation: str, method: str, body: bytes | None
) -> None:
    template = TEMPLATES[operation]
    path = template.format(request_id="00000000-0000-0000-0000-000000000000")
    reply = wire.check(method, template, path, body)
    route = next(route for route in ROUTES if route.operation == operation)
    if method != route.method:
        assert reply.status == 405, reply.payload
