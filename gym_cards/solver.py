"""Exhaustive search for formulas that reach a target with every number used exactly once.

The search combines two numbers at a time with exact rationals, so it finds every value any
parenthesisation can reach. Solutions come back as token lists in the env's own vocabulary,
with only the parentheses that precedence requires, so the env's evaluator can check them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from fractions import Fraction

from gym_cards.formula import OPERATORS, apply_operator, evaluate

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _tokens(expr, parent_op: str | None = None, is_right: bool = False) -> list[str]:
    if isinstance(expr, int):
        return [str(expr)]
    op, left, right = expr
    inner = _tokens(left, op, False) + [op] + _tokens(right, op, True)
    needs_parentheses = parent_op is not None and (
        _PRECEDENCE[op] < _PRECEDENCE[parent_op]
        or (is_right and _PRECEDENCE[op] == _PRECEDENCE[parent_op] and parent_op in "-/")
    )
    return ["(", *inner, ")"] if needs_parentheses else inner


def _search(items: list[tuple[Fraction, object]], target: Fraction, operators: Sequence[str], all_orders: bool):
    if len(items) == 1:
        if items[0][0] == target:
            yield items[0][1]
        return
    for i in range(len(items)):
        for j in range(len(items)):
            if i == j:
                continue
            rest = [item for k, item in enumerate(items) if k not in (i, j)]
            (a, expr_a), (b, expr_b) = items[i], items[j]
            for op in operators:
                if op in "+*" and i > j and not all_orders:  # commutative: one order is enough
                    continue
                value = apply_operator(a, b, op)
                if value is not None:
                    yield from _search([*rest, (value, (op, expr_a, expr_b))], target, operators, all_orders)


def solutions(
    numbers: Sequence[int],
    target: int = 24,
    operators: Sequence[str] = OPERATORS,
    parentheses: bool = True,
    all_orders: bool = False,
) -> Iterator[list[str]]:
    """Every distinct formula (as tokens) that uses each number once and equals ``target``.

    :param numbers: the card values on the table.
    :param target: the value to reach.
    :param operators: the binary operators allowed (a subset of ``+ - * /``).
    :param parentheses: whether formulas may use parentheses; without them, solutions that
        need parentheses are left out.
    :param all_orders: also write ``b + a`` beside ``a + b`` (and so on), so that any order a
        player starts in can be completed; by default one order per commutative step.
    """
    unknown = set(operators) - set(OPERATORS)
    if unknown:
        raise ValueError(f"unknown operators {sorted(unknown)}; allowed: {OPERATORS}")
    seen: set[tuple[str, ...]] = set()
    if all_orders:  # the trees complete() searches too: one search per deal serves both
        trees = iter(_solution_trees(tuple(int(n) for n in numbers), int(target), tuple(operators)))
    else:
        trees = _search([(Fraction(n), int(n)) for n in numbers], Fraction(target), tuple(operators), all_orders)
    for expr in trees:
        tokens = _tokens(expr)
        key = tuple(tokens)
        if key in seen or (not parentheses and "(" in key):
            continue
        if evaluate(tokens) != target:  # the env's own evaluator has the last word
            raise AssertionError(f"solver and evaluator disagree on {' '.join(tokens)}")
        seen.add(key)
        yield tokens


def solve(
    numbers: Sequence[int],
    target: int = 24,
    operators: Sequence[str] = OPERATORS,
    parentheses: bool = True,
) -> list[str] | None:
    """One formula (as tokens) that uses each number once and equals ``target``, or ``None``."""
    return next(solutions(numbers, target, operators, parentheses), None)


@functools.lru_cache(maxsize=65536)
def _has_solution(sorted_numbers: tuple[int, ...], target: int, operators: tuple[str, ...], parentheses: bool) -> bool:
    return solve(sorted_numbers, target, operators, parentheses) is not None


def has_solution(
    numbers: Sequence[int],
    target: int = 24,
    operators: Sequence[str] = OPERATORS,
    parentheses: bool = True,
) -> bool:
    """Whether any formula reaches ``target``; cached, since deals repeat the same multisets."""
    return _has_solution(tuple(sorted(int(n) for n in numbers)), int(target), tuple(operators), bool(parentheses))


@functools.lru_cache(maxsize=4096)
def _solution_trees(numbers: tuple[int, ...], target: int, operators: tuple[str, ...]) -> tuple:
    """Every expression tree (``(op, left, right)`` or a number) over the numbers that equals the
    target, each operand order included, in the search's order."""
    items = [(Fraction(n), int(n)) for n in numbers]
    return tuple(dict.fromkeys(_search(items, Fraction(target), operators, all_orders=True)))


