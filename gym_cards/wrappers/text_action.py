"""Actions from a model's raw answer text."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from gym_cards.action_parsing import parse_action
from gym_cards.wrappers.text_observation import text_space

ON_INVALID = ("random", "raise")
# Mixed into the reset seed: the env seeds its own generator with the bare seed, and the same
# seed would give the same stream, making "random" actions copy the env's draws (the deal).
_STREAM = 0x7E47AC7


class TextAction(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Takes the model's whole answer as the action and maps its ``"action"`` field to the env's.

    See :func:`gym_cards.action_parsing.parse_action` for what is tolerated. When no single action
    can be read, ``on_invalid`` decides: ``"random"`` (the paper's behaviour) takes a uniformly
    random action from this wrapper's own generator, seeded by ``reset(seed=...)``; ``"raise"``
    raises ``ValueError`` naming the problem and leaves the env untouched.

    Every step adds to ``info``: ``action_parsed`` (bool), ``action_text`` (the value read, or
    ``None``), ``action_error`` (why parsing failed, or ``None``) and ``env_action`` (the int sent
    to the env), so training can log the parse-failure rate.

    :param bare_word: also accept an answer that is just an action word (people at a terminal).
    :param action_words: the word of each action of a ``Discrete`` action space, in order; None:
        the env's own ``action_words`` (every gym_cards env has them).
    """

    def __init__(self, env: gym.Env, on_invalid: str = "random", bare_word: bool = False, action_words=None) -> None:
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        words = action_words if action_words is not None else getattr(env.unwrapped, "action_words", None)
        if words is None or not hasattr(env.action_space, "n") or len(words) != env.action_space.n:
            raise ValueError(
                f"TextAction needs one action word per action of a Discrete action space, got {words!r} for {env.action_space}"
            )
        gym.utils.RecordConstructorArgs.__init__(self, on_invalid=on_invalid, bare_word=bare_word, action_words=action_words)
        super().__init__(env)
        self.action_words: tuple[str, ...] = tuple(words)
        self.on_invalid = on_invalid
        self.bare_word = bare_word
        self.action_space = text_space()
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng([_STREAM, seed])
        return self.env.reset(seed=seed, options=options)

    def step(self, answer: str):
        if not isinstance(answer, (str, bytes)):  # a caller's mistake (an env action?), not a model's answer
            raise TypeError(f"TextAction.step takes the model's answer as text, got {type(answer).__name__} {answer!r}")
        parsed = parse_action(answer, self.action_words, bare_word=self.bare_word)
        if parsed.action is not None:
            action = parsed.action
        elif self.on_invalid == "raise":
            raise ValueError(f"could not read an action from the answer: {parsed.error}")
        else:
            action = int(self._rng.integers(len(self.action_words)))
        action += int(getattr(self.env.action_space, "start", 0))  # the i-th word is Discrete(n, start)'s start + i
        observation, reward, terminated, truncated, info = self.env.step(action)
        info = {
            **info,
            "action_parsed": parsed.action is not None,
            "action_text": parsed.value,
            "action_error": parsed.error,
            "env_action": action,
        }
        return observation, reward, terminated, truncated, info
