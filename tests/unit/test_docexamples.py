"""The doc's example extractor and its tolerant reading of sample output (tests/docexamples.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests import docexamples


def test_the_doc_holds_17_curl_4_openai_and_4_gradient_examples() -> None:
    found = docexamples.examples()
    assert Counter(e.kind for e in found) == {"curl": 17, "openai": 4, "gradient": 4}
    assert len({e.id for e in found}) == len(found)


def test_a_python_example_stops_before_the_prose_and_the_next_example() -> None:
    text = (
        "from openai import OpenAI\n\nclient = 1\nprint(client)\n"
        "from gradient import Gradient\nx = 2\n\nUse Reasoning\n"
    )
    found = docexamples.examples(text)
    assert [(e.kind, e.code) for e in found] == [
        ("openai", "from openai import OpenAI\n\nclient = 1\nprint(client)"),
        ("gradient", "from gradient import Gradient\nx = 2"),
    ]


def test_a_curl_example_runs_through_its_quoted_body_and_takes_the_sample_after_it() -> None:
    text = 'curl -X POST https://h/v1/x \\\n  -d \'{\n  "model": "m"\n}\'\n\nIt returns:\n\n{"a": 1}\n'
    (example,) = docexamples.examples(text)
    assert (example.id, example.method, example.path, example.model) == (
        "curl POST /v1/x m",
        "POST",
        "/v1/x",
        "m",
    )
    assert example.sample == '{"a": 1}'


@pytest.mark.parametrize(
    ("sample", "paths", "anchored"),
    [
        pytest.param('{"a": {"b": [{"c": null}]}}', {"a", "a.b", "a.b[].c"}, True, id="complete"),
        pytest.param('...\n{"id": "x"},\n{"id": "y"},\n...', {"id"}, False, id="list-without-brackets"),
        pytest.param(
            '"status": "QUEUED",\n"error": null', {"status", "error"}, False, id="keys-without-object"
        ),
        pytest.param('{"data": [{"b64": "iVBOR...\n}]}', {"data", "data[].b64"}, True, id="cut-string"),
        pytest.param(
            '{\n...\n"images": [{"url": "u"}\n...\n},\n"status": "COMPLETED"\n}',
            {"images", "images[].url", "status"},
            False,
            id="elided-opener",
        ),
    ],
)
def test_sample_shapes(sample: str, paths: set[str], anchored: bool) -> None:
    shape = docexamples.shape_of(sample)
    assert (shape.paths, shape.anchored) == (paths, anchored)


def test_shape_problems_name_missing_paths_and_differing_values() -> None:
    shape = docexamples.shape_of('{"object": "list", "data": [{"id": "a"}]}')
    assert (
        docexamples.shape_problems(shape, {"object": "list", "data": [{"id": "a"}]}, frozenset({"object"}))
        == []
    )
    problems = docexamples.shape_problems(shape, {"object": "page", "items": []}, frozenset({"object"}))
    assert problems == [
        "'data': documented, absent at the root in the answer",
        "'data[].id': documented, absent at the root in the answer",
        "'object': the doc shows 'list', the answer has ['page']",
    ]
    fragment = docexamples.shape_of('"id": "a"')
    assert docexamples.shape_problems(fragment, {"data": [{"id": "a"}]}) == []
