"""NumberLine expert: step toward the target."""

from __future__ import annotations

import gymnasium as gym

from gym_cards.experts.base import Advice


class NumberLineExpert:
    """Moves one step toward the target; reaches it in the fewest steps, so it always succeeds."""

    def advise(self, env: gym.Env) -> Advice:
        game = env.unwrapped
        current, target = game.position, game.target
        if current < target:
            return Advice(1, "+", f"current {current} is below target {target}, so +")
        if current > target:
            return Advice(0, "-", f"current {current} is above target {target}, so -")
        return Advice(1, "+", f"current {current} already equals target {target}, so any move; +")
