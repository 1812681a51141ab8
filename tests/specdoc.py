"""An OpenAPI 3.0 document for the model-key endpoints, assembled in memory from the spec fragments.

`spec/do-openapi/` holds verbatim upstream fragments (see its README): one YAML file per operation,
whose `$ref`s point at other files by relative path plus a JSON pointer
(`./definitions.yml#/apiModelAPIKeyInfo`, `../../shared/headers.yml#/ratelimit-limit`). There is no
top-level document, so this module writes the small one the upstream `DigitalOcean-public.v2.yaml`
would contribute (paths, `bearer_auth`) and inlines every reference it reaches, following only what
is reached: `definitions.yml` also holds recursive schemas for unrelated endpoints.

Two documents: `build_current()` (create retired, 410) and `build_legacy()` (create as it was before
upstream PR #1182: 200 with `api_key_info` including `secret_key`).
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Sequence
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import unquote

import yaml

__all__ = [
    "AGENT_OPERATIONS",
    "build_agent_keys",
    "COLLECTION_PATH",
    "CURRENT_ROOT",
    "DO_API_URL",
    "ITEM_PATH",
    "LEGACY_ROOT",
    "OPERATIONS",
    "REGENERATE_PATH",
    "SPEC_DIR",
    "RefResolver",
    "SpecRefError",
    "build_current",
    "build_legacy",
]

SPEC_DIR = Path(__file__).resolve().parents[1] / "spec" / "do-openapi"
CURRENT_ROOT = SPEC_DIR / "specification"
LEGACY_ROOT = SPEC_DIR / "history" / "pre-retirement-2d2ec6c1f4cc" / "specification"
DO_API_URL = "https://api.digitalocean.com"

COLLECTION_PATH = "/v2/gen-ai/models/api_keys"
ITEM_PATH = COLLECTION_PATH + "/{api_key_uuid}"
REGENERATE_PATH = ITEM_PATH + "/regenerate"

GENAI_DIR = PurePosixPath("resources/gen-ai")
# (path, method, operation file): the path entries of upstream `DigitalOcean-public.v2.yaml`.
OPERATIONS: tuple[tuple[str, str, str], ...] = (
    (COLLECTION_PATH, "get", "genai_list_model_api_keys.yml"),
    (COLLECTION_PATH, "post", "genai_create_model_api_key.yml"),
    (ITEM_PATH, "put", "genai_update_model_api_key.yml"),
    (ITEM_PATH, "delete", "genai_delete_model_api_key.yml"),
    (REGENERATE_PATH, "put", "genai_regenerate_model_api_key.yml"),
)

AGENT_COLLECTION_PATH = "/v2/gen-ai/agents/{agent_uuid}/api_keys"
AGENT_ITEM_PATH = AGENT_COLLECTION_PATH + "/{api_key_uuid}"
AGENT_REGENERATE_PATH = AGENT_ITEM_PATH + "/regenerate"
# The agent API keys' path entries, as upstream `DigitalOcean-public.v2.yaml` lists them.
AGENT_OPERATIONS: tuple[tuple[str, str, str], ...] = (
    (AGENT_COLLECTION_PATH, "get", "genai_list_agent_api_keys.yml"),
    (AGENT_COLLECTION_PATH, "post", "genai_create_agent_api_key.yml"),
    (AGENT_ITEM_PATH, "put", "genai_update_agent_api_key.yml"),
    (AGENT_ITEM_PATH, "delete", "genai_delete_agent_api_key.yml"),
    (AGENT_REGENERATE_PATH, "put", "genai_regenerate_agent_api_key.yml"),
)

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class SpecRefError(ValueError):
    """A `$ref` that cannot be followed: missing file, bad pointer, escape from the root, or a cycle."""


# OpenAPI documents are JSON: an unquoted `2023-01-01T00:00:00Z` stays a string, not a datetime.
# libyaml's loader when present (8x faster on the 9,000-line definitions.yml), else pure Python.
_BASE_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LOADER = cast(
    "type[yaml.SafeLoader] | type[yaml.CSafeLoader]",
    type(
        "_JsonCompatibleLoader",
        (_BASE_LOADER,),
        {
            "yaml_implicit_resolvers": {
                first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
                for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
            }
        },
    ),
)


@cache
def _parse(path: Path) -> Any:
    """One fragment file, parsed once per process (callers get deep copies, never this object)."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_LOADER)  # noqa: S506 - a SafeLoader subclass


def _follow_pointer(document: Any, pointer: str, where: str) -> Any:
    """RFC 6901 JSON pointer (already percent-decoded), e.g. `/apiModelAPIKeyInfo`."""
    if pointer in ("", "/"):
        return document
    if not pointer.startswith("/"):
        raise SpecRefError(f"{where}: JSON pointer must start with '/'")
    node = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SpecRefError(f"{where}: no {token!r} at that point of the document")
    return node


