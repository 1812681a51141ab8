"""The sandbox's replies count what they received in English."""

from __future__ import annotations

from sandbox.inference.tokens import words


def test_one_word_is_singular_and_others_plural() -> None:
    assert [words(n) for n in (0, 1, 2)] == ["0 words", "1 word", "2 words"]
