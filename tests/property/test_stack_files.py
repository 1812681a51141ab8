"""Whatever a stack file holds, reading it ends in typed settings or one `ConfigurationError` whose
message is bounded, terminal-safe and one problem per line; and `audit` / `rotate --due --dry-run`
on it exit with a documented code, print no traceback and change nothing at DigitalOcean or in
Vault (docs/exit-codes.md, SECURITY.md "Input is bounded").

The files are YAML rendered from arbitrary nested data (unicode and control characters, numbers,
booleans, nulls, dates, binary) that mixes fragments of the schema (`components/config.py`) with
wrong types, unknown fields, namespace typos, random top-level shapes and shared values (which the
dumper writes as anchors and aliases), then sometimes spliced with YAML syntax or cut short; raw
random text and bytes, and hand-written alias bombs, self references and merge keys as well.

The five bugs these properties found (field names of mixed types, unknown field names echoed whole
and with their line breaks, scalars PyYAML cannot construct, a message listing every problem, a key
with an empty field dropped without a word) are fixed; the properties at the end, once their strict
xfails, stay as regression properties, each generating the one region of input that showed its bug.
The general properties skip nothing.

A file that loads also validates against docs/stack-file.schema.json, and a refused file's message
is exactly its structured `problems` (the first 20 listed, the rest counted).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import hvac
import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev requirements
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from components import cli
from components.config import (
    ADOPT_FIELDS,
    AUDIT_FIELDS,
    DEFAULT_FIELDS,
    DO_FIELDS,
    KEY_FIELDS,
    NAMESPACE,
    VAULT_FIELDS,
    StackSettings,
    load_stack_file,
)
from components.errors import ConfigurationError
from components.terminal import has_controls
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.conftest import VAULT_ENV_VARS
from tests.integration.rotation_env import manage

# -- settings profiles (never global): deterministic, so CI on a fresh machine cannot flake ---------
# Examples share a function's tmp_path: each one writes the same file name afresh.
SHARED_TMP = [HealthCheck.function_scoped_fixture]
PARSING = settings(
    max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=SHARED_TMP
)
# A regression property explores the one region of input where a bug was.
REGRESSIONS = settings(
    max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=SHARED_TMP
)
SANDBOX = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    # One sandbox and one OpenBao serve every example; each example compares before with after.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

EXIT_CODES = {0, 1, 2, 3, 4}
MAX_LINE = 500  # the longest problem line: a field path, a 60-character value and the fix
MAX_MESSAGE = 4000
PREFIX = "gradient-keys/property-stacks"
GRADIENT_KEYS_ENV_VARS = (
    "GRADIENT_KEYS_ALLOW_INSECURE_HTTP",
    "GRADIENT_KEYS_TRUSTED_HOSTS",
    "GRADIENT_KEYS_SANDBOX_DIR",
    "GRADIENT_KEYS_SANDBOX_TOKEN",
    "GRADIENT_KEYS_SANDBOX_READ_ONLY_TOKEN",
    "GRADIENT_KEYS_SANDBOX_ADMIN_TOKEN",
)
# What the sandbox holds before every example: two managed keys (three DigitalOcean keys, two
# Vault paths with ledgers), a key nobody declared, and a Vault path nobody declared.
SEEDED_KEYS: list[dict[str, Any]] = [
    {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"},
    {"name": "search", "vault_path": "apps/search", "strategy": "in-place"},
]


# -- what a stack file can hold ------------------------------------------------------------------------
CONTROLS = "\x00\x01\x07\x08\t\x0b\x0c\r\x1b\x7f\x85\x9b\u061c\u200e\u202e\u2028\u2066\u2069\ufeff"
SCHEMA_WORDS = [
    *sorted(KEY_FIELDS | VAULT_FIELDS | DEFAULT_FIELDS | DO_FIELDS | AUDIT_FIELDS | ADOPT_FIELDS),
    "secure",
    "config",
]
WORDS = [
    "",
    " ",
    "~",
    "null",
    "yes",
    "0x1f",
    "1e9",
    "never",
    "30d",
    "0d",
    "1m",
    "7d",
    "2w",
    "9999999d",
    "dual-slot",
    "in-place",
    "destroy",
    "soft-delete",
    "keep",
    "secret",
    "kv",
    "token",
    "approle",
    "jwt",
    "chatbot",
    "search",
    "ghost",
    "chatbot-slot-a",
    "stray-key",
    "apps/chatbot",
    "apps/search",
    "apps/orphan",
    "apps/ghost",
    "../x",
    "a//b",
    "/abs",
    "_gradient-keys/x",
    PREFIX,
    "https://api.digitalocean.com",
    "http://127.0.0.1:1",
    "http://user:pass@127.0.0.1",
    "https://evil.example",
    "x" * 130,
]
texts = st.one_of(
    st.text(max_size=16),
    st.text(alphabet=st.sampled_from([*CONTROLS, *"ab -_/:."]), max_size=12),
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: w + "\x1b[2J"),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    texts,
    st.dates(),
    st.datetimes(),
    st.binary(max_size=8),
)
# Mapping keys here are text without a line break and short: longer or multi-line field names, and
# keys of mixed types, are the regions of two fixed bugs, generated by their regression properties below.
field_names = st.one_of(
    st.sampled_from(SCHEMA_WORDS),
    st.text(max_size=20).filter(lambda s: "\n" not in s),
)
garbage = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(field_names, inner, max_size=4),
    max_leaves=10,
)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The documented kind of value mostly, anything else sometimes."""
    return st.one_of(good, good, garbage, st.just({"secure": "AAABAKx0"}))