class RefResolver:
    """Inlines `$ref`s across fragment files, relative to the file each `$ref` is written in.

    Files are named by their logical path under a specification root (`shared/headers.yml`), and
    looked up in `roots` in order: the first root holding the file wins. One root is the plain case;
    a history root followed by the current root overlays the few historical files on today's tree.
    A reference is followed only when reached; one that leads back to itself raises SpecRefError.
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        if not roots:
            raise ValueError("at least one specification root is needed")
        self.roots = tuple(roots)
        self._done: dict[tuple[PurePosixPath, str], Any] = {}

    def physical(self, logical: PurePosixPath) -> Path:
        for root in self.roots:
            candidate = root.joinpath(*logical.parts)
            if candidate.is_file():
                return candidate
        searched = ", ".join(str(r) for r in self.roots)
        raise SpecRefError(f"{logical} is in none of the specification roots ({searched})")

    def resolve_file(self, logical: str | PurePosixPath, pointer: str = "") -> Any:
        """The node at `pointer` in `logical`, with every reference below it inlined."""
        return self._target(PurePosixPath(logical), pointer, ())

    def _target(self, file: PurePosixPath, pointer: str, chain: tuple[tuple[PurePosixPath, str], ...]) -> Any:
        key = (file, pointer)
        if key in chain:
            loop = " -> ".join(f"{f}#{p}" for f, p in (*chain[chain.index(key) :], key))
            raise SpecRefError(f"$ref cycle: {loop}")
        if key not in self._done:
            node = _follow_pointer(_parse(self.physical(file)), pointer, f"{file}#{pointer}")
            self._done[key] = self._inline(node, file, (*chain, key))
        return copy.deepcopy(self._done[key])

    def _inline(self, node: Any, file: PurePosixPath, chain: tuple[tuple[PurePosixPath, str], ...]) -> Any:
        if isinstance(node, list):
            return [self._inline(item, file, chain) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if ref is None:
            return {key: self._inline(value, file, chain) for key, value in node.items()}
        if not isinstance(ref, str):
            raise SpecRefError(f"{file}: $ref must be a string, not {ref!r}")
        # OpenAPI 3.0 Reference Object: any sibling of `$ref` "SHALL be ignored".
        target_file, pointer = self._locate(ref, file)
        return self._target(target_file, pointer, chain)

    @staticmethod
    def _locate(ref: str, file: PurePosixPath) -> tuple[PurePosixPath, str]:
        relative, _, fragment = ref.partition("#")
        if not relative:
            return file, unquote(fragment)
        if "://" in relative or relative.startswith("/"):
            raise SpecRefError(f"{file}: only relative file references are supported, not {ref!r}")
        joined = posixpath.normpath(posixpath.join(str(file.parent), unquote(relative)))
        if joined == ".." or joined.startswith("../"):
            raise SpecRefError(f"{file}: {ref!r} points outside the specification root")
        return PurePosixPath(joined), unquote(fragment)


def _document(
    resolver: RefResolver,
    server_url: str,
    title: str,
    operations: tuple[tuple[str, str, str], ...] = OPERATIONS,
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method, filename in operations:
        paths.setdefault(path, {})[method] = resolver.resolve_file(GENAI_DIR / filename)
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": "2.0"},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            # As upstream DigitalOcean-public.v2.yaml declares it; the operations only name it.
            "securitySchemes": {"bearer_auth": {"type": "http", "scheme": "bearer"}},
        },
    }


def build_current(server_url: str = DO_API_URL) -> dict[str, Any]:
    """Today's spec: create is deprecated and answers 410 `gone`."""
    return _document(
        RefResolver([CURRENT_ROOT]), server_url, "DigitalOcean API: Gradient AI model access keys"
    )


def build_legacy(server_url: str = DO_API_URL) -> dict[str, Any]:
    """Today's spec with create as it was before its retirement (200 -> apiCreateModelAPIKeyOutput).

    history/ keeps only the old create operation and its cURL sample, while that file's `$ref`s
    (`./definitions.yml#/...`, `../../shared/...`) are relative to its own path, where upstream had
    the whole tree. Those refs are resolved against today's tree (history first, then current): the
    schemas they name (apiCreateModelAPIKeyInputPublic, apiCreateModelAPIKeyOutput, the error body,
    the ratelimit-* headers) are the ones the current spec still uses for the other operations, so
    the legacy create is checked against the same schema definitions as everything else.
    """
    return _document(
        RefResolver([LEGACY_ROOT, CURRENT_ROOT]),
        server_url,
        "DigitalOcean API: Gradient AI model access keys (create before its retirement)",
    )


def build_agent_keys(server_url: str = DO_API_URL) -> dict[str, Any]:
    """The agent API keys' operations (list, create, update, delete, regenerate), create live."""
    return _document(
        RefResolver([CURRENT_ROOT]),
        server_url,
        "DigitalOcean API: Gradient AI agent API keys",
        AGENT_OPERATIONS,
    )
