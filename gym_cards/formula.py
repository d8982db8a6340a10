"""Exact, safe evaluation of the formulas that agents build token by token.

A small recursive-descent grammar over :class:`fractions.Fraction`; nothing is ever ``eval``-ed::

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


class _Invalid(Exception):
    """Internal signal: the token list is not a valid formula."""


class _Parser:
    def __init__(self, tokens: Sequence[str | int]) -> None:
        self.tokens = [str(t) for t in tokens]
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Invalid("formula ends too early")
        self.pos += 1
        return token

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.factor()
            if op == "*":
                value = value * rhs
            elif rhs == 0:
                raise _Invalid("division by zero")
            else:
                value = value / rhs
        return value

    def factor(self) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise _Invalid("missing ')'")
            return value
        if token.isascii() and token.isdigit():
            return Fraction(int(token))
        raise _Invalid(f"unexpected token {token!r}")


def evaluate(tokens: Sequence[str | int]) -> Fraction | None:
    """The exact value of a formula given as tokens, or ``None`` if it is not a valid formula.

    :param tokens: numbers (``int`` or digit strings) and the symbols ``+ - * / ( )``.
    :return: a :class:`~fractions.Fraction`, or ``None`` for an empty, malformed or
        division-by-zero formula.
    """
    parser = _Parser(tokens)
    try:
        value = parser.expr()
    except _Invalid:
        return None
    if parser.pos != len(parser.tokens):
        return None
    return value


def numbers_in(tokens: Sequence[str | int]) -> list[int]:
    """The numbers a formula uses, in order (to check that every card is used exactly once)."""
    return [int(t) for t in map(str, tokens) if t.isascii() and t.isdigit()]
