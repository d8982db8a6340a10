"""What every expert returns: an action and the one sentence that explains it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    """An expert's move: the env action, its action word, and a one-sentence reason.

    The reasons double as chain-of-thought demonstrations for supervised fine-tuning, so they
    say why in terms of what the agent can see ("current 2 is below target 4, so +").
    """

    action: int
    word: str
    reason: str
