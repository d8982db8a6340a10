"""Reading the ``"action"`` a language model wrote, the way models really write it.

Models wrap JSON in code fences, use single quotes, drop the closing brace, add prose before
and after, and change case. :func:`parse_action` finds the value of the last ``"action"`` field
in such text and matches it *exactly* (after trimming and lower-casing) against the env's action
words, so ``"10"`` is never read as ``"1"``. Nothing is evaluated; the text is only scanned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A quoted key ("action" or 'action') followed by a colon; bare `action:` is a fallback only,
# because prose inside thoughts ("the best action: hit") would otherwise compete with the field.
_QUOTED_KEY = re.compile(r"""["']action["']\s*:\s*""", re.IGNORECASE)
_BARE_KEY = re.compile(r"""\baction\s*:\s*""", re.IGNORECASE)
_BARE_VALUE_END = re.compile(r"""[,}\]\n]""")
_TRIM = " \t\r\n\"'`"


@dataclass(frozen=True)
class ParsedAction:
    """What was read from an answer.

    :param action: the env action, or ``None`` when no single action could be read.
    :param value: the text found as the action's value (``None`` if there was no action field).
    :param error: why no action could be read, or ``None`` on success.
    """

    action: int | None
    value: str | None
    error: str | None


def _value_after(text: str, start: int) -> str:
    """The field value that starts at ``text[start]``: quoted (to its quote or line end) or bare."""
    if start < len(text) and text[start] in "\"'":
        ends = [i for i in (text.find(text[start], start + 1), text.find("\n", start + 1)) if i >= 0]
        return text[start + 1 : min(ends, default=len(text))]
    bare_end = _BARE_VALUE_END.search(text, start)
    return text[start : bare_end.start() if bare_end else len(text)]


def find_action_key(text: str) -> re.Match | None:
    """The last ``"action"`` key in ``text`` (quoted keys first; bare ``action:`` as a fallback).

    The match spans the key and its colon; ``match.start()`` is where the action part of an
    answer begins, which is also how the trainer splits thought tokens from action tokens.
    """
    for pattern in (_QUOTED_KEY, _BARE_KEY):
        last = None
        for last in pattern.finditer(text):
            pass
        if last is not None:
            return last
    return None


def parse_action(answer: str | bytes, action_words: Sequence[str], bare_word: bool = False) -> ParsedAction:
    """Find the last ``"action"`` field in ``answer`` and match its value to an action word.

    :param answer: the model's raw answer (bytes are decoded as UTF-8, invalid bytes replaced).
    :param action_words: the env's action words; action ``i`` is ``action_words[i]``.
    :param bare_word: also accept an answer that is nothing but an action word (for people
        typing at a terminal); models are held to the JSON field.
    :return: a :class:`ParsedAction`; ``action`` is ``None`` when nothing could be read.
    """
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", errors="replace")
    if not isinstance(answer, str):
        return ParsedAction(None, None, f"the answer must be text, got {type(answer).__name__}")
    words = [word.lower() for word in action_words]
    if bare_word and answer.strip(_TRIM).lower() in words:
        value = answer.strip(_TRIM)
        return ParsedAction(words.index(value.lower()), value, None)
    key = find_action_key(answer)
    if key is None:
        if bare_word:
            return ParsedAction(None, None, f"{_shorten(answer.strip())!r} is not one of {list(action_words)}")
        return ParsedAction(None, None, 'no "action" field in the answer')
    value = _value_after(answer, key.end()).strip(_TRIM)
    if value.lower() in words:
        return ParsedAction(words.index(value.lower()), value, None)
    return ParsedAction(None, value, f"action {_shorten(value)!r} is not one of {list(action_words)}")


def _shorten(text: str, limit: int = 40) -> str:
    """Keep error messages short whatever the model wrote."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
