"""EZPoints and Points24 expert: exact search, then play the solution token by token."""

from __future__ import annotations

import functools

import gymnasium as gym

from gym_cards.experts.base import Advice
from gym_cards.formula import OPERATORS
from gym_cards.solver import solutions, solve


@functools.lru_cache(maxsize=4096)
def _plan(numbers: tuple[int, ...], target: int, operators: tuple[str, ...], parentheses: bool) -> tuple[str, ...] | None:
    tokens = solve(numbers, target, operators, parentheses)
    return None if tokens is None else tuple(tokens)


@functools.lru_cache(maxsize=4096)
def _all_solutions(numbers: tuple[int, ...], target: int, operators: tuple[str, ...], parentheses: bool) -> tuple[tuple[str, ...], ...]:
    return tuple(map(tuple, solutions(numbers, target, operators, parentheses, all_orders=True)))


class FormulaExpert:
    """Plays a formula that uses every card once and reaches the target, or ends a hopeless one.

    It continues from whatever formula is on the table when some solution extends it (in any
    operand order the solver writes); when none does (no solution for the deal, a ``?`` from a
    wrong number, or a prefix no solution starts with) it presses ``=`` to end the episode.
    """

    def solutions(self, env: gym.Env) -> list[list[str]]:
        """Every solution of the current deal in this env's vocabulary (tokens, without ``=``)."""
        return [list(tokens) for tokens in _all_solutions(*self._problem(env.unwrapped))]

    def plan(self, env: gym.Env) -> list[str] | None:
        """The solution the expert plays from an empty formula, or ``None`` if there is none."""
        tokens = _plan(*self._problem(env.unwrapped))
        return None if tokens is None else list(tokens)

    def advise(self, env: gym.Env) -> Advice:
        game = env.unwrapped
        formula, target = tuple(game.formula), game.target
        equals = game.action_words.index("=")
        if game.is_solved():
            return Advice(equals, "=", f"{' '.join(formula)} equals {target} and uses every card once, so =")
        plan = _plan(*self._problem(game))
        if plan is None:
            cards = ", ".join(map(str, game.numbers))
            return Advice(equals, "=", f"no formula with {cards} reaches {target}, so = to end the episode")
        # Follow the plan; only when play has left it, look through every solution (all orders).
        candidates = [plan] if plan[: len(formula)] == formula else _all_solutions(*self._problem(game))
        for tokens in candidates:
            if tokens[: len(formula)] == formula and len(tokens) > len(formula):
                token = tokens[len(formula)]
                return Advice(
                    game.action_words.index(token),
                    token,
                    f"{' '.join(tokens)} = {target} uses every card once, so the next token is {token}",
                )
        return Advice(equals, "=", f"the formula {' '.join(formula)} can no longer reach {target}, so = to end it")

    @staticmethod
    def _problem(game) -> tuple[tuple[int, ...], int, tuple[str, ...], bool]:
        """The deal as the solver's arguments, in this env's vocabulary."""
        operators = tuple(op for op in OPERATORS if op in game.action_words)
        return tuple(game.numbers), game.target, operators, "(" in game.action_words
