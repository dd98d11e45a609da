"""A small, bounded evaluator for the infix equations SVAMP uses as targets (``"( 76.0 - 25.0 )"``).

Model output is untrusted text, so it is never given to Python's ``eval``. This parser accepts only
decimal numbers, ``+ - * /``, unary minus and parentheses, and bounds the work on hostile input: the
expression length, the length of each number and the nesting depth are all capped. Python's ``ast`` or
``eval`` would accept far more than this grammar, which is why it is written by hand.
"""

from __future__ import annotations

import math
import re

MAX_LENGTH = 512  # characters in an expression
MAX_NUMBER_LENGTH = 32  # characters in one number literal
MAX_DEPTH = 64  # nested parentheses

# ASCII digits only: ``\d`` would also accept other scripts' digits, which ``float`` happily converts.
_TOKEN = re.compile(r"\s*(?:(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)|(?P<op>[-+*/()]))")


class ExpressionError(ValueError):
    """The text is not an arithmetic expression this evaluator accepts, or its value is undefined."""


def tokenize(expression: str) -> list[str]:
    """Split ``expression`` into number and operator tokens, rejecting any other character."""
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    tokens, position = [], 0
    end = len(expression.rstrip())
    while position < end:
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ExpressionError(f"unexpected character {expression[position:].lstrip()[:1]!r}")
        number = match.group("number")
        if number is not None and len(number) > MAX_NUMBER_LENGTH:
            raise ExpressionError(f"number longer than {MAX_NUMBER_LENGTH} characters")
        tokens.append(number if number is not None else match.group("op"))
        position = match.end()
    if not tokens:
        raise ExpressionError("empty expression")
    return tokens


def numbers(expression: str) -> list[float]:
    """The number literals of ``expression``, in order (SVAMP's evidence is the equation's numbers)."""
    return [float(token) for token in tokenize(expression) if _is_number(token)]


class _Parser:
    """Recursive descent over the grammar::

    expression := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := "-"* (number | "(" expression ")")
    """

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ExpressionError("expression ends too early")
        self.position += 1
        return token

    def expression(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            operator = self.take()
            value = _apply(operator, value, self.term())
        return value

    def term(self) -> float:
        value = self.factor()
        while self.peek() in ("*", "/"):
            operator = self.take()
            value = _apply(operator, value, self.factor())
        return value

    def factor(self) -> float:
        # Unary minus signs are consumed in a loop, not by recursion, so only parentheses nest.
        negative = False
        while self.peek() == "-":
            self.take()
            negative = not negative
        token = self.take()
        if token == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError(f"expression nested deeper than {MAX_DEPTH}")
            value = self.expression()
            if self.take() != ")":
                raise ExpressionError("expected ')'")
            self.depth -= 1
        elif _is_number(token):
            value = float(token)
        else:
            raise ExpressionError(f"expected a number or '(' but found {token!r}")
        return -value if negative else value


def _is_number(token: str) -> bool:
    return token[0] not in "+-*/()"


def _apply(operator: str, left: float, right: float) -> float:
    match operator:
        case "+":
            value = left + right
        case "-":
            value = left - right
        case "*":
            value = left * right
        case _:
            if right == 0:
                raise ExpressionError("division by zero")
            value = left / right
    if not math.isfinite(value):
        raise ExpressionError("the value overflows")
    return value


def evaluate(expression: str) -> float:
    """The value of ``expression``; raises ``ExpressionError`` on anything outside the grammar.

    Division by zero and any step that overflows to infinity are errors too, so every returned value is
    a finite float.
    """
    parser = _Parser(tokenize(expression))
    value = parser.expression()
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek()!r} after a complete expression")
    return value
