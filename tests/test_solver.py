"""Specification of ``gym_cards.solver``: exhaustive search for formulas that hit a target.

Every formula the solver yields must re-evaluate (with ``gym_cards.formula.evaluate``) to the
target and use each number exactly once; its yes/no verdicts are checked against an independent
brute force over permutations, operators and the five parenthesisation shapes of four operands.
"""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction

import pytest
from conftest import reference_apply
from hypothesis import given, settings
from hypothesis import strategies as st

from gym_cards.formula import OPERATORS, evaluate, numbers_in
from gym_cards.solver import complete, has_solution, solutions, solve


def toks(text: str) -> list[str]:
    return text.split()


# --------------------------------------------------------------------------------------------
# Independent brute force
# --------------------------------------------------------------------------------------------


def shapes4(a, b, c, d, x, y, z):
    """The five ways to parenthesise ``a x b y c z d``."""
    yield reference_apply(z, reference_apply(y, reference_apply(x, a, b), c), d)  # ((a.b).c).d
    yield reference_apply(z, reference_apply(x, a, reference_apply(y, b, c)), d)  # (a.(b.c)).d
    yield reference_apply(y, reference_apply(x, a, b), reference_apply(z, c, d))  # (a.b).(c.d)
    yield reference_apply(x, a, reference_apply(z, reference_apply(y, b, c), d))  # a.((b.c).d)
    yield reference_apply(x, a, reference_apply(y, b, reference_apply(z, c, d)))  # a.(b.(c.d))


def shapes(values, ops):
    """Every parenthesisation of ``values`` joined by ``ops`` (1 to 4 operands)."""
    if len(values) == 1:
        yield values[0]
    elif len(values) == 2:
        yield reference_apply(ops[0], *values)
    elif len(values) == 3:
        a, b, c = values
        x, y = ops
        yield reference_apply(y, reference_apply(x, a, b), c)
        yield reference_apply(x, a, reference_apply(y, b, c))
    else:
        yield from shapes4(*values, *ops)


def brute_force(numbers, target=24, operators=OPERATORS) -> bool:
    """Can ``numbers`` (up to four, each used once) reach ``target``, with parentheses?"""
    return _brute_force(tuple(sorted(numbers)), target, tuple(operators))


@functools.cache
def _brute_force(numbers, target, operators) -> bool:
    goal = Fraction(target)
    for order in set(itertools.permutations(numbers)):
        values = [Fraction(n) for n in order]
        for ops in itertools.product(operators, repeat=len(numbers) - 1):
            if any(v == goal for v in shapes(values, ops)):
                return True
    return False


def flat_value(values, ops) -> Fraction | None:
    """``v0 o0 v1 o1 v2 ...`` without parentheses: first * and /, then + and -, left to right."""
    terms, signs = [values[0]], []
    for op, v in zip(ops, values[1:]):
        if op in "*/":
            terms[-1] = reference_apply(op, terms[-1], v)
        else:
            signs.append(op)
            terms.append(v)
    total = terms[0]
    for sign, term in zip(signs, terms[1:]):
        total = reference_apply(sign, total, term)
    return total


def brute_force_flat(numbers, target=24, operators=OPERATORS) -> bool:
    """Can ``numbers`` reach ``target`` with a formula that has no parentheses at all?"""
    goal = Fraction(target)
    for order in set(itertools.permutations(numbers)):
        values = [Fraction(n) for n in order]
        for ops in itertools.product(operators, repeat=len(numbers) - 1):
            if flat_value(values, ops) == goal:
                return True
    return False


def test_brute_force_on_known_deals():
    """The brute force itself knows the classics."""
    assert brute_force([3, 3, 8, 8])  # 8 / (3 - 8 / 3)
    assert brute_force([1, 5, 5, 5])  # 5 * (5 - 1 / 5)
    assert not brute_force([1, 1, 1, 1])
    assert brute_force_flat([1, 2, 3, 4])
    assert not brute_force_flat([3, 3, 8, 8])
    assert flat_value([Fraction(2), Fraction(3), Fraction(4)], "+*") == 14
    assert flat_value([Fraction(10), Fraction(4), Fraction(3)], "--") == 3


# --------------------------------------------------------------------------------------------
# Every solution is a real solution
# --------------------------------------------------------------------------------------------


def assert_valid_solutions(numbers, target=24, operators=OPERATORS, parentheses=True):
    found = list(solutions(numbers, target, operators, parentheses))
    for tokens in found:
        assert evaluate(tokens) == Fraction(target), tokens
        assert sorted(numbers_in(tokens)) == sorted(numbers), tokens
        assert all(isinstance(t, str) for t in tokens), tokens
        used_ops = {t for t in tokens if t in OPERATORS}
        assert used_ops <= set(operators), tokens
        if not parentheses:
            assert "(" not in tokens and ")" not in tokens, tokens
    assert len({tuple(t) for t in found}) == len(found), "solutions repeat"
    return found


