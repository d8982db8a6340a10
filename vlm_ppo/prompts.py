"""Task prompts and the JSON answers the policy must write, per env (the paper's structure, our words).

Each prompt says what the game is, which actions exist, what the cards count as where that
matters, and the exact JSON format of the answer: the fields the paper asks for, then
``"thoughts"`` (chain of thought) and last ``"action"``. The action-only variant (the paper's
ablation) asks for ``{"action": ...}`` alone. Text-only agents get the env's description of the
image in place of the image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import gymnasium as gym

from gym_cards.experts import Advice

GAMES = {
    "gym_cards/NumberLine-v0": "number_line",
    "gym_cards/EZPoints-v0": "ez_points",
    "gym_cards/Points24-v0": "points24",
    "gym_cards/Blackjack-v0": "blackjack",
}

_INTRO = {
    "number_line": (
        "You are playing Number Line. The {seen} a target number and a current number. Move the "
        "current number to the target, one step at a time. Actions: \"+\" adds 1 to the current "
        "number, \"-\" subtracts 1."
    ),
    "ez_points": (
        "You are playing EZ Points. The {seen} two playing cards and a formula. Build a formula that "
        "uses each card's number exactly once and equals {target}, one token at a time, then press \"=\". "
        "Aces count 1; {faces}. Actions: a card's number (1 to {top}), \"+\", \"*\", \"=\"."
    ),
    "points24": (
        "You are playing 24 Points. The {seen} four playing cards and a formula. Build a formula that "
        "uses each card's number exactly once and equals {target}, one token at a time, then press \"=\". "
        "Aces count 1; {faces}. Actions: a card's number (1 to {top}), \"+\", \"-\", \"*\", "
        "\"/\", \"(\", \")\", \"=\"."
    ),
    "blackjack": (
        "You are playing Blackjack. The {seen} the dealer's cards, one of them face down, and your "
        "cards. Get closer to 21 than the dealer without going over. Aces count 1 or 11; J, Q and K "
        "count 10. Actions: \"stand\" keeps your cards, \"hit\" takes one more card."
    ),
}

# The answer fields before "thoughts", with what the model should put there.
_READ_FIELDS = {
    "number_line": {"current number": "x", "target number": "x"},
    "ez_points": {"cards": "[x, y]", "current formula": "x"},
    "points24": {"cards": "[x, y, z, w]", "current formula": "x"},
    "blackjack": {},
}
_THOUGHTS = {
    "number_line": "compare the current number with the target and decide which way to move",
    "ez_points": "read the cards, find a formula that makes {target}, and choose its next token",
    "points24": "read the cards, find a formula that makes {target}, and choose its next token",
    "blackjack": "add up your cards, look at the dealer's card, and decide whether to take a card",
}
_ACTION_CHOICES = {
    "number_line": '"-" or "+"',
    "ez_points": '"1" to "{top}", "+", "*" or "="',
    "points24": '"1" to "{top}", "+", "-", "*", "/", "(", ")" or "="',
    "blackjack": '"stand" or "hit"',
}


def game_of(env_id: str) -> str:
    """The prompt family of ``env_id``, or a ``ValueError`` listing the envs that have prompts."""
    if env_id not in GAMES:
        raise ValueError(f"no prompt for {env_id!r}; prompts exist for {sorted(GAMES)}")
    return GAMES[env_id]


def task_prompt(
    env_id: str,
    chain_of_thought: bool = True,
    observation_text: str | None = None,
    face_cards_as_10: bool = True,
    target: int | None = None,
) -> str:
    """The instruction the policy sees at every step.

    :param env_id: a gym_cards env id.
    :param chain_of_thought: ask for the reading fields and ``"thoughts"`` before ``"action"``
        (otherwise the action-only ablation).
    :param observation_text: for text-only agents, the env's description of the image; the prompt
        then quotes it instead of referring to an image.
    :param face_cards_as_10: whether J/Q/K count 10 (Points24's ``treat_face_cards_as_10``).
    :param target: the formula games' target (12 for EZPoints, ``target_points`` for Points24).
    """
    game = game_of(env_id)
    words = {
        "seen": "image shows" if observation_text is None else "table description below gives",
        "target": target if target is not None else (12 if game == "ez_points" else 24),
        "faces": "J, Q and K count 10" if face_cards_as_10 else "J, Q and K count 11, 12 and 13",
        "top": 10 if face_cards_as_10 else 13,
    }
    lines = [_INTRO[game].format(**words)]
    if observation_text is not None:
        lines.append(f"Table: {observation_text}")
    fields = {**_READ_FIELDS[game], "thoughts": _THOUGHTS[game].format(**words)} if chain_of_thought else {}
    choices = _ACTION_CHOICES[game].format(**words)
    template = ", ".join([*(f'"{key}": "{value}"' for key, value in fields.items()), f'"action": {choices}'])
    lines.append(f"Answer with one JSON object and nothing else, in this format: {{{template}}}")
    return "\n".join(lines)


def prompt_for(env: gym.Env, chain_of_thought: bool = True, text_only: bool = False) -> str:
    """:func:`task_prompt` for the env's current state and options."""
    game = env.unwrapped
    return task_prompt(
        env.spec.id,
        chain_of_thought,
        game.describe() if text_only else None,
        face_cards_as_10=getattr(game, "face_cards_as_10", True),
        target=getattr(game, "target", None) if hasattr(game, "formula") else None,
    )


def answer_json(fields: Mapping[str, object]) -> str:
    """A JSON answer with the fields in the given order (``"action"`` last by convention)."""
    return json.dumps(dict(fields), ensure_ascii=True)


def demonstration(env: gym.Env, advice: Advice, chain_of_thought: bool = True) -> str:
    """The answer an expert writes in the current state: the reading fields, ``advice.reason`` as
    the thoughts, then the action. This is exactly the text the policy must learn to write."""
    game = game_of(env.spec.id if env.spec is not None else "")
    if not chain_of_thought:
        return answer_json({"action": advice.word})
    state = env.unwrapped
    read: dict[str, object] = {}
    if game == "number_line":
        read = {"current number": state.position, "target number": state.target}
    elif game in ("ez_points", "points24"):
        read = {"cards": [card.label for card in state.cards], "current formula": " ".join(state.formula)}
    return answer_json({**read, "thoughts": advice.reason, "action": advice.word})
