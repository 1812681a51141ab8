"""Hostile or mistaken stack files get one clear error naming the problem and the fix, bounded in
time and size, and never a traceback; nothing is read past the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import cli
from components.config import MAX_VALUES, load_stack_file, parse_settings
from components.errors import ConfigurationError
from components.terminal import escape_controls

VALID_KEYS = "  gradient-keys:keys:\n    - {name: chatbot, vault_path: apps/chatbot}\n"


def stack(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.hostile.yaml"
    path.write_text(text)
    return path


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The classic 'billion laughs': 81 aliases, about 400 bytes, 9**9 values once expanded."""
    lines = ["config:", '  gradient-keys:keys: &a0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for level in range(1, levels):
        items = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"  gradient-keys:l{level}: &a{level} [{items}]")
    lines.append(f"  gradient-keys:vault: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_anything_walks_it(tmp_path: Path) -> None:
    text = alias_bomb()
    assert len(text) < 1024
    with pytest.raises(ConfigurationError, match=rf"expands to more than {MAX_VALUES} values") as caught:
        load_stack_file(stack(tmp_path, text))
    assert len(str(caught.value)) < 300


def test_a_self_referencing_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="contains itself"):
        load_stack_file(stack(tmp_path, "config:\n  gradient-keys:keys: &k [*k]\n"))


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nested too deeply|expands to more"):
        load_stack_file(stack(tmp_path, "config:\n  gradient-keys:keys: " + "[" * 5000 + "]" * 5000 + "\n"))


def test_messages_about_big_values_stay_short() -> None:
    huge = [{"x": ["y" * 1000] * 1000}] * 50
    with pytest.raises(ConfigurationError) as caught:
        parse_settings({"keys": [{"name": huge, "vault_path": "apps/x"}], "vault": huge}, "s")
    assert len(str(caught.value)) < 1000


@pytest.mark.parametrize(
    "text", ["- just\n- a list\n", "a string\n", "42\n", "config: [1, 2]\n", "config: text\n", "{}\n", ""]
)
def test_a_document_of_the_wrong_shape_names_the_fix(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"must be a mapping with a `config:` mapping"):
        load_stack_file(stack(tmp_path, text))


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("gradient-key:keys", "did you mean gradient-keys:keys"),
        ("gradient_keys:keys", "did you mean gradient-keys:keys"),
        ("Gradient-Keys:vault", "did you mean gradient-keys:vault"),
        ("gradeint-keys:keys", "did you mean gradient-keys:keys"),
        ("keys", "has no namespace; write gradient-keys:keys"),
    ],
)
def test_a_namespace_typo_is_an_error_not_an_empty_stack(tmp_path: Path, key: str, fix: str) -> None:
    text = f"config:\n  {key}:\n    - {{name: chatbot, vault_path: apps/chatbot}}\n" + VALID_KEYS
    with pytest.raises(ConfigurationError, match=fix):
        load_stack_file(stack(tmp_path, text))


def test_other_tools_namespaces_are_left_alone(tmp_path: Path) -> None:
    text = "config:\n  aws:region: us-east-1\n  pulumi:tags: {team: platform}\n" + VALID_KEYS
    assert [k.name for k in load_stack_file(stack(tmp_path, text)).keys] == ["chatbot"]


def test_unknown_settings_in_our_namespace_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"gradient-keys:key: is not a known setting"):
        load_stack_file(stack(tmp_path, "config:\n  gradient-keys:key: []\n" + VALID_KEYS))


def test_a_file_declaring_no_key_is_an_error_unless_it_says_so(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"gradient-keys:keys: is missing: the stack declares no key"
    ):
        load_stack_file(stack(tmp_path, "config:\n  gradient-keys:vault: {mount: secret}\n"))
    assert load_stack_file(stack(tmp_path, "config:\n  gradient-keys:keys: []\n")).keys == ()


def test_rotate_due_on_a_typo_fails_instead_of_succeeding_with_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = stack(tmp_path, "config:\n  gradient-key:keys:\n    - {name: chatbot, vault_path: apps/chatbot}\n")
    assert cli.main(["rotate", "--due", "--config", str(path)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "did you mean gradient-keys:keys" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["chat\x1b[2Jbot", "chat\u202ebot", "chat\x9bbot", "chat\x7fbot"])
def test_declared_names_with_controls_are_refused_and_shown_escaped(name: str) -> None:
    with pytest.raises(ConfigurationError, match="no control characters") as caught:
        parse_settings({"keys": [{"name": name, "vault_path": "apps/x"}]}, "s")
    assert name not in str(caught.value) and escape_controls(name) in str(caught.value)


def test_the_program_refuses_a_namespace_typo() -> None:
    from tests.program.harness import run_program

    with pytest.raises(ConfigurationError, match=r"gradient-keys:keys: is missing"):
        run_program({"defaults": {"rotate_every": "7d"}})
