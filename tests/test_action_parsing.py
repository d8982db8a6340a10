"""parse_action: the value of the last "action" field, matched exactly against the action words."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gym_cards.action_parsing import parse_action

POINTS24 = tuple("1 2 3 4 5 6 7 8 9 10 + - * / ( ) =".split())
BLACKJACK = ("stand", "hit")
NUMBER_LINE = ("-", "+")


@pytest.mark.parametrize(
    "answer, words, expected",
    [
        ('{"thoughts": "10 + 2 = 12", "action": "10"}', POINTS24, "10"),
        ('{"action": "1"}', POINTS24, "1"),
        ('{"action": 10}', POINTS24, "10"),  # a bare JSON number
        ("{'action': '+'}", POINTS24, "+"),  # single quotes
        ('```json\n{"thoughts": "x", "action": "hit"}\n```', BLACKJACK, "hit"),  # code fence
        ('{"thoughts": "close to 21", "action": "stand"', BLACKJACK, "stand"),  # no closing brace
        ('{"thoughts": "close", "action": "stand', BLACKJACK, "stand"),  # answer cut mid-string
        ('Sure! Here is my answer: {"action": "-"} Hope that helps.', NUMBER_LINE, "-"),
        ('{"ACTION" : "  HIT  "}', BLACKJACK, "hit"),  # case and whitespace
        ('{"Action":"Stand"}', BLACKJACK, "stand"),
        ('{"action": "("}', POINTS24, "("),
        ('{"action": ")"}', POINTS24, ")"),
        ('{"action": "="}', POINTS24, "="),
        ('{"action": "+"} then {"action": "*"}', POINTS24, "*"),  # the last one counts
        ('{"thoughts": "the best action: 3", "action": "4"}', POINTS24, "4"),  # prose vs the field
        ('{"thoughts": {"nested": {"deep": "x"}}, "action": "hit"}', BLACKJACK, "hit"),  # nested braces
        ("action: +", NUMBER_LINE, "+"),  # unquoted key as a last resort
        ('{"action": "`hit`"}', BLACKJACK, "hit"),
    ],
)
def test_reads_what_models_really_write(answer, words, expected):
    parsed = parse_action(answer, words)
    assert parsed.error is None
    assert words[parsed.action] == expected


@pytest.mark.parametrize(
    "answer, words, error",
    [
        ("", POINTS24, 'no "action" field'),
        ("I think 3 + 4 is good", POINTS24, 'no "action" field'),
        ('{"action": "11"}', POINTS24, "'11' is not one of"),  # not 1, not 10
        ('{"action": "1 0"}', POINTS24, "is not one of"),
        ('{"action": "10."}', POINTS24, "is not one of"),
        ('{"action": "hit or stand"}', BLACKJACK, "is not one of"),
        ('{"action": ""}', BLACKJACK, "'' is not one of"),
        ('{"action": "hit"} {"action": "maybe"}', BLACKJACK, "'maybe'"),  # the last one counts
        ('{"action": {"value": "hit"}}', BLACKJACK, "is not one of"),
        ('{"actions": "hit"}', BLACKJACK, 'no "action" field'),
        ('{"action_type": "hit"}', BLACKJACK, 'no "action" field'),
    ],
)
def test_no_single_action_is_an_error_not_a_guess(answer, words, error):
    parsed = parse_action(answer, words)
    assert parsed.action is None and error in parsed.error


def test_ten_is_never_read_as_one_and_one_never_as_ten():
    assert POINTS24[parse_action('{"action": "10"}', POINTS24).action] == "10"
    assert POINTS24[parse_action('{"action": "1"}', POINTS24).action] == "1"
    assert parse_action('{"action": "10"}', ("1", "+")).action is None


def test_bare_words_only_when_asked():
    assert parse_action("hit", BLACKJACK).action is None
    assert parse_action("  Hit \n", BLACKJACK, bare_word=True).action == 1
    assert parse_action('{"action": "stand"}', BLACKJACK, bare_word=True).action == 0


def test_bytes_and_non_utf8_junk():
    assert parse_action(b'\xff\xfe\x00{"action": "hit"}\x80', BLACKJACK).action == 1
    assert parse_action(b"\xff\xfe\xfd", BLACKJACK).action is None
    assert "must be text" in parse_action(None, BLACKJACK).error


def test_huge_input_is_handled_quickly_and_error_is_short():
    junk = "x" * 5_000_000
    assert parse_action('{"thoughts": "' + junk + '", "action": "hit"}', BLACKJACK).action == 1
    parsed = parse_action('{"action": "' + junk, BLACKJACK)
    assert parsed.action is None and len(parsed.error) < 200


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text):
    parsed = parse_action(text, POINTS24)
    assert (parsed.action is None) != (parsed.error is None)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=50).filter(lambda t: "action" not in t.lower()),
    word=st.sampled_from(POINTS24),
    quote=st.sampled_from(['"', "'"]),
    suffix=st.sampled_from(["}", "", "\n```", '", "extra": 1}']),
)
def test_any_action_word_round_trips(prefix, word, quote, suffix):
    answer = f"{prefix}{{{quote}action{quote}: {quote}{word}{quote}{suffix}"
    assert POINTS24[parse_action(answer, POINTS24).action] == word


@pytest.mark.parametrize(
    "answer, words, expected",
    [
        # valid JSON: its top-level key counts, not one quoted inside a string value
        ('{"action": "stand", "thoughts": "\'action\': \'hit\'"}', BLACKJACK, "stand"),
        ('{"action": "stand", "thoughts": "then \\"action\\": \\"hit\\""}', BLACKJACK, "stand"),
        ('```json\n{"action": "+", "thoughts": "not {\'action\': \'-\'}"}\n```', NUMBER_LINE, "+"),
        # valid after a repair (single quotes, a missing brace): still the top-level key
        ("{'action': 'stand', 'thoughts': 'x'}", BLACKJACK, "stand"),
        ('{"action": "stand", "thoughts": "maybe \\"action\\": \\"hit\\""', BLACKJACK, "stand"),
        # a repeated top-level key: the last, as json reads it
        ('{"action": "hit", "action": "stand"}', BLACKJACK, "stand"),
        # text after the object that holds a brace (the object ends where it closes)
        ('{"action": "stand", "thoughts": "not \'action\': \'hit\'"}\nThat is all {end}', BLACKJACK, "stand"),
        ('{"action": "stand", "thoughts": "x"}\n(Done {here}; no more moves.)', BLACKJACK, "stand"),
    ],
)
def test_valid_json_is_read_by_its_top_level_action_key(answer, words, expected):
    parsed = parse_action(answer, words)
    assert parsed.error is None and words[parsed.action] == expected


def test_the_dotless_i_key_is_not_action():
    for answer in ('{"actıon": "hit"}', "{'actıon': 'hit'}", "actıon: hit"):
        parsed = parse_action(answer, BLACKJACK)
        assert parsed.action is None and 'no "action" field' in parsed.error
    assert parse_action('{"actıon": "hit", "action": "stand"}', BLACKJACK).action == 0


def test_the_action_key_span_is_the_top_level_key():
    from gym_cards.action_parsing import find_action_key

    answer = '{"action": "stand", "thoughts": "\'action\': \'hit\'"}'
    span = find_action_key(answer)
    assert answer[span.start : span.end] == '"action": '
