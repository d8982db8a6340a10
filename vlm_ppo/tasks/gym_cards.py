"""The paper's four games as tasks: NumberLine, EZPoints, Points24 and Blackjack.

Each prompt says what the game is, which actions exist, what the cards count as where that
matters, and the exact JSON format of the answer: the fields the paper asks for, then
``"thoughts"`` and last ``"action"``. The experts are gym_cards' own; demonstrations are written
from their facts, and the deliberate mistakes of noisy demonstrations are other facts rendered by
the same experts (a misread comparison, the other action's value, a token off every solution).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import gymnasium as gym
import numpy as np

from gym_cards.experts import Advice, BlackjackExpert, FormulaExpert, NumberLineExpert
from gym_cards.formula import OPERATORS, numbers_in
from vlm_ppo.tasks.task import Task


class CardGameTask(Task):
    """A gym_cards game: the env's frame or its ``describe()`` text, the env's action words."""

    intro = ""
    """The game in words; ``{seen}``, ``{target}``, ``{faces}`` and ``{top}`` are filled in."""
    fields: dict[str, str] = {}
    """The answer's reading fields and their placeholders."""
    thoughts = ""
    """What the thoughts should do; ``{target}`` is filled in."""
    choices = ""
    """The action placeholder; ``{top}`` is filled in."""

    def __init__(self, name: str, expert, preset: dict[str, Any]) -> None:
        super().__init__(name=name, env_id=name, preset=preset)
        self._expert = expert

    def _words(self, env: gym.Env, text_only: bool = False) -> dict[str, Any]:
        game = env.unwrapped
        faces_as_10 = getattr(game, "face_cards_as_10", True)
        return {
            "seen": "table description below gives" if text_only else "image shows",
            "target": getattr(game, "target", None) if hasattr(game, "formula") else None,
            "faces": "J, Q and K count 10" if faces_as_10 else "J, Q and K count 11, 12 and 13",
            "top": 10 if faces_as_10 else 13,
        }

    def instructions(self, env: gym.Env, text_only: bool) -> str:
        return self.intro.format(**self._words(env, text_only))

    def answer_fields(self, env: gym.Env) -> dict[str, str]:
        return dict(self.fields)

    def thoughts_hint(self, env: gym.Env) -> str:
        return self.thoughts.format(**self._words(env))

    def action_choices(self, env: gym.Env) -> str:
        return self.choices.format(**self._words(env))

    def expert(self, env: gym.Env) -> Advice:
        return self._expert.advise(env)


class NumberLineTask(CardGameTask):
    intro = (
        "You are playing Number Line. The {seen} a target number and a current number. Move the "
        'current number to the target, one step at a time. Actions: "+" adds 1 to the current '
        'number, "-" subtracts 1.'
    )
    fields = {"current number": "x", "target number": "x"}
    thoughts = "compare the current number with the target and decide which way to move"
    choices = '"-" or "+"'

    def read_values(self, env: gym.Env, advice: Advice) -> dict[str, Any]:
        return {"current number": advice.facts["current"], "target number": advice.facts["target"]}

    def mistake(self, env: gym.Env, advice: Advice, rng: np.random.Generator) -> Advice:
        """The opposite move, reading the comparison the wrong way round: where the expert says
        ``"current 2 is below target 4, so +"``, ``"current 2 is above target 4, so -"``."""
        word = "-" if advice.word == "+" else "+"
        facts = {**advice.facts, "relation": "above" if word == "-" else "below"}
        return Advice(env.unwrapped.action_words.index(word), word, NumberLineExpert.explain(facts, word), facts)


