"""The four environments; each class docstring is that game's manual."""

from gym_cards.envs.blackjack import BlackjackEnv
from gym_cards.envs.ez_points import EZPointsEnv
from gym_cards.envs.number_line import NumberLineEnv
from gym_cards.envs.points24 import Points24Env

__all__ = ["BlackjackEnv", "EZPointsEnv", "NumberLineEnv", "Points24Env"]
