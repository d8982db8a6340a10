"""Wrappers that let language models and people play: text observations, text actions, both.

One line gets each variant::

    env = gym_cards.make_text_env("gym_cards/Points24-v0")         # text in, answer text out
    env = gym_cards.make_image_text_env("gym_cards/Points24-v0")   # {"image", "text"} in, text out
"""

from __future__ import annotations

import gymnasium as gym

from gym_cards.wrappers.image_text_observation import ImageTextObservation
from gym_cards.wrappers.text_action import TextAction
from gym_cards.wrappers.text_observation import TextObservation

__all__ = ["ImageTextObservation", "TextAction", "TextObservation", "make_image_text_env", "make_text_env"]


def make_text_env(env_id: str, on_invalid: str = "random", **kwargs) -> gym.Env:
    """``gym.make(env_id, **kwargs)`` with text observations and answer-text actions.

    :param env_id: a gym_cards id, e.g. ``"gym_cards/Points24-v0"``.
    :param on_invalid: ``"random"`` or ``"raise"`` for answers with no readable action.
    :param kwargs: env options (``max_position``, ``natural``, ``render_mode``, ...).
    """
    return TextAction(TextObservation(gym.make(env_id, **kwargs)), on_invalid=on_invalid)


def make_image_text_env(env_id: str, on_invalid: str = "random", **kwargs) -> gym.Env:
    """``gym.make(env_id, **kwargs)`` with ``{"image", "text"}`` observations and answer-text actions."""
    return TextAction(ImageTextObservation(gym.make(env_id, **kwargs)), on_invalid=on_invalid)
