"""Gymnasium card and number games rendered as images: NumberLine, EZPoints, Points24, Blackjack.

Importing the package registers ``gym_cards/NumberLine-v0``, ``gym_cards/EZPoints-v0``,
``gym_cards/Points24-v0`` and ``gym_cards/Blackjack-v0`` with Gymnasium. It needs only
gymnasium, numpy and pillow (pygame for the human window). ``make_text_env`` and
``make_image_text_env`` give the variants that language models and people play.
"""

from gymnasium.envs.registration import register, registry

from gym_cards.envs import BlackjackEnv, EZPointsEnv, NumberLineEnv, Points24Env
from gym_cards.wrappers import ImageTextObservation, TextAction, TextObservation, make_image_text_env, make_text_env

__version__ = "0.1.0"
__all__ = [
    "BlackjackEnv",
    "ENV_IDS",
    "EZPointsEnv",
    "ImageTextObservation",
    "NumberLineEnv",
    "Points24Env",
    "TextAction",
    "TextObservation",
    "make_image_text_env",
    "make_text_env",
]

MAX_EPISODE_STEPS = 300
_ENTRY_POINTS = {
    "gym_cards/NumberLine-v0": "gym_cards.envs.number_line:NumberLineEnv",
    "gym_cards/EZPoints-v0": "gym_cards.envs.ez_points:EZPointsEnv",
    "gym_cards/Points24-v0": "gym_cards.envs.points24:Points24Env",
    "gym_cards/Blackjack-v0": "gym_cards.envs.blackjack:BlackjackEnv",
}
ENV_IDS = tuple(_ENTRY_POINTS)

for _env_id, _entry_point in _ENTRY_POINTS.items():
    if _env_id not in registry:  # importing twice (or reloading) must not warn
        register(id=_env_id, entry_point=_entry_point, max_episode_steps=MAX_EPISODE_STEPS)