class FormulaTask(CardGameTask):
    """EZPoints and Points24. The prompt states the formula built so far, as the paper's prompt
    does ("You are observing the current formula: ..."): the image must be read for the cards,
    while the formula is the agent's own past actions. A tiny VLM trained on the image alone read
    both cards but took the empty formula for a started one on every held-out first move."""

    fields = {"cards": "[x, y]", "current formula": "x"}
    thoughts = "read the cards, find a formula that makes {target}, and choose its next token"

    def instructions(self, env: gym.Env, text_only: bool) -> str:
        intro = super().instructions(env, text_only)
        if text_only:  # the table description below already holds the formula
            return intro
        formula = " ".join(env.unwrapped.formula)
        return f"{intro} The current formula is: {formula or '(empty)'}."

    def read_values(self, env: gym.Env, advice: Advice) -> dict[str, Any]:
        return {"cards": list(advice.facts["cards"]), "current formula": " ".join(advice.facts["formula"])}

    def mistake(self, env: gym.Env, advice: Advice, rng: np.random.Generator) -> Advice:
        """A token after which no solution can follow (redundant brackets count as a way on, so
        ``(`` is rarely a mistake; the expert then ends the episode with ``=``). It is never ``=`` and never the
        expert's token, drawn uniformly from the tokens that keep the formula well formed using
        only cards still on the table (a card number not used yet or ``(`` where an operand
        comes, an operator or a closing ``)`` where an operator comes); when no such token is
        wrong, from the operators, parentheses and unused card numbers. Its reason is the
        expert's plan with the token swapped in (swapped with its next occurrence when the plan
        has it later on); where the expert presses ``=``, the belief that the formula with the
        token "can still reach" the target."""
        game = env.unwrapped
        formula, words, n = list(game.formula), tuple(game.action_words), len(game.formula)
        unused = Counter(game.numbers) - Counter(numbers_in(formula))
        expert = FormulaExpert()
        on_solution = {word for word in words if word != "=" and expert.completion(env, [*formula, word]) is not None}
        wrong = [word for word in words if word not in on_solution and word not in ("=", advice.word)]
        well_formed = _well_formed_next(formula, unused, words)
        choices = [word for word in wrong if word in well_formed] or [
            word for word in wrong if not word.isdigit() or int(word) in unused
        ]
        word = choices[int(rng.integers(len(choices)))]
        if advice.word == "=":
            facts = {**advice.facts, "case": "reachable", "plan": None}
        else:
            plan = list(advice.facts["plan"])
            if word in plan[n + 1 :]:
                plan[plan.index(word, n + 1)] = plan[n]
            plan[n] = word
            facts = {**advice.facts, "plan": plan}
        return Advice(words.index(word), word, FormulaExpert.explain(facts, word), facts)


class EZPointsTask(FormulaTask):
    intro = (
        "You are playing EZ Points. The {seen} two playing cards and a formula. Build a formula that "
        'uses each card\'s number exactly once and equals {target}, one token at a time, then press "=". '
        'Aces count 1; {faces}. Actions: a card\'s number (1 to {top}), "+", "*", "=".'
    )
    choices = '"1" to "{top}", "+", "*" or "="'


class Points24Task(FormulaTask):
    """24 Points. Its expert (registered below) plans canonically: one formula per set of four
    cards, whatever their order. A small model cannot search for a formula, only remember one
    per set of cards; with the plan that follows the cards' order it must remember several."""

    intro = (
        "You are playing 24 Points. The {seen} four playing cards and a formula. Build a formula that "
        'uses each card\'s number exactly once and equals {target}, one token at a time, then press "=". '
        'Aces count 1; {faces}. Actions: a card\'s number (1 to {top}), "+", "-", "*", '
        '"/", "(", ")", "=".'
    )
    fields = {"cards": "[x, y, z, w]", "current formula": "x"}
    choices = '"1" to "{top}", "+", "-", "*", "/", "(", ")" or "="'


class BlackjackTask(CardGameTask):
    intro = (
        "You are playing Blackjack. The {seen} the dealer's cards, one of them face down, and your "
        "cards. Get closer to 21 than the dealer without going over. Aces count 1 or 11; J, Q and K "
        'count 10. Actions: "stand" keeps your cards, "hit" takes one more card.'
    )
    thoughts = "add up your cards, look at the dealer's card, and decide whether to take a card"
    choices = '"stand" or "hit"'

    def mistake(self, env: gym.Env, advice: Advice, rng: np.random.Generator) -> Advice:
        """The other action, with the expert's hand and true values but the conclusion reversed:
        ``"Your total is 18 against the dealer's ace: hitting expects -0.72 and standing -0.38, so hit."``"""
        words = env.unwrapped.action_words
        word = words[1 - words.index(advice.word)]
        return Advice(words.index(word), word, BlackjackExpert.explain(advice.facts, word), advice.facts)


def _well_formed_next(formula: list[str], unused: Counter[int], words: tuple[str, ...]) -> set[str]:
    """The action words that keep ``formula`` a well-formed start using only unused cards."""
    expect_operand, depth = True, 0
    for token in formula:
        depth += (token == "(") - (token == ")")
        expect_operand = token in OPERATORS or token == "("
    if expect_operand:
        candidates = {str(number) for number in unused} | {"("}
    else:
        candidates = set(OPERATORS) | ({")"} if depth > 0 else set())
    return candidates & set(words)


# The paper's settings per game (num_steps 512 or 1024 per update, λ 0.5, 15,000 env steps).
_PAPER = {"thought_coef": 0.5, "total_env_steps": 15_000}
GYM_CARDS_TASKS = (
    NumberLineTask("gym_cards/NumberLine-v0", NumberLineExpert(), {**_PAPER, "num_steps": 512}),
    EZPointsTask("gym_cards/EZPoints-v0", FormulaExpert(), {**_PAPER, "num_steps": 1024}),
    Points24Task("gym_cards/Points24-v0", FormulaExpert(canonical=True), {**_PAPER, "num_steps": 1024}),
    BlackjackTask("gym_cards/Blackjack-v0", BlackjackExpert(), {**_PAPER, "num_steps": 512}),
)