def section(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A settings mapping: any subset of its fields, sometimes with unknown ones."""
    known = st.fixed_dictionaries({}, optional={name: mostly(value) for name, value in fields.items()})
    extra = st.dictionaries(field_names, garbage, max_size=2)
    return st.one_of(
        known,
        known,
        st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]}),
        garbage,
    )


names = st.sampled_from(["chatbot", "search", "ghost", "stray-key"]) | texts
paths = st.sampled_from(["apps/chatbot", "apps/search", "apps/ghost", "apps/orphan"]) | texts
durations = st.sampled_from(["7d", "30d", "1m", "12h", "2w", "never", "0d", "30x"]) | texts
strategies = st.sampled_from(["dual-slot", "in-place", "dual_slot"])
delete_modes = st.sampled_from(["soft-delete", "destroy", "keep", "delete"])
adopts = st.one_of(
    st.fixed_dictionaries({"uuid": texts}),
    st.fixed_dictionaries({"name": names}),
    st.fixed_dictionaries({"uuids": st.lists(texts, max_size=3)}),
    st.fixed_dictionaries({"names": st.lists(names, max_size=3)}),
    section({field: texts for field in ADOPT_FIELDS}),
)
key_specs = section(
    {
        "name": names,
        "vault_path": paths,
        "strategy": strategies,
        "rotate_every": durations,
        "rotation_token": st.sampled_from(["t1", "t2", "2026-11-25"]) | texts,
        "adopt": adopts,
        "on_delete": delete_modes,
        "consumer_pickup": durations,
    }
)
vault_sections = section(
    {
        "mount": st.sampled_from(["secret", "kv"]) | texts,
        "path_prefix": st.sampled_from([PREFIX, f"{PREFIX}/sub", NAMESPACE]) | texts,
        "auth": st.sampled_from(["token", "approle", "jwt", "ldap"]),
        "role": texts,
        "auth_mount": texts,
        "namespace": texts,
        "addr": st.sampled_from(["http://127.0.0.1:1", "https://vault.example", "ftp://x"]) | texts,
    }
)
SECTIONS: dict[str, st.SearchStrategy[Any]] = {
    "vault": vault_sections,
    "defaults": section(
        {
            "rotate_every": durations,
            "strategy": strategies,
            "on_delete": delete_modes,
            "consumer_pickup": durations,
        }
    ),
    "keys": st.one_of(st.lists(key_specs, max_size=4), st.lists(key_specs, max_size=4), garbage),
    "digitalocean": section(
        {
            "api_url": st.sampled_from(["https://api.digitalocean.com", "https://evil.example"]) | texts,
            "inference_url": st.sampled_from(["https://inference.do-ai.run", "http://127.0.0.1:9"]) | texts,
        }
    ),
    "audit": section({"ignore": st.lists(names, max_size=3), "scope_prefix": texts}),
}
TYPOS = [
    "gradient-key",
    "gradient_keys",
    "Gradient-Keys",
    "gradeint-keys",
    "gradientkeys",
    "gradient-keys ",
    "gradient",
]
OTHER_KEYS = ["aws:region", "pulumi:tags", "encryptionsalt", "gradient-keys", "gradient-keys:"]


@st.composite
def config_maps(draw: st.DrawFn) -> dict[str, Any]:
    """A stack's `config:` mapping: our settings, mostly well-placed, plus typos and strangers."""
    config: dict[str, Any] = {}
    if draw(st.integers(0, 9)) > 0:  # declaring keys is required; leave it out once in ten
        config[f"{NAMESPACE}:keys"] = draw(SECTIONS["keys"])
    for name in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=4, unique=True)):
        config[f"{NAMESPACE}:{name}"] = draw(SECTIONS[name])
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            key = f"{draw(st.sampled_from(TYPOS))}:{draw(st.sampled_from(sorted(SECTIONS)))}"
        elif kind == 1:
            key = draw(st.sampled_from(sorted(SECTIONS) + OTHER_KEYS))
        elif kind == 2:
            key = f"{NAMESPACE}:{draw(field_names)}"
        else:
            key = draw(field_names)
        config[key] = draw(st.one_of(*SECTIONS.values(), garbage))
    if draw(st.integers(0, 4)) == 0 and config:
        # Share one value between two places: the dumper writes it as an anchor and an alias.
        shared = config[draw(st.sampled_from(sorted(config)))]
        config[f"{NAMESPACE}:{draw(st.sampled_from(sorted(SECTIONS)))}"] = shared
    specs = config.get(f"{NAMESPACE}:keys")
    if isinstance(specs, list) and specs and draw(st.booleans()):
        specs.append(specs[0])  # the same key twice, by alias
    return config