@pytest.mark.parametrize("deal", [[3, 3, 8, 8], [1, 2, 3, 4], [4, 7, 8, 8], [1, 5, 5, 5], [6, 6, 6, 6]])
def test_sample_deals_yield_valid_distinct_solutions(deal):
    found = assert_valid_solutions(deal)
    assert found, "each of these deals can make 24"
    assert solve(deal) in found
    assert has_solution(deal)


four_cards = st.lists(st.integers(min_value=1, max_value=13), min_size=4, max_size=4)


@settings(max_examples=40, deadline=None)
@given(four_cards)
def test_drawn_deals_yield_valid_solutions_and_correct_verdicts(deal):
    found = assert_valid_solutions(deal)
    assert bool(found) == brute_force(deal) == has_solution(deal)
    assert (solve(deal) is None) == (not found)


# A deal of 1-4 cards, any target (negative ones too) and a subset of the operators.
ANY_DEAL_TARGET_OPERATORS = (
    st.lists(st.integers(min_value=1, max_value=13), min_size=1, max_size=4),
    st.integers(min_value=-5, max_value=30),
    st.lists(st.sampled_from(OPERATORS), min_size=1, max_size=4, unique=True),
)


@settings(max_examples=40, deadline=None)
@given(*ANY_DEAL_TARGET_OPERATORS)
def test_any_target_and_operator_subset(deal, target, operators):
    found = assert_valid_solutions(deal, target, operators)
    assert bool(found) == brute_force(deal, target, operators)
    assert has_solution(deal, target, operators) == bool(found)


@settings(max_examples=40, deadline=None)
@given(*ANY_DEAL_TARGET_OPERATORS)
def test_without_parentheses_finds_exactly_the_flat_solutions(deal, target, operators):
    """No parentheses in any answer, and a flat solution is found whenever one exists."""
    found = assert_valid_solutions(deal, target, operators, parentheses=False)
    assert bool(found) == brute_force_flat(deal, target, operators)
    assert has_solution(deal, target, operators, parentheses=False) == bool(found)


# --------------------------------------------------------------------------------------------
# Verdicts against the brute force on every deal of cards 1..10
# --------------------------------------------------------------------------------------------

ALL_DEALS_1_TO_10 = list(itertools.combinations_with_replacement(range(1, 11), 4))


def test_every_deal_of_1_to_10_agrees_with_brute_force():
    assert len(ALL_DEALS_1_TO_10) == 715
    disagreements = [d for d in ALL_DEALS_1_TO_10 if has_solution(d) != brute_force(d)]
    assert disagreements == []


def test_566_of_the_715_deals_of_1_to_10_make_24():
    """A published fact about the 24 game, checked by the brute force and by the solver."""
    assert sum(brute_force(d) for d in ALL_DEALS_1_TO_10) == 566
    assert sum(has_solution(d) for d in ALL_DEALS_1_TO_10) == 566


def test_has_solution_ignores_order_and_accepts_tuples():
    assert has_solution((8, 3, 8, 3)) == has_solution([3, 3, 8, 8]) is True
    assert has_solution([1, 1, 1, 1]) is False


# --------------------------------------------------------------------------------------------
# Classic deals
# --------------------------------------------------------------------------------------------


def test_3_3_8_8_needs_eight_over_three_minus_eight_thirds():
    found = assert_valid_solutions([3, 3, 8, 8])
    assert toks("8 / ( 3 - 8 / 3 )") in found
    assert all("/" in f and "(" in f for f in found)  # no way around a division and parentheses
    assert not has_solution([3, 3, 8, 8], parentheses=False)
    assert list(solutions([3, 3, 8, 8], parentheses=False)) == []


def test_1_1_1_1_is_unsolvable():
    assert list(solutions([1, 1, 1, 1])) == []
    assert solve([1, 1, 1, 1]) is None
    assert has_solution([1, 1, 1, 1]) is False


def test_1_5_5_5_uses_a_fraction():
    assert toks("5 * ( 5 - 1 / 5 )") in assert_valid_solutions([1, 5, 5, 5])


# --------------------------------------------------------------------------------------------
# EZPoints: two cards, target 12, only + and *, no parentheses
# --------------------------------------------------------------------------------------------

EZ = {"target": 12, "operators": ("+", "*"), "parentheses": False}


def test_ez_points_3_4_multiplies():
    found = assert_valid_solutions([3, 4], **EZ)
    assert toks("3 * 4") in found
    assert all("*" in f for f in found)  # 3 + 4 = 7


def test_ez_points_6_6_adds():
    found = assert_valid_solutions([6, 6], **EZ)
    assert toks("6 + 6") in found
    assert all("+" in f for f in found)  # 6 * 6 = 36


def test_ez_points_unsolvable_pairs():
    assert not has_solution([5, 5], **EZ)  # 10 or 25
    assert solve([5, 5], **EZ) is None
    assert not has_solution([1, 1], **EZ)


