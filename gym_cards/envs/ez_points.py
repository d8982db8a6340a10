"""EZPoints: make 12 from two cards with + or *."""

from __future__ import annotations

from gym_cards.cards import SUITS, Card, card_with_value
from gym_cards.envs.formula_game import FormulaCardGameEnv

TARGET = 12


class EZPointsEnv(FormulaCardGameEnv):
    """
    ## Description
    Two cards lie on the table; their values make 12 by addition or multiplication. Build the
    formula one token at a time (a number, ``+`` or ``*``), then press ``=``. Card values: A = 1,
    2..10 as printed, J/Q/K = 10.

    ## Action Space
    ``Discrete(13)``: 0..9 pick the numbers 1..10, 10 = ``+``, 11 = ``*``, 12 = ``=``.

    ## Observation Space
    ``Box(0, 255, (H, W, 3), uint8)``: the two cards (rank in the corners, suit pips, J/Q/K
    marked), the target and the formula so far.

    ## Starting State
    The first card is drawn uniformly from 2..K. When its value divides 12, half the time the
    second card makes 12 by multiplication; otherwise it makes 12 by addition. A second card of
    value 10 is any of 10, J, Q, K. Suits are uniform and the two cards are shown in random order.

    ## Rewards
    * 0 for appending an operator or a number that is on the table and not used up yet.
    * -1 for picking a number that is not on the table, or used up: a ``?`` is appended to the
      formula instead and the episode goes on (the formula can no longer score).
    * ``=``: +10 if the formula uses every card exactly once and equals 12, else -1.
    * -1 when the formula grows longer than 5 tokens.

    ## Episode End
    Terminated by ``=``, or with -1 when the formula grows longer than 5 tokens (a rule of the
    game; RL4VLM reported it as truncated). Truncated by the
    registered 300-step limit.

    ## Information
    ``{"Cards": ["QH", "2S"], "Numbers": [10, 2], "Formula": ["10", "+"]}``, fresh at every step.

    ## Arguments
    ``gym.make("gym_cards/EZPoints-v0", image_size=300, render_mode=None)``

    ## Version History
    * v0: the RL4VLM EZPoints rules with exact formula evaluation (no ``eval``).
    """

    def __init__(self, image_size: int | tuple[int, int] = 300, render_mode: str | None = None) -> None:
        super().__init__(
            numbers=tuple(range(1, 11)),
            symbols=("+", "*"),
            target=TARGET,
            max_formula_length=5,
            face_cards_as_10=True,
            render_mode=render_mode,
            image_size=image_size,
        )

    def _deal(self) -> list[Card]:
        rng = self.np_random
        first = Card(rank=int(rng.integers(2, 14)), suit=SUITS[int(rng.integers(4))])
        value = first.value()
        if TARGET % value == 0 and rng.random() < 0.5:
            second = card_with_value(TARGET // value, rng)
        else:
            second = card_with_value(TARGET - value, rng)
        return [first, second] if rng.random() < 0.5 else [second, first]