# A valid stack (what the sandbox holds, and some of what it does not), then a few mutations.
key_names = st.sampled_from(["chatbot", "search", "ghost", "stray-key"]) | st.text(
    "abcz-", min_size=1, max_size=8
)
valid_keys = st.lists(
    st.fixed_dictionaries(
        {"name": key_names, "vault_path": key_names.map(lambda name: f"apps/{name}")},
        optional={
            "strategy": strategies.filter(lambda s: s != "dual_slot"),
            "rotate_every": st.sampled_from(["7d", "30d", "1m", "12h", "2w", "never"]),
            "rotation_token": st.sampled_from(["t1", "t2", "v-2026-11-25"]),
            "on_delete": delete_modes.filter(lambda m: m != "delete"),
        },
    ),
    max_size=4,
    unique_by=(lambda spec: spec["name"], lambda spec: spec["vault_path"]),
)
valid_configs = st.fixed_dictionaries(
    {
        f"{NAMESPACE}:keys": valid_keys,
        f"{NAMESPACE}:vault": st.fixed_dictionaries(
            {"path_prefix": st.sampled_from([PREFIX, PREFIX, f"{PREFIX}/sub", NAMESPACE])},
            optional={"mount": st.sampled_from(["secret", "kv"])},
        ),
    },
    optional={
        f"{NAMESPACE}:defaults": st.fixed_dictionaries(
            {},
            optional={
                "rotate_every": st.sampled_from(["7d", "1m", "never"]),
                "strategy": st.sampled_from(["dual-slot", "in-place"]),
                "on_delete": st.sampled_from(["soft-delete", "destroy", "keep"]),
            },
        ),
        f"{NAMESPACE}:audit": st.fixed_dictionaries(
            {}, optional={"ignore": st.lists(key_names, max_size=2), "scope_prefix": key_names}
        ),
        f"{NAMESPACE}:digitalocean": st.fixed_dictionaries(
            {}, optional={"api_url": st.just("https://api.digitalocean.com")}
        ),
        "aws:region": st.just("nyc3"),
    },
)


