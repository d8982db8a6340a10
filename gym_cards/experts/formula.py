"""EZPoints and Points24 expert: exact search, then play the solution token by token."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from gym_cards.experts.base import Advice
from gym_cards.formula import OPERATORS
from gym_cards.solver import complete, solutions, solve


@functools.lru_cache(maxsize=4096)
def _plan(numbers: tuple[int, ...], target: int, operators: tuple[str, ...], parentheses: bool) -> tuple[str, ...] | None:
    tokens = solve(numbers, target, operators, parentheses)
    return None if tokens is None else tuple(tokens)


@functools.lru_cache(maxsize=4096)
def _all_solutions(
    numbers: tuple[int, ...], target: int, operators: tuple[str, ...], parentheses: bool
) -> tuple[tuple[str, ...], ...]:
    return tuple(map(tuple, solutions(numbers, target, operators, parentheses, all_orders=True)))


class FormulaExpert:
    """Plays a formula that uses every card once and reaches the target, or ends a hopeless one.

    It continues from whatever formula is on the table when some solution extends it (in any
    operand order, with any redundant brackets the table already holds, within the env's formula
    length); when none does (no solution for the deal, a ``?`` from a wrong number, or a prefix no
    solution starts with) it presses ``=`` to end the episode.

    Facts: ``cards`` (the card labels read), ``numbers`` (what they count as), ``formula`` (the
    tokens on the table), ``target``, ``plan`` (the solution being played, tokens without ``=``,
    or None) and ``case``: ``"solved"`` (the formula is done), ``"next"`` (the plan's next token),
    ``"no_solution"`` (no formula of these cards reaches the target), ``"dead_end"`` (the formula
    on the table can no longer reach it) or ``"reachable"`` (the formula with ``word`` appended can
    still reach it; never the expert's own case, a mistaken belief in noisy demonstrations).

    ``canonical=True`` plans from the cards sorted by number, so that every deal of the same cards,
    in whatever order they lie, gets the same formula: one target per set of cards for a learner
    to memorise instead of several.
    """

    def __init__(self, canonical: bool = False) -> None:
        self.canonical = canonical

    def solutions(self, env: gym.Env) -> list[list[str]]:
        """Every solution of the current deal in this env's vocabulary (tokens, without ``=``),
        each operand order, written with the brackets precedence requires and no others."""
        return [list(tokens) for tokens in _all_solutions(*self._problem(env.unwrapped))]

    def completion(self, env: gym.Env, formula: list[str] | None = None) -> list[str] | None:
        """A solution that starts with ``formula`` (default: the one on the table), redundant
        brackets in it included, within the env's formula length; None when it cannot reach the
        target any more."""
        game = env.unwrapped
        numbers, target, operators, parentheses = self._problem(game)
        formula = list(game.formula) if formula is None else formula
        return complete(numbers, formula, target, operators, parentheses, game.max_formula_length)

    def plan(self, env: gym.Env) -> list[str] | None:
        """The solution the expert plays from an empty formula, or ``None`` if there is none."""
        tokens = _plan(*self._plan_problem(env.unwrapped))
        return None if tokens is None else list(tokens)

    def advise(self, env: gym.Env) -> Advice:
        game = env.unwrapped
        formula = tuple(game.formula)
        facts: dict[str, Any] = {
            "cards": [card.label for card in game.cards],
            "numbers": list(game.numbers),
            "formula": list(formula),
            "target": game.target,
            "plan": None,
        }
        word = "="
        plan = _plan(*self._plan_problem(game))
        if game.is_solved():
            facts["case"] = "solved"
        elif plan is None:
            facts["case"] = "no_solution"
        else:
            # Follow the plan; only when play has left it, look through every solution (all orders).
            candidates = [plan] if plan[: len(formula)] == formula else _all_solutions(*self._problem(game))
            following = next(
                (tokens for tokens in candidates if tokens[: len(formula)] == formula and len(tokens) > len(formula)), None
            )
            if following is None:  # a formula no solution starts with may still hold redundant brackets
                completion = self.completion(env)
                following = tuple(completion) if completion is not None and len(completion) > len(formula) else None
            if following is None:
                facts["case"] = "dead_end"
            else:
                facts["case"], facts["plan"] = "next", list(following)
                word = following[len(formula)]
        return Advice(game.action_words.index(word), word, self.explain(facts, word), facts)

    @staticmethod
    def explain(facts: Mapping[str, Any], word: str) -> str:
        """The sentence for ``facts`` and the token ``word``."""
        formula, target = " ".join(facts["formula"]), facts["target"]
        case = facts["case"]
        if case == "solved":
            return f"{formula} equals {target} and uses every card once, so ="
        if case == "no_solution":
            return f"no formula with {', '.join(map(str, facts['numbers']))} reaches {target}, so = to end the episode"
        if case == "dead_end":
            return f"the formula {formula} can no longer reach {target}, so = to end it"
        if case == "reachable":
            return f"the formula {' '.join([*facts['formula'], word])} can still reach {target}, so the next token is {word}"
        return f"{' '.join(facts['plan'])} = {target} uses every card once, so the next token is {word}"

    def _plan_problem(self, game) -> tuple[tuple[int, ...], int, tuple[str, ...], bool]:
        """The solver's arguments for the plan: the cards in the order they lie, or sorted."""
        numbers, *rest = self._problem(game)
        return (tuple(sorted(numbers)) if self.canonical else numbers, *rest)

    @staticmethod
    def _problem(game) -> tuple[tuple[int, ...], int, tuple[str, ...], bool]:
        """The deal as the solver's arguments, in this env's vocabulary."""
        operators = tuple(op for op in OPERATORS if op in game.action_words)
        return tuple(game.numbers), game.target, operators, "(" in game.action_words
