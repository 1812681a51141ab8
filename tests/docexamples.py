"""The code examples of DigitalOcean's serverless inference doc, and the shapes of its sample output.

`spec/do-docs/serverless-inference.txt` is the page as plain text: no code fences. Its blocks are
recognised by their first line:

- a cURL example starts with `curl ` and runs while a line ends with `\\` or a single-quoted
  argument (the `-d '...'` body) is still open;
- a Python example starts with `from openai import` or `from gradient import` and takes each
  following paragraph that still compiles with it (the prose after it does not);
- a sample (output, or a request-body fragment) starts with `{`, `[`, `"` or `...` (indentation
  allowed) and runs to the next blank line or example.

A sample right after a cURL example is that example's documented output. Samples are often not
JSON (`...` elisions, a truncated base64 string, keys without their object), so `shape_of` reads
them tolerantly into key paths (`choices[].message.content`) and leaf values, and `shape_problems`
checks an answer against them.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DOC_PATH",
    "DOC_API_HOST",
    "DOC_INFERENCE_HOST",
    "Block",
    "Example",
    "Shape",
    "blocks",
    "examples",
    "shape_of",
    "shape_problems",
]

DOC_PATH = Path(__file__).resolve().parents[1] / "spec" / "do-docs" / "serverless-inference.txt"
DOC_INFERENCE_HOST = "https://inference.do-ai.run"
DOC_API_HOST = "https://api.digitalocean.com"

ExampleKind = Literal["curl", "openai", "gradient"]
Kind = ExampleKind | Literal["sample"]
_PYTHON_STARTS: dict[str, ExampleKind] = {"from openai import": "openai", "from gradient import": "gradient"}
_SAMPLE_START = re.compile(r"\s*(\{|\[|\"|\.\.\.)")


@dataclass(frozen=True)
class Block:
    kind: Kind
    text: str
    line: int  # 1-based line of the doc where the block starts


@dataclass(frozen=True)
class Example:
    """One runnable example: its id (readable, unique), its code, and the sample shown after it."""

    id: str
    kind: ExampleKind
    code: str
    line: int
    sample: str | None = None

    @property
    def method(self) -> str:
        match = re.search(r"-X\s+(\w+)", self.code)
        return match.group(1) if match else "GET"

    @property
    def url(self) -> str:
        match = re.search(r"https?://[^\s\"']+", self.code)
        return match.group(0) if match else ""

    @property
    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.url)

    @property
    def body(self) -> Any:
        """The JSON of a cURL example's `-d '...'`, or None."""
        match = re.search(r"-d\s+'(.*?)'", self.code, re.DOTALL)
        return json.loads(match.group(1)) if match else None

    @property
    def model(self) -> str | None:
        body = self.body
        if isinstance(body, dict):
            value = body.get("model", body.get("model_id"))
            return value if isinstance(value, str) else None
        match = re.search(r"model=\"([^\"]+)\"", self.code)
        return match.group(1) if match else None

    @property
    def call(self) -> str:
        """A Python example's SDK call, e.g. `chat.completions.create`."""
        match = re.search(r"client\.([\w.]+)\(", self.code)
        return match.group(1) if match else ""


def _python_kind(line: str) -> ExampleKind | None:
    for start, kind in _PYTHON_STARTS.items():
        if line.startswith(start):
            return kind
    return None


def _starts_example(line: str) -> bool:
    return line.startswith("curl ") or _python_kind(line) is not None


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _curl_end(lines: list[str], start: int) -> int:
    """The index after the last line of the cURL example starting at `start`."""
    i, quotes = start, 0
    while i < len(lines):
        quotes += lines[i].count("'")
        continues = lines[i].rstrip().endswith("\\") or quotes % 2 == 1
        i += 1
        if not continues:
            break
    return i


def _python_end(lines: list[str], start: int) -> int:
    """The index after the last line of the Python example starting at `start`: it grows a
    paragraph at a time while the code still compiles, and stops at the next example's start."""
    end = start + 1
    while end < len(lines) and lines[end].strip() and _python_kind(lines[end]) is None:
        end += 1
    while end < len(lines):
        following = end
        while following < len(lines) and not lines[following].strip():
            following += 1
        stop = following
        while stop < len(lines) and lines[stop].strip() and _python_kind(lines[stop]) is None:
            stop += 1
        if following == len(lines) or _python_kind(lines[following]) is not None:
            break
        if not _compiles("\n".join(lines[start:stop])):
            break
        end = stop
    return end


def blocks(text: str) -> Iterator[Block]:
    """Every cURL example, Python example and sample of the doc, in order."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        python = _python_kind(line)
        if line.startswith("curl "):
            end: int = _curl_end(lines, i)
            yield Block("curl", "\n".join(lines[i:end]), i + 1)
        elif python is not None:
            end = _python_end(lines, i)
            yield Block(python, "\n".join(lines[i:end]).rstrip(), i + 1)
        elif _SAMPLE_START.match(line):
            end = i + 1
            while end < len(lines) and lines[end].strip() and not _starts_example(lines[end]):
                end += 1  # the page often runs a sample straight into the next example
            yield Block("sample", "\n".join(lines[i:end]), i + 1)
        else:
            end = i + 1
        i = end


def _example_id(kind: ExampleKind, code: str, line: int) -> str:
    example = Example("", kind, code, line)
    if kind == "curl":
        words = [example.method, example.path]
        if example.model:
            words.append(example.model)
        if "|" in code.rsplit("'", maxsplit=1)[-1]:
            words.append("piped")
        return "curl " + " ".join(words)
    return f"{kind} {example.call}"


def examples(text: str | None = None) -> list[Example]:
    """The doc's runnable examples, each with the sample shown right after it (cURL only)."""
    source = DOC_PATH.read_text(encoding="utf-8") if text is None else text
    found: list[Example] = []
    seen: dict[str, int] = {}
    for block in blocks(source):
        if block.kind == "sample":
            last = found[-1] if found else None
            if last is not None and last.kind == "curl" and last.sample is None:
                found[-1] = Example(last.id, last.kind, last.code, last.line, block.text)
            continue
        base = _example_id(block.kind, block.text, block.line)
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base} #{seen[base]}"
        found.append(Example(name, block.kind, block.text, block.line))
    return found