def places_in(value: Any, found: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a document, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((value, key))
            places_in(item, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            places_in(item, found)
    return found


def holds(value: Any, target: Any) -> bool:
    """Whether `target` (by identity) is `value` or inside it: sharing it there would make a cycle."""
    if value is target:
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(holds(item, target) for item in items)


# One mistake at a place in the document: (draw, every place, the container, its key or index). The
# ones that add, drop or rename a field apply to a mapping only; elsewhere they leave it as it was.
Mistake = Callable[[st.DrawFn, list[tuple[Any, Any]], Any, Any], None]


def replace_value(draw: st.DrawFn, places: list[tuple[Any, Any]], container: Any, key: Any) -> None:
    container[key] = draw(garbage)


def replace_with_word(draw: st.DrawFn, places: list[tuple[Any, Any]], container: Any, key: Any) -> None:
    container[key] = draw(texts)


def wrap_value(draw: st.DrawFn, places: list[tuple[Any, Any]], container: Any, key: Any) -> None:
    container[key] = draw(st.sampled_from([[container[key]], {"secure": container[key]}]))


def share_value(draw: st.DrawFn, places: list[tuple[Any, Any]], container: Any, key: Any) -> None:
    other, other_key = draw(st.sampled_from(places))
    if not holds(other[other_key], container):
        container[key] = other[other_key]


def drop_field(draw: st.DrawFn, places: list[tuple[Any, Any]], container: Any, key: Any) -> None:
    if isinstance(container, dict):
        del container[key]


def add_field(draw: st.DrawFn, places: list[tuple[Any, Any]], container: Any, key: Any) -> None:
    if isinstance(container, dict):
        container[draw(field_names)] = draw(garbage)


def rename_field(draw: st.DrawFn, places: list[tuple[Any, Any]], container: Any, key: Any) -> None:
    if isinstance(container, dict) and isinstance(key, str):
        _namespace, colon, rest = key.partition(":")
        typo = f"{draw(st.sampled_from(TYPOS))}:{rest}" if colon else draw(field_names)
        container[typo] = container.pop(key)


MISTAKES: dict[str, Mistake] = {
    "replace": replace_value,
    "word": replace_with_word,
    "drop": drop_field,
    "wrap": wrap_value,
    "add": add_field,
    "rename": rename_field,
    "share": share_value,
}


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid stack with up to three mistakes: a value replaced, removed or wrapped, a field
    added or renamed (to a typo, a near-namespace, a `secure:` value), a shared value."""
    document: dict[str, Any] = {"config": draw(valid_configs)}
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        places = places_in(document["config"], [])
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        action = draw(
            st.sampled_from(["replace", "replace", "word", "drop", "wrap", "add", "rename", "share"])
        )
        MISTAKES[action](draw, places, container, key)
    return document


documents = st.one_of(
    mutated(),
    mutated(),
    mutated(),
    st.fixed_dictionaries({"config": config_maps()}),
    st.fixed_dictionaries(
        {"config": config_maps()},
        optional={"encryptionsalt": texts, "secretsprovider": texts, "environment": garbage},
    ),
    st.fixed_dictionaries({"config": garbage}),
    garbage,
)
YAML_SYNTAX = [
    "\n",
    "  ",
    "- ",
    ": ",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "#",
    "&a ",
    "*a",
    "*undefined",
    "<<: *a\n",
    "'",
    '"',
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "!!python/object/apply:os.system ['true']",
    "!!binary aGk=",
    "!!set {a}",
    "!!omap [a: 1]",
    "!!str ",
    "!local ",
    "\t",
    "\x00",
    "\ufeff",
    "\x1b[2J",
]
fragments = st.sampled_from(YAML_SYNTAX) | st.text(max_size=6)


@st.composite
def rendered(draw: st.DrawFn, source: st.SearchStrategy[Any] = documents) -> bytes:
    """A document written as YAML in one of the dumper's styles, sometimes spliced or cut short."""
    text = yaml.safe_dump(
        draw(source),
        default_flow_style=draw(st.sampled_from([False, True, None])),
        allow_unicode=draw(st.booleans()),
        sort_keys=False,
        width=draw(st.sampled_from([80, 24, 1 << 20])),
    )
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(fragments) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(0, 8)) :]
    return text.encode("utf-8")


@st.composite
def alias_games(draw: st.DrawFn) -> bytes:
    """Anchors and aliases on purpose: a small bomb, a self reference, merge keys, undefined ones."""
    levels, width = draw(st.integers(1, 7)), draw(st.integers(1, 9))
    lines = ["config:", '  gradient-keys:keys: &a0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for level in range(1, levels):
        items = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"  gradient-keys:l{level}: &a{level} [{items}]")
    bomb = "\n".join(lines) + f"\n  gradient-keys:vault: *a{levels - 1}\n"
    spec = "{name: chatbot, vault_path: apps/chatbot}"
    return draw(
        st.sampled_from(
            [
                bomb,
                "config:\n  gradient-keys:keys: &k [*k]\n",
                "config: &c {gradient-keys:keys: [], gradient-keys:vault: *c}\n",
                f"config:\n  gradient-keys:keys: [&s {spec}, *s]\n",
                "config:\n  gradient-keys:defaults: &d {strategy: in-place}\n"
                "  gradient-keys:keys: [{<<: *d, name: a, vault_path: apps/a}]\n",
                f"config:\n  gradient-keys:keys: [{{<<: [*x], name: a, vault_path: apps/a}}]\n"
                f"  x: &x {spec}\n",
                "config:\n  gradient-keys:keys: [{<<: 5}]\n",
                "config:\n  gradient-keys:keys: *nothing\n",
                "config:\n  gradient-keys:keys: &a &b []\n",
            ]
        )
    ).encode("utf-8")