def _consume(tokens: list[str], prefix: tuple[str, ...], position: int) -> int | None:
    """Where ``prefix`` stands after ``tokens`` are written from ``position`` (past its end every
    token is free), or ``None`` where a token differs from the prefix's."""
    for token in tokens:
        if position < len(prefix):
            if prefix[position] != token:
                return None
            position += 1
    return position


def _writings(expr, parent_op: str | None, is_right: bool, prefix: tuple[str, ...], position: int) -> Iterator:
    """Each way to write ``expr`` that agrees with ``prefix`` from ``position`` on, as (tokens,
    position after): the brackets precedence requires, plus redundant ones only where the prefix
    opens them (past the prefix, none)."""
    needs = int(
        not isinstance(expr, int)
        and parent_op is not None
        and (
            _PRECEDENCE[expr[0]] < _PRECEDENCE[parent_op]
            or (is_right and _PRECEDENCE[expr[0]] == _PRECEDENCE[parent_op] and parent_op in "-/")
        )
    )
    shown = 0  # the prefix's run of "(" here
    while position + shown < len(prefix) and prefix[position + shown] == "(":
        shown += 1
    for extra in reversed(range(max(shown - needs, 0) + 1)):  # the widest bracket first
        opened = needs + extra
        start = _consume(["("] * opened, prefix, position)
        if start is None:
            continue
        for inner, after in _core(expr, prefix, start):
            end = _consume([")"] * opened, prefix, after)
            if end is not None:
                yield ["("] * opened + inner + [")"] * opened, end


def _core(expr, prefix: tuple[str, ...], position: int) -> Iterator:
    if isinstance(expr, int):
        after = _consume([str(expr)], prefix, position)
        if after is not None:
            yield [str(expr)], after
        return
    op, left, right = expr
    for left_tokens, after_left in _writings(left, op, False, prefix, position):
        after_op = _consume([op], prefix, after_left)
        if after_op is None:
            continue
        for right_tokens, after_right in _writings(right, op, True, prefix, after_op):
            yield [*left_tokens, op, *right_tokens], after_right


@functools.lru_cache(maxsize=65536)
def _completion(
    numbers: tuple[int, ...], prefix: tuple[str, ...], target: int, operators: tuple[str, ...], max_length: int
) -> tuple[str, ...] | None:
    best: tuple[str, ...] | None = None
    for tree in _solution_trees(numbers, target, operators):
        for tokens, position in _writings(tree, None, False, prefix, 0):
            if position == len(prefix) and len(tokens) <= max_length:
                if best is None or _plainness(tokens) < _plainness(best):
                    best = tuple(tokens)
                break  # one writing per tree
    if best is not None and evaluate(best) != target:  # the env's own evaluator has the last word
        raise AssertionError(f"completion and evaluator disagree on {' '.join(best)}")
    return best


def _plainness(tokens) -> tuple[int, int]:
    """Shorter first, then fewer numbers in brackets of their own (``( 2 )``)."""
    lone = sum(tokens[i] == "(" and tokens[i + 2] == ")" for i in range(len(tokens) - 2))
    return len(tokens), lone


def complete(
    numbers: Sequence[int],
    prefix: Sequence[str],
    target: int = 24,
    operators: Sequence[str] = OPERATORS,
    parentheses: bool = True,
    max_length: int | None = None,
) -> list[str] | None:
    """A formula that starts with ``prefix``, uses each number once and equals ``target``, or
    ``None`` when no formula does. Unlike :func:`solutions`, which writes only the brackets
    precedence requires, the prefix may hold redundant ones (``( 6 + 6 ) + 6 + 6``); what follows
    it adds none.

    :param prefix: the tokens written so far (numbers as digit strings, ``+ - * / ( )``).
    :param max_length: the longest formula allowed (the env's ``max_formula_length``); None: any.
    """
    prefix = tuple(map(str, prefix))
    if not parentheses and "(" in prefix:
        return None
    limit = len(prefix) + 4 * len(numbers) + 8 if max_length is None else max_length
    found = _completion(tuple(int(n) for n in numbers), prefix, int(target), tuple(operators), limit)
    if found is None or (not parentheses and "(" in found):
        return None
    return list(found)
