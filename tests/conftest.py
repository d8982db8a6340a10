"""Shared helpers: scripted deals and stepping by action word, so tests read like the rules."""

from __future__ import annotations

import os
from fractions import Fraction

import gymnasium as gym
import pytest
from hypothesis import settings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

# CI reruns the same examples every time (a landing never hinges on a lucky draw); local runs keep
# exploring new ones, which is how the property tests find edge cases.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

import gym_cards  # noqa: E402,F401  (registers the envs)
from gym_cards.cards import Card  # noqa: E402


def cards(*names: str) -> list[Card]:
    """Cards from short names: ``cards("AH", "10S", "QD")``."""
    ranks = {"A": 1, "J": 11, "Q": 12, "K": 13}
    return [Card(ranks.get(n[:-1], None) or int(n[:-1]), n[-1]) for n in names]


def with_deal(env, deal: list[Card]):
    """Make the env deal ``deal`` on its next reset (the formula games)."""
    env.unwrapped._deal = lambda: list(deal)
    return env


def press(env, word: str):
    """Step with the action whose word is ``word`` (``"3"``, ``"+"``, ``"="``)."""
    return env.step(env.unwrapped.action_words.index(word))


@pytest.fixture(params=gym_cards.ENV_IDS)
def env_id(request) -> str:
    return request.param


def make(env_id: str, **kwargs) -> gym.Env:
    return gym.make(env_id, **kwargs)


def reference_apply(op: str, a: Fraction | None, b: Fraction | None) -> Fraction | None:
    """The tests' own arithmetic, independent of gym_cards: ``None`` propagates, x / 0 is ``None``."""
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return None if b == 0 else a / b


def rewrite_state(checkpoint, state) -> None:
    """Write an edited ``state.json`` with the digest a run would have recorded, so that a test
    that edits a state on purpose reaches the checks behind the digest."""
    import json
    from pathlib import Path

    from vlm_ppo.checkpoint import _STATE_DIGEST, STATE_FILE, _state_digest

    if isinstance(state, dict):
        state = {**state, _STATE_DIGEST: _state_digest(state)}
    (Path(checkpoint) / STATE_FILE).write_text(json.dumps(state))
