"""Reading the ``"action"`` a language model wrote, the way models really write it.

Models wrap JSON in code fences, use single quotes, drop the closing brace, add prose before
and after, and change case. :func:`parse_action` reads the answer in two ways, and matches what it
finds *exactly* (after trimming and lower-casing) against the env's action words, so ``"10"`` is
never read as ``"1"``:

1. As JSON: the object from the first ``{`` to the last ``}`` (after the usual repairs: a
   missing closing quote or brace, single quotes) is parsed with ``json``, and its *top-level*
   ``"action"`` key counts. ``{"action": "stand", "thoughts": "'action': 'hit'"}`` is ``stand``.
2. Otherwise a lenient scan: the value after the last ``"action":`` key anywhere in the text.

Keys are matched in ASCII only: the dotless ``"actıon"`` is not ``"action"``. Nothing is
evaluated; the text is only parsed as JSON or scanned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

# A quoted key ("action" or 'action') followed by a colon; bare `action:` is a fallback only,
# because prose inside thoughts ("the best action: hit") would otherwise compete with the field.
# ASCII: with Unicode case folding, IGNORECASE would let "actıon" (dotless i) pass for "action".
_QUOTED_KEY = re.compile(r"""["']action["']\s*:\s*""", re.IGNORECASE | re.ASCII)
_BARE_KEY = re.compile(r"""\baction\s*:\s*""", re.IGNORECASE | re.ASCII)
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


class KeySpan(NamedTuple):
    """Where an ``"action"`` key (with its colon and the spaces after it) sits in an answer."""

    start: int
    end: int


def _json_answer(text: str) -> tuple[dict, str] | None:
    """The answer's JSON object and the text it was parsed from (the answer from its first ``{``,
    repaired), or None when no repair makes one. First the object that starts at the first ``{``
    and ends where it closes, when no ``action`` key follows it; then, up to the last ``}``,
    repairs, tried in order: none, a closing ``}``,
    a closing ``"}``, then each of those with single quotes made double (when there are no double
    quotes). Every repair keeps the characters where they were, so spans in the parsed text are
    spans in the answer."""
    first = text.find("{")
    if first < 0:
        return None
    try:  # a whole object first: prose after it holding a "}" must not spoil it
        value, end = json.JSONDecoder().raw_decode(text, first)
    except (ValueError, RecursionError):
        pass
    else:  # unless an "action" key follows it: then the last one counts, as the lenient scan reads it
        if isinstance(value, dict) and not _QUOTED_KEY.search(text, end) and not _BARE_KEY.search(text, end):
            return value, " " * first + text[first:end]
    last = text.rfind("}")
    body = text[first : last + 1] if last > first else text[first:]
    candidates = [body, body + "}", body + '"}']
    if '"' not in body:
        candidates += [c.replace("'", '"') for c in candidates]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value, " " * first + candidate
    return None


_SPACES = re.compile(r"[ \t\r\n]*")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')


def _top_level_keys(text: str) -> list[tuple[str, KeySpan]]:
    """The keys of the JSON object that starts at the first ``{`` of ``text`` (valid JSON), each
    with the span from its opening quote through the colon and the spaces after it."""
    keys: list[tuple[str, KeySpan]] = []
    depth, expect_key, pending = 0, False, None
    for token in _JSON_TOKEN.finditer(text, text.find("{")):
        kind = token.group()
        if kind[0] == '"':
            pending = token if depth == 1 and expect_key else None
            expect_key = False
        elif kind == ":":
            if pending is not None:
                after = _SPACES.match(text, token.end()).end()
                keys.append((json.loads(pending.group()), KeySpan(pending.start(), after)))
            pending = None
        elif kind in "{[":
            depth += 1
            expect_key = kind == "{" and depth == 1
        elif kind in "}]":
            depth -= 1
            if depth == 0:
                break
        elif kind == "," and depth == 1:
            expect_key = True
    return keys


def _top_level_action(text: str) -> tuple[object, KeySpan] | None:
    """The top-level ``"action"`` value of the answer's JSON object and its key's span, if any."""
    parsed = _json_answer(text)
    if parsed is None:
        return None
    value, source = parsed
    for key, span in reversed(_top_level_keys(source)):  # a repeated key: json keeps the last value
        if key.lower() == "action" and key.isascii():
            return value[key], span
    return None


def _value_after(text: str, start: int) -> str:
    """The field value that starts at ``text[start]``: quoted (to its quote or line end) or bare."""
    if start < len(text) and text[start] in "\"'":
        ends = [i for i in (text.find(text[start], start + 1), text.find("\n", start + 1)) if i >= 0]
        return text[start + 1 : min(ends, default=len(text))]
    bare_end = _BARE_VALUE_END.search(text, start)
    return text[start : bare_end.start() if bare_end else len(text)]


def find_action_key(text: str) -> KeySpan | None:
    """The ``"action"`` key that :func:`parse_action` reads: the top-level key of the answer's
    JSON object, else the last quoted key in the text, else the last bare ``action:``.

    The span covers the key and its colon; ``span.start`` is where the action part of an answer
    begins, which is also how the trainer splits thought tokens from action tokens.
    """
    return _key_span(text, _top_level_action(text))


def _key_span(text: str, top: tuple[object, KeySpan] | None) -> KeySpan | None:
    """:func:`find_action_key` given the answer's top-level action (parsed once by the caller)."""
    if top is not None:
        return top[1]
    for pattern in (_QUOTED_KEY, _BARE_KEY):
        matches = list(pattern.finditer(text))
        if matches:
            return KeySpan(matches[-1].start(), matches[-1].end())
    return None


def parse_action(answer: str | bytes, action_words: Sequence[str], bare_word: bool = False) -> ParsedAction:
    """Read the answer's ``"action"`` (see the module docstring) and match it to an action word.

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
    top = _top_level_action(answer)
    if top is not None:
        value = top[0] if isinstance(top[0], str) else json.dumps(top[0])
        value = value.strip(_TRIM)
        if value.lower() in words:
            return ParsedAction(words.index(value.lower()), value, None)
        return ParsedAction(None, value, f"action {_shorten(value)!r} is not one of {list(action_words)}")
    key = _key_span(answer, None)  # no top-level action: the JSON need not be parsed again
    if key is None:
        if bare_word:
            return ParsedAction(None, None, f"{_shorten(answer.strip())!r} is not one of {list(action_words)}")
        return ParsedAction(None, None, 'no "action" field in the answer')
    value = _value_after(answer, key.end).strip(_TRIM)
    if value.lower() in words:
        return ParsedAction(words.index(value.lower()), value, None)
    return ParsedAction(None, value, f"action {_shorten(value)!r} is not one of {list(action_words)}")


def _shorten(text: str, limit: int = 40) -> str:
    """Keep error messages short whatever the model wrote."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
