"""Points24: the 24 game with four cards and + - * / ( )."""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter

import numpy as np

from gym_cards.cards import SUITS, Card, draw_card
from gym_cards.envs.base import check_flag
from gym_cards.envs.formula_game import FormulaCardGameEnv
from gym_cards.formula import OPERATORS, PARENTHESES
from gym_cards.solver import has_solution

MAX_REDRAWS = 100
"""Redraws before a solvable_only deal is drawn from the solvable rank draws directly (the
default target never needs them: 73% of draws reach 24)."""


@functools.lru_cache(maxsize=16)
def solvable_rank_multisets(target: int, face_cards_as_10: bool) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Every multiset of four ranks (1..13) whose values reach ``target``, and the probability
    of each among them under independent uniform ranks (its number of orderings, normalised)."""
    multisets, counts = [], []
    for ranks in itertools.combinations_with_replacement(range(1, 14), 4):
        values = [min(rank, 10) if face_cards_as_10 else rank for rank in ranks]
        if has_solution(values, target):
            multisets.append(ranks)
            counts.append(math.factorial(4) / math.prod(math.factorial(c) for c in Counter(ranks).values()))
    weights = np.asarray(counts, dtype=np.float64)
    return multisets, weights / weights.sum() if len(weights) else weights


class Points24Env(FormulaCardGameEnv):
    """
    ## Description
    Four cards lie on the table. Build a formula that uses each card's value exactly once and
    equals ``target_points`` (24), one token at a time, then press ``=``.

    ## Action Space
    With ``treat_face_cards_as_10=True`` (default): ``Discrete(17)``, 0..9 pick the numbers
    1..10, then 10..16 = ``+ - * / ( ) =``. With ``False``: ``Discrete(20)``, 0..12 pick 1..13
    (J = 11, Q = 12, K = 13), then 13..19 = ``+ - * / ( ) =``.

    ## Observation Space
    ``Box(0, 255, (H, W, 3), uint8)``: the four cards, the target and the formula so far
    (wrapped, and shrunk when long).

    ## Starting State
    Four cards drawn uniformly and independently from A..K with uniform suits. With
    ``solvable_only=True`` the deal is redrawn until some formula reaches the target (after 100
    redraws, for a rare target, it is drawn from the solvable rank draws directly, with the same
    distribution; a target no four cards reach raises ``ValueError`` at reset).

    ## Rewards
    * 0 for appending an operator, a parenthesis, or a number that is on the table and unused.
    * -1 for a number not on the table or used up (a ``?`` is appended; the episode goes on).
    * ``=``: +10 if the formula uses every card exactly once and equals the target exactly
      (rational arithmetic: ``8 / (3 - 8 / 3)`` is 24), else -1. Malformed formulas and
      division by zero score -1; there is no exponentiation and no digit concatenation.
    * -1 when the formula grows longer than 20 tokens.

    ## Episode End
    Terminated by ``=``, or with -1 when the formula grows longer than 20 tokens (a rule of the
    game; RL4VLM reported it as truncated, and took the 21st token with its own reward before
    ending the episode with -1 at the next step, whatever that was: a wrong number as the 21st
    token totals -2 there, -1 here). Truncated by the registered 300-step limit.

    ## Information
    ``{"Cards": [...], "Numbers": [...], "Formula": [...]}``, fresh at every step.

    ## Arguments
    ``gym.make("gym_cards/Points24-v0", treat_face_cards_as_10=True, target_points=24,
    solvable_only=False, image_size=300, render_mode=None)``

    ## Version History
    * v0: the RL4VLM Points24 rules with exact formula evaluation; ``solvable_only`` added.
    """

    def __init__(
        self,
        treat_face_cards_as_10: bool = True,
        target_points: int = 24,
        solvable_only: bool = False,
        image_size: int | tuple[int, int] = 300,
        render_mode: str | None = None,
    ) -> None:
        face_cards_as_10 = check_flag("treat_face_cards_as_10", treat_face_cards_as_10)
        if isinstance(target_points, bool) or not isinstance(target_points, (int, np.integer)) or target_points < 1:
            raise ValueError(f"target_points must be a positive int, got {target_points!r}")
        super().__init__(
            numbers=tuple(range(1, 11 if face_cards_as_10 else 14)),
            symbols=OPERATORS + PARENTHESES,
            target=int(target_points),
            max_formula_length=20,
            face_cards_as_10=face_cards_as_10,
            render_mode=render_mode,
            image_size=image_size,
        )
        self.solvable_only = check_flag("solvable_only", solvable_only)

    def _deal(self) -> list[Card]:
        for _ in range(MAX_REDRAWS):
            cards = [draw_card(self.np_random) for _ in range(4)]
            values = [card.value(self.face_cards_as_10) for card in cards]
            if not self.solvable_only or has_solution(values, self.target):
                return cards
        # A rare target: draw from the solvable rank draws directly, with the distribution the
        # redraws would have had (uniform over the solvable ordered draws, suits uniform).
        ranks = self._solvable_rank_draw()
        return [Card(rank=rank, suit=SUITS[int(self.np_random.integers(4))]) for rank in ranks]

    def _solvable_rank_draw(self) -> tuple[int, ...]:
        multisets, weights = solvable_rank_multisets(self.target, self.face_cards_as_10)
        if not multisets:
            raise ValueError(
                f"no four cards reach target_points={self.target}"
                + (" with face cards as 10" if self.face_cards_as_10 else "")
                + "; use a reachable target or solvable_only=False"
            )
        chosen = multisets[int(self.np_random.choice(len(multisets), p=weights))]
        return tuple(int(rank) for rank in self.np_random.permutation(chosen))