stack_files = st.one_of(
    rendered(mutated()),
    rendered(mutated()),
    rendered(mutated()),
    rendered(),
    rendered(),
    alias_games(),
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    st.lists(fragments, max_size=30).map(lambda parts: "".join(parts).encode("utf-8")),
    st.binary(max_size=200),
)
# For the commands, more files that load, so that most runs reach DigitalOcean and Vault.
command_stack_files = st.one_of(rendered(mutated()), rendered(mutated()), stack_files)


# -- the properties of a message ---------------------------------------------------------------------
_HEADER = re.compile(r" has (\d+) problem\(s\); nothing was changed:$")
_MORE = re.compile(r"  \.\.\. and (\d+) more")


def problems_in(message: str) -> int:
    """Check the shape every stack-file error has; returns how many problems it has.

    One line, or a header saying N problems, lines `  - ...` (one a problem) and, when some are
    left off, a last line `  ... and M more` that makes up N: a value from the file cannot add a
    line (a forged problem) or a raw control; each line is bounded; and so is the whole message,
    however many problems the file has.
    """
    lines = message.split("\n")
    for line in lines:
        assert not has_controls(line), f"raw control in {line!r}"
        assert len(line) <= MAX_LINE, f"a line of {len(line)} characters: {line[:200]!r}..."
    header = _HEADER.search(lines[0])
    count = int(header.group(1)) if header else 1
    if header:
        listed = lines[1:]
        more = _MORE.fullmatch(listed[-1]) if listed else None
        left_off = int(more.group(1)) if more else 0
        if more:
            listed = listed[:-1]
        assert listed and all(line.startswith("  - ") for line in listed), message
        assert len(listed) + left_off == count, (
            f"says {count} problem(s) but lists {len(listed)} and {left_off} more"
        )
    else:
        assert len(lines) == 1, message
    assert len(message) < MAX_MESSAGE, f"{len(message)} characters for {count} problem(s)"
    return count


def check_problems(error: ConfigurationError) -> None:
    """The message is made of the error's structured problems: as many, and the same lines."""
    message = str(error)
    assert problems_in(message) == len(error.problems), message
    if error.source is None and len(error.problems) == 1:
        assert message == str(error.problems[0])
    else:
        assert message.split("\n")[1 : 1 + len(error.listed)] == [f"  - {p}" for p in error.listed]
    assert all(p.path for p in error.problems) or len(error.problems) == 1


STACK_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).resolve().parents[2] / "docs" / "stack-file.schema.json").read_text())
)