def samples(text: str | None = None) -> list[Block]:
    """Every sample block of the doc (outputs and request-body fragments alike)."""
    source = DOC_PATH.read_text(encoding="utf-8") if text is None else text
    return [b for b in blocks(source) if b.kind == "sample"]


# -- sample shapes --------------------------------------------------------------------------------
@dataclass
class Shape:
    """What a sample shows: key paths (`a.b[].c`), leaf values by path, and whether the paths start
    at the answer's root (a complete sample) or somewhere inside it (a fragment)."""

    paths: set[str] = field(default_factory=set)
    values: list[tuple[str, Any]] = field(default_factory=list)
    anchored: bool = True


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\\n]|\\.)*(?:"|$))   # a string, or one cut short at the line's end
      | (?P<punct>[{}\[\]:,])
      | (?P<ellipsis>\.\.\.|…)
      | (?P<literal>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)
    )""",
    re.VERBOSE | re.MULTILINE,
)


def _tokens(sample: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(sample):
        match = _TOKEN.match(sample, position)
        if match is None or match.end() == position:
            position += 1  # anything else (stray words) is skipped
            continue
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group(kind)


def _leaf(kind: str, raw: str) -> Any:
    if kind == "string":
        return json.loads(raw) if raw.endswith('"') and len(raw) > 1 else raw[1:]
    return json.loads(raw)


def shape_of(sample: str) -> Shape:  # noqa: C901 - one small tokenizer state machine
    """Key paths and leaf values of a sample, tolerating elisions and truncation."""
    shape = Shape(anchored=sample.lstrip().startswith(("{", "[")))
    stack: list[tuple[str, str]] = []  # (container "{" or "[", the path that leads to it)
    key: str | None = None  # the key just read, awaiting its value
    pending: str | None = None  # a string that may turn out to be a key

    def here() -> str:
        return stack[-1][1] if stack else ""

    def join(name: str) -> str:
        return f"{here()}.{name}" if here() else name

    for kind, raw in _tokens(sample):
        if kind == "string" and key is None and (not stack or stack[-1][0] == "{"):
            pending = raw
            continue
        if kind == "punct" and raw == ":" and pending is not None:
            key = _leaf("string", pending)
            shape.paths.add(join(key))
            pending = None
            continue
        pending = None
        if kind == "punct" and raw in "{[":
            # In a list: its elements' path; after a key: that key's; else (the top level, or after
            # an elision) the same level as here.
            path = here() + "[]" if stack and stack[-1][0] == "[" else join(key) if key else here()
            stack.append((raw, path))
        elif kind == "punct" and raw in "}]":
            opener = "{" if raw == "}" else "["
            while stack and stack[-1][0] != opener:
                stack.pop()  # a closer the sample elided
                shape.anchored = False
            if stack:
                stack.pop()
            else:
                shape.anchored = False  # closes something the sample never opened
        elif kind in ("string", "literal") and key is not None:
            shape.values.append((join(key), _leaf(kind, raw)))
        key = None
    if stack:
        shape.anchored = False
    return shape


def _answer_paths(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, value in node.items():
            path = f"{prefix}.{name}" if prefix else name
            yield path, value
            yield from _answer_paths(value, path)
    elif isinstance(node, list):
        for item in node:
            yield from _answer_paths(item, prefix + "[]")


def _suffix_of(path: str, candidate: str) -> bool:
    return candidate == path or candidate.endswith("." + path) or candidate.endswith("]." + path)


def shape_problems(
    shape: Shape, answer: Any, compare: frozenset[str] = frozenset(), overrides: dict[str, Any] | None = None
) -> list[str]:
    """What in `answer` differs from the sample: a documented key path it lacks, or (for the keys in
    `compare`, by last name) a documented value it never has at that path. `overrides` replaces a
    documented value by key name (e.g. `model`: the one the request named)."""
    problems: list[str] = []
    actual = list(_answer_paths(answer))
    # A sample shown inside a list (`{...}, {...}` without the brackets) has paths relative to an
    # element: `id` there is `data[].id` in the answer.
    for path in sorted(shape.paths):
        candidates = [p for p, _ in actual if (p == path if shape.anchored else _suffix_of(path, p))]
        if not candidates:
            where = "at the root" if shape.anchored else "anywhere"
            problems.append(f"{path!r}: documented, absent {where} in the answer")
    for path, documented in shape.values:
        name = path.rsplit(".", 1)[-1].removesuffix("[]")
        if name not in compare:
            continue
        expected = (overrides or {}).get(name, documented)
        values = [v for p, v in actual if (p == path if shape.anchored else _suffix_of(path, p))]
        if values and expected not in values:
            problems.append(f"{path!r}: the doc shows {expected!r}, the answer has {values!r}")
    return problems