def test_ez_points_never_uses_minus_or_divide():
    assert solve([2, 10], **EZ) == toks("2 + 10")
    assert not has_solution([13, 1], **EZ)  # 13 - 1 would need "-"
    assert not has_solution([2, 6], target=3, operators=("+", "*"), parentheses=False)  # 6 / 2


@pytest.mark.parametrize("pair", list(itertools.combinations_with_replacement(range(1, 11), 2)))
def test_ez_points_verdicts_match_brute_force(pair):
    assert has_solution(pair, **EZ) == brute_force_flat(pair, 12, ("+", "*"))


# --------------------------------------------------------------------------------------------
# Without parentheses
# --------------------------------------------------------------------------------------------


def test_no_parentheses_still_finds_flat_solutions():
    found = assert_valid_solutions([1, 2, 3, 4], parentheses=False)
    assert found
    assert has_solution([1, 2, 3, 4], parentheses=False)
    assert any(set(f) == {"1", "2", "3", "4", "*"} for f in found)  # e.g. 1 * 2 * 3 * 4


@pytest.mark.parametrize("deal", [[1, 2, 3, 4], [4, 7, 8, 8], [6, 6, 6, 6], [1, 5, 5, 5], [2, 2, 10, 10]])
def test_no_parentheses_never_yields_parentheses(deal):
    for tokens in solutions(deal, parentheses=False):
        assert "(" not in tokens and ")" not in tokens


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operators", [("+", "^"), ("**",), ("%",), ("+", "-", "x")])
def test_unknown_operators_raise_value_error(operators):
    with pytest.raises(ValueError):
        list(solutions([1, 2, 3, 4], operators=operators))
    with pytest.raises(ValueError):
        solve([1, 2, 3, 4], operators=operators)
    with pytest.raises(ValueError):
        has_solution([1, 2, 3, 4], operators=operators)


# --------------------------------------------------------------------------------------------
# Completing a formula already started, redundant brackets included
# --------------------------------------------------------------------------------------------


def formulas_up_to(numbers: list[int], max_length: int, tokens=("+", "-", "*", "/")):
    """Every grammatical token sequence of at most ``max_length`` tokens that uses each number
    exactly once (any brackets, redundant ones too): an independent brute force."""
    found = []

    def extend(sequence, expect_operand, depth, unused):
        if not expect_operand and depth == 0 and not unused:
            found.append(tuple(sequence))
        room = max_length - len(sequence)
        if room <= 0:
            return
        if expect_operand:
            if room >= 2 * len(unused) + depth + 1:  # after "(": the numbers, their operators, every ")"
                extend([*sequence, "("], True, depth + 1, unused)
            for number in sorted(set(unused)):
                rest = list(unused)
                rest.remove(number)
                extend([*sequence, str(number)], False, depth, tuple(rest))
        else:
            if unused:
                for op in tokens:
                    extend([*sequence, op], True, depth, unused)
            if depth:
                extend([*sequence, ")"], False, depth - 1, unused)

    extend([], True, 0, tuple(numbers))
    return found


@pytest.mark.parametrize("numbers, target, max_length", [([4, 6], 24, 7), ([2, 3, 4], 24, 9), ([1, 5, 5], 24, 9)])
def test_a_prefix_is_completed_exactly_when_some_formula_within_the_length_starts_with_it(numbers, target, max_length):
    winners = [f for f in formulas_up_to(numbers, max_length) if evaluate(list(f)) == target]
    assert winners  # the instances are solvable
    prefixes = {f[:k] for f in formulas_up_to(numbers, max_length) for k in range(len(f) + 1)}
    completable = {w[:k] for w in winners for k in range(len(w) + 1)}
    for prefix in prefixes:
        found = complete(numbers, list(prefix), target, max_length=max_length)
        assert (found is not None) == (prefix in completable), prefix
        if found is not None:
            assert tuple(found[: len(prefix)]) == prefix and len(found) <= max_length
            assert evaluate(found) == target and sorted(numbers_in(found)) == sorted(numbers)


def test_redundant_brackets_on_the_table_still_lead_to_24():
    # the solver writes only the brackets precedence requires; none of these prefixes is on its list
    for numbers, prefix in [([6, 6, 6, 6], "("), ([10, 2, 4, 1], "( 10 * 2 )"), ([2, 3, 4, 1], "1 * ( ( (")]:
        assert not any(tuple(s[: len(toks(prefix))]) == tuple(toks(prefix)) for s in solutions(numbers, all_orders=True))
        found = complete(numbers, toks(prefix))
        assert found[: len(toks(prefix))] == toks(prefix) and evaluate(found) == 24
    assert complete([6, 6, 6, 6], toks("( ( ( ( ( ( ("), max_length=20) is None  # 7 pairs + 4 cards + 3 ops > 20
    assert complete([3, 3, 8, 8], toks("3 + 3")) is None and complete([1, 1, 1, 1], []) is None
    assert complete([4, 6], toks("( 4 * 6 )"), parentheses=False) is None