def as_json(value: Any) -> Any:
    """A loaded YAML value as JSON holds it: names and dates as text."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value if value is None or isinstance(value, (str, int, float)) else repr(value)


def check_loaded_file(data: bytes, loaded: StackSettings) -> None:
    """A file that loads declares each of its keys (none dropped) and validates against the schema."""
    document = as_json(yaml.safe_load(data))
    declared = document["config"].get(f"{NAMESPACE}:keys") or []
    assert len(loaded.keys) == len(declared), f"{len(declared)} key(s) declared, {len(loaded.keys)} loaded"
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in STACK_SCHEMA.iter_errors(document)]
    assert not errors, f"loads, but the schema refuses it: {errors[:3]}"


def write(directory: Path, data: bytes) -> Path:
    path = directory / "Pulumi.prop.yaml"
    path.write_bytes(data)
    return path


def outcome(path: Path) -> StackSettings | ConfigurationError:
    """Typed settings or a `ConfigurationError`; any other exception fails the example as itself."""
    try:
        return load_stack_file(path)
    except ConfigurationError as exc:
        return exc


def check_settings(loaded: StackSettings) -> None:
    """What loads is what the schema allows: printable names, paths and tokens."""
    for spec in loaded.keys:
        for text in (spec.name, spec.vault_path, spec.rotation_token or "", *spec.slot_names):
            assert not has_controls(text), spec
    assert not has_controls(loaded.vault.mount + loaded.vault.path_prefix)


# -- load_stack_file ---------------------------------------------------------------------------------
@PARSING
@given(data=stack_files)
@example(data=b"config:\n  gradient-keys:keys: [{name: chatbot, vault_path: apps/chatbot}]\n")
@example(data=b"")
@example(data=b"\xff\xfe")
@example(data=b"config:\n  gradient-keys:keys: " + b"[" * 3000 + b"]" * 3000 + b"\n")
def test_a_stack_file_loads_or_raises_one_bounded_configuration_error(tmp_path: Path, data: bytes) -> None:
    loaded = outcome(write(tmp_path, data))
    if isinstance(loaded, ConfigurationError):
        event(f"refused: {min(problems_in(str(loaded)), 3)}+ problem(s)")
        check_problems(loaded)
    else:
        event(f"loaded: {min(len(loaded.keys), 2)}+ key(s)")
        check_settings(loaded)
        check_loaded_file(data, loaded)


# -- the commands on any stack file, against a real sandbox and a real OpenBao -------------------------
@dataclass
class World:
    """The sandbox and OpenBao, seeded, with the environment a runner has; `snapshot` is
    everything a command could change: every DigitalOcean key (name, secret hash, regenerations)
    and every Vault path under the prefix (metadata with custom_metadata, each version's data)."""

    emulator: Emulator
    vault: hvac.Client
    prefix: str
    directory: Path

    def snapshot(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        keys = sorted((asdict(key) for key in self.emulator.store.list()), key=lambda key: str(key["uuid"]))
        return keys, vault_tree(self.vault, self.prefix)


def vault_paths(client: hvac.Client, folder: str) -> Iterator[str]:
    try:
        listing = client.secrets.kv.v2.list_secrets(path=folder, mount_point="secret")
    except hvac.exceptions.InvalidPath:
        return
    for name in listing["data"]["keys"]:
        if name.endswith("/"):
            yield from vault_paths(client, f"{folder}/{name[:-1]}")
        else:
            yield f"{folder}/{name}"


def vault_tree(client: hvac.Client, prefix: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in vault_paths(client, prefix):
        metadata = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]
        versions: dict[str, Any] = {}
        for version in metadata["versions"]:
            try:
                reply = client.secrets.kv.v2.read_secret_version(
                    path=path, version=int(version), mount_point="secret", raise_on_deleted_version=False
                )
            except hvac.exceptions.InvalidPath:
                versions[version] = None
            else:
                versions[version] = reply["data"]["data"]
        tree[path] = {"metadata": metadata, "versions": versions}
    return tree


def wipe(client: hvac.Client, prefix: str) -> None:
    for path in list(vault_paths(client, prefix)):
        client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")


def open_world(
    emulator: Emulator,
    openbao: OpenBaoServer,
    root_vault: hvac.Client,
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
) -> World:
    """Seed the sandbox and point this process's environment at it, with a policy-only Vault token."""
    wipe(root_vault, prefix)
    managed = manage(emulator, openbao, directory, SEEDED_KEYS, prefix)
    emulator.console_create("stray-key")
    orphan = f"{prefix}/apps/orphan"
    root_vault.secrets.kv.v2.create_or_update_secret(
        path=orphan, secret={"api_key": "sk-do-orphan"}, mount_point="secret"
    )
    root_vault.secrets.kv.v2.update_metadata(
        path=orphan, custom_metadata={"note": "written by hand"}, mount_point="secret"
    )
    for name in (*VAULT_ENV_VARS, *GRADIENT_KEYS_ENV_VARS):
        monkeypatch.delenv(name, raising=False)
    for name, value in managed.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRADIENT_KEYS_SANDBOX_DIR", str(directory / "no-sandbox"))
    monkeypatch.chdir(directory)
    return World(emulator, root_vault, prefix, directory)


@pytest.fixture
def world(
    emulator: Emulator,
    openbao: OpenBaoServer,
    root_vault: hvac.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    yield open_world(emulator, openbao, root_vault, tmp_path, monkeypatch, PREFIX)
    wipe(root_vault, PREFIX)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`gradient-keys ARGV` in this process: its exit code (argparse's SystemExit included),
    stdout and stderr. An exception escaping `main` is a traceback: it fails the example."""
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        # As the interpreter would exit: None is 0, a non-integer (a message) is 1.
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


COMMANDS = {
    "audit": ["audit"],
    "audit --verify-secrets --format json": ["audit", "--verify-secrets", "--format", "json"],
    "rotate --due --dry-run": ["rotate", "--due", "--dry-run"],
    "rotate --all --dry-run --format json": ["rotate", "--all", "--dry-run", "--format", "json"],
}


@SANDBOX
@given(data=command_stack_files, command=st.sampled_from(sorted(COMMANDS)))
@example(
    data=b"config:\n  gradient-keys:vault: {path_prefix: " + PREFIX.encode() + b"}\n"
    b"  gradient-keys:keys:\n    - {name: chatbot, vault_path: apps/chatbot, rotation_token: t1}\n",
    command="rotate --due --dry-run",
)
@example(
    data=b"config:\n  gradient-keys:vault: {path_prefix: " + PREFIX.encode() + b"}\n"
    b"  gradient-keys:keys: [{name: search, vault_path: apps/search, strategy: in-place}]\n",
    command="audit",
)
def test_audit_and_dry_runs_on_any_stack_file_exit_documented_and_change_nothing(
    world: World, capsys: pytest.CaptureFixture[str], data: bytes, command: str
) -> None:
    """Stronger than "a usage error changes nothing": `audit` and `--dry-run` change nothing
    whatever their exit code (their documented contract), so every run is compared."""
    path = write(world.directory, data)
    loads = not isinstance(outcome(path), ConfigurationError)
    before = world.snapshot()
    code, out, err = run([*COMMANDS[command], "--config", str(path)], capsys)
    event(f"{'loads' if loads else 'refused'}, exit {code}")
    assert code in EXIT_CODES, (code, err)
    assert "Traceback" not in out + err, err
    if not loads:
        assert code == 2 and "error: " in err, (code, err)
    assert world.snapshot() == before, f"exit {code}: {err}"


# -- regressions: each property generates the one region of input where a bug was ------------------------
def refused(directory: Path, data: bytes) -> str:
    """The file is refused with one well-formed `ConfigurationError`; its message."""
    loaded = outcome(write(directory, data))
    assert isinstance(loaded, ConfigurationError), f"loaded: {loaded}"
    check_problems(loaded)
    return str(loaded)


SECTION_NAMES = ["vault", "defaults", "digitalocean", "audit", "keys[0]", "keys[0].adopt"]


def placed(section_name: str, body: str) -> bytes:
    """`body` (a flow mapping's entries) as the named settings mapping of an otherwise valid stack."""
    if section_name == "keys[0]":
        line = f"  gradient-keys:keys: [{{name: chatbot, vault_path: apps/chatbot, {body}}}]\n"
    elif section_name == "keys[0].adopt":
        line = f"  gradient-keys:keys: [{{name: chatbot, vault_path: apps/chatbot, adopt: {{{body}}}}}]\n"
    else:
        line = f"  gradient-keys:keys: []\n  gradient-keys:{section_name}: {{{body}}}\n"
    return ("config:\n" + line).encode("utf-8")


non_text_keys = st.sampled_from(
    ["1", "-2", "1.5", ".nan", "true", "null", "~", "2026-11-25", "!!binary aGk="]
)


@REGRESSIONS
@given(section_name=st.sampled_from(SECTION_NAMES), other=non_text_keys, word=st.sampled_from(["b", "zz"]))
def test_field_names_of_mixed_types_are_a_configuration_error(
    tmp_path: Path, section_name: str, other: str, word: str
) -> None:
    """Was a bug: a settings mapping whose unknown field names mix types (`gradient-keys:vault:
    {1: a, b: c}`) raised TypeError from `sorted` in config._object."""
    refused(tmp_path, placed(section_name, f"{other}: a, {word}: c"))


@REGRESSIONS
@given(
    place=st.sampled_from([*SECTION_NAMES, "setting", "typo"]),
    name=st.one_of(
        st.tuples(st.text("abc", max_size=5), st.text("xyz", max_size=5)).map(
            lambda pair: f"{pair[0]}\\n  - keys[9].name: forged{pair[1]}"
        ),
        st.integers(120, 3000).map(lambda n: "n" * n),
    ),
)
def test_an_unknown_field_name_is_shown_bounded_on_one_line(tmp_path: Path, place: str, name: str) -> None:
    """Was a bug: unknown field and setting names were echoed whole and with their line breaks
    (config._object, parse_settings, the typo fix in stack_values): a 5000-character name made a
    5000-character message line, and a name holding '\\n  - ' forged a problem line."""
    quoted = f'"{name}"'
    if place == "setting":
        data = f"config:\n  gradient-keys:keys: []\n  ? {quoted[:1]}gradient-keys:{quoted[1:]}\n  : 1\n"
    elif place == "typo":
        data = f"config:\n  gradient-keys:keys: []\n  ? {quoted[:1]}gradient-key:{quoted[1:]}\n  : 1\n"
    else:
        data = placed(place, f"? {quoted} : 1").decode()
    refused(tmp_path, data.encode("utf-8"))


@REGRESSIONS
@given(
    template=st.sampled_from(
        [
            "config:\n  gradient-keys:keys: [{name: chatbot, vault_path: apps/chatbot, rotation_token: @}]\n",
            "config:\n  gradient-keys:keys: [{name: @, vault_path: apps/chatbot}]\n",
            "config:\n  gradient-keys:keys: []\n  gradient-keys:defaults: {rotate_every: @}\n",
            "config:\n  gradient-keys:keys: []\n  aws:region: @\n",
        ]
    ),
    scalar=st.sampled_from(
        [
            "2026-02-30",
            "2026-01-01 25:00:00",
            "!!int x",
            "!!int ''",
            "!!float .",
            "!!bool maybe",
            "!!timestamp soon",
            "!!timestamp 2026-13-45",
        ]
    ),
)
def test_a_scalar_yaml_cannot_construct_is_a_configuration_error(
    tmp_path: Path, template: str, scalar: str
) -> None:
    """Was a bug: a scalar PyYAML resolves but cannot construct (an impossible date `2026-02-30`,
    `2026-01-01 25:00:00`, `!!int x`, `!!bool maybe`, `!!timestamp soon`, `!!int ''`) raised
    ValueError/AttributeError/KeyError/IndexError out of load_stack_file (and a traceback out of
    every command)."""
    refused(tmp_path, template.replace("@", scalar).encode())


@REGRESSIONS
@given(count=st.integers(60, 400), entry=st.sampled_from(["1", "{}", "x", "[]", "{name: 1}"]))
def test_a_message_stays_bounded_however_many_problems(tmp_path: Path, count: int, entry: str) -> None:
    """Was a bug: every problem was listed with no cap, so the message grew with the file: a 300 KB
    `gradient-keys:keys: [1, 1, ...]` (99,990 entries, under MAX_VALUES) printed a 12 MB message."""
    data = ("config:\n  gradient-keys:keys: [" + ", ".join([entry] * count) + "]\n").encode()
    message = refused(tmp_path, data)
    assert len(message) < MAX_MESSAGE, f"{len(message)} characters"


@REGRESSIONS
@given(
    field=st.sampled_from(sorted(KEY_FIELDS)),
    empty=st.sampled_from(["", "~", "null", "Null", "NULL"]),
    where=st.sampled_from(["key", "defaults"]),
)
def test_an_empty_field_never_drops_a_key(tmp_path: Path, field: str, empty: str, where: str) -> None:
    """Was a bug: a key with a field left empty (`name:`, `strategy: ~`, or `strategy:` under
    `defaults`) was dropped without a problem: the stack loaded with fewer keys than it declares,
    and `pulumi up` would have deleted the missing key's DigitalOcean keys."""
    entry = {"name": "chatbot", "vault_path": "apps/chatbot"}
    body = ", ".join(f"{k}: {v}" for k, v in entry.items() if not (where == "key" and k == field))
    key = f"{{{body}, {field}: {empty}}}" if where == "key" else f"{{{body}}}"
    defaults = f"  {NAMESPACE}:defaults: {{{field}: {empty}}}\n" if where == "defaults" else ""
    data = f"config:\n  {NAMESPACE}:keys: [{key}]\n{defaults}".encode()
    loaded = outcome(write(tmp_path, data))
    if isinstance(loaded, ConfigurationError):
        check_problems(loaded)
        assert field in ("name", "vault_path") or where == "defaults", str(loaded)
    else:
        check_loaded_file(data, loaded)
