"""Reasoning, as DigitalOcean documents it for chat completions: `reasoning_effort` (OpenAI's form)
or `reasoning: {"effort", "max_tokens"?}` (Anthropic's) makes a reasoning model return its
thinking as `reasoning_content`.

The thinking's budget is `reasoning.max_tokens` when given, else the documented share of
`max_completion_tokens` for the effort (low 0.2, medium 0.5, high 0.8, max 0.95), else unbounded;
it never exceeds `max_completion_tokens`. Effort `none` asks for no thinking. Models that do not
reason accept the fields and ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.inference.catalogue import REASONING_EFFORTS, Model
from sandbox.inference.errors import bad_request
from sandbox.inference.fields import optional_choice, optional_int
from sandbox.inference.tokens import first_tokens

__all__ = ["Reasoning", "read_reasoning", "reasoning_text"]

# In percent: integer arithmetic holds any max_completion_tokens (a float overflows past ~1e308).
BUDGET_PERCENTS = {"none": 0, "low": 20, "medium": 50, "high": 80, "max": 95}
STEPS = (
    "Restate what is asked and what a good answer needs.",
    "Work through it step by step.",
    "Check each step and the result against the question.",
    "Consider what could be missing or wrong, then settle the final answer.",
)


@dataclass(frozen=True)
class Reasoning:
    effort: str
    budget: int | None  # tokens the thinking may use; None: as many as it takes


def read_reasoning(body: dict[str, Any], model: Model, max_completion: int | None) -> Reasoning | None:
    """The reasoning a request asks of this model, or None (not asked, effort none, or a model that
    does not reason). Bad values are refused whatever the model."""
    effort = optional_choice(body, "reasoning_effort", REASONING_EFFORTS)
    nested = body.get("reasoning")
    budget = None
    if nested is not None:
        if not isinstance(nested, dict):
            raise bad_request('reasoning must be an object: {"effort", "max_tokens"?}', "invalid_value")
        effort = optional_choice(nested, "effort", REASONING_EFFORTS, label="reasoning.effort") or effort
        budget = optional_int(nested, "max_tokens", 1, label="reasoning.max_tokens")
    if effort is None or effort == "none" or model.kind != "reasoning":
        return None
    if budget is None and max_completion is not None:
        budget = max(1, BUDGET_PERCENTS[effort] * max_completion // 100)
    if budget is not None and max_completion is not None:
        budget = min(budget, max_completion)
    return Reasoning(effort, budget)


def reasoning_text(reasoning: Reasoning, question: str, tag: str) -> str:
    """The thinking, deterministic for the question: more steps for more effort, cut to the budget."""
    steps = STEPS[: list(BUDGET_PERCENTS).index(reasoning.effort)]  # low: 1 step ... max: 4
    text = f"The request: {first_tokens(question, 24)} " + " ".join(steps) + f" (sandbox reasoning {tag})"
    return text if reasoning.budget is None else first_tokens(text, reasoning.budget)
