"""Expert players for every env, each explaining its move in one sentence.

``expert_for(env).advise(env)`` returns an :class:`Advice` (action, action word, reason). The
reasons are the chain-of-thought demonstrations for supervised fine-tuning.
"""

from __future__ import annotations

import gymnasium as gym

from gym_cards.envs import BlackjackEnv, NumberLineEnv
from gym_cards.envs.formula_game import FormulaCardGameEnv
from gym_cards.experts.base import Advice
from gym_cards.experts.blackjack import BlackjackExpert, BlackjackStrategy, strategy
from gym_cards.experts.formula import FormulaExpert
from gym_cards.experts.number_line import NumberLineExpert

__all__ = ["Advice", "BlackjackExpert", "BlackjackStrategy", "FormulaExpert", "NumberLineExpert", "expert_for", "strategy"]


def expert_for(env: gym.Env) -> NumberLineExpert | FormulaExpert | BlackjackExpert:
    """The expert for ``env`` (wrapped or not)."""
    game = env.unwrapped
    if isinstance(game, NumberLineEnv):
        return NumberLineExpert()
    if isinstance(game, FormulaCardGameEnv):
        return FormulaExpert()
    if isinstance(game, BlackjackEnv):
        return BlackjackExpert()
    raise ValueError(f"no expert for {type(game).__name__}; experts exist for the gym_cards envs")
