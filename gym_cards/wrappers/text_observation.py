"""Observations as words, so a pure language model (or a person) can play."""

from __future__ import annotations

import string

import gymnasium as gym
from gymnasium import spaces

# Descriptions are plain ASCII sentences; the longest (a 22-card Blackjack hand) is ~700 characters.
TEXT_CHARSET = string.printable
TEXT_MAX_LENGTH = 2048


def text_space() -> spaces.Text:
    """The ``Text`` space of descriptions and answers: printable ASCII, up to 2048 characters."""
    return spaces.Text(max_length=TEXT_MAX_LENGTH, min_length=0, charset=TEXT_CHARSET)


def require_describe(env: gym.Env) -> None:
    """Fail early, naming the env, when it cannot put its state into words."""
    if not callable(getattr(env.unwrapped, "describe", None)):
        raise ValueError(f"this wrapper needs a gym_cards env with describe(), got {env.unwrapped!r}")


class TextObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Replaces the observation with a short description of exactly what the image shows.

    NumberLine: the range, target and current number. EZPoints/Points24: each card (rank and
    suit), the number it counts as, the target and the formula. Blackjack: the dealer's up card,
    the player's cards and their total (the face-down card stays hidden until the end).

    Example::

        env = TextObservation(gym.make("gym_cards/NumberLine-v0"))
        obs, info = env.reset(seed=0)   # "Number line from 0 to 5. Target: 5. Current: 3."

    In an ``AsyncVectorEnv`` pass ``shared_memory=False``: Gymnasium's shared memory does not
    carry ``Text`` observations (every text arrives as a string of ``0``).
    """

    def __init__(self, env: gym.Env) -> None:
        require_describe(env)
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        self.observation_space = text_space()

    def observation(self, observation) -> str:
        return self.env.unwrapped.describe()
