"""Exact, safe evaluation of the formulas that agents build token by token.

A small grammar over :class:`fractions.Fraction`; nothing is ever ``eval``-ed::

    expr   := term   (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := NUMBER | "(" expr ")"

There are no unary operators, no exponentiation (``* *`` is a syntax error) and no digit
concatenation (two numbers side by side are a syntax error). Division by zero makes the formula
invalid. :func:`evaluate` returns ``None`` for every invalid formula and never raises on one.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

OPERATORS = ("+", "-", "*", "/")
PARENTHESES = ("(", ")")


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _number(token: str) -> int | None:
    """The token as a non-negative int, or ``None`` if it is not a plain run of ASCII digits."""
    if not (token.isascii() and token.isdigit()):
        return None
    try:
        return int(token)
    except ValueError:  # more digits than Python will convert
        return None


def apply_operator(a: Fraction, b: Fraction, op: str) -> Fraction | None:
    """``a op b`` exactly; ``None`` for division by zero."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b != 0 else None


def _apply(values: list[Fraction], op: str) -> bool:
    """Replace the top two values by ``a op b``; ``False`` on division by zero."""
    b, a = values.pop(), values.pop()
    result = apply_operator(a, b, op)
    if result is None:
        return False
    values.append(result)
    return True


def evaluate(tokens: Sequence[str | int]) -> Fraction | None:
    """The exact value of a formula given as tokens, or ``None`` if it is not a valid formula.

    Iterative (shunting-yard with an operand/operator state), so deep nesting cannot exhaust
    the stack.

    :param tokens: numbers (``int`` or digit strings) and the symbols ``+ - * / ( )``.
    :return: a :class:`~fractions.Fraction`, or ``None`` for an empty, malformed or
        division-by-zero formula.
    """
    values: list[Fraction] = []
    pending: list[str] = []  # operators and open parentheses not applied yet
    expect_operand = True
    for token in map(str, tokens):
        if expect_operand:
            if token == "(":
                pending.append(token)
                continue
            number = _number(token)
            if number is None:
                return None
            values.append(Fraction(number))
            expect_operand = False
        elif token in _PRECEDENCE:
            while pending and pending[-1] != "(" and _PRECEDENCE[pending[-1]] >= _PRECEDENCE[token]:
                if not _apply(values, pending.pop()):
                    return None
            pending.append(token)
            expect_operand = True
        elif token == ")":
            while pending and pending[-1] != "(":
                if not _apply(values, pending.pop()):
                    return None
            if not pending:
                return None
            pending.pop()
        else:
            return None
    if expect_operand:
        return None
    while pending:
        op = pending.pop()
        if op == "(" or not _apply(values, op):
            return None
    return values[0]


def numbers_in(tokens: Sequence[str | int]) -> list[int]:
    """The numbers a formula uses, in order (to check that every card is used exactly once)."""
    return [n for n in map(_number, map(str, tokens)) if n is not None]
