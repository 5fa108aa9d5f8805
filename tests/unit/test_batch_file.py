"""Reading batch files: every bad line named with its number and why; identities that survive a
re-run; plain text and JSON Lines."""

from __future__ import annotations

import json

import pytest

from jobs.errors import UsageError
from jobs.service import SubmitSpec
from jobs.service.batch_file import BatchFileError, parse_batch


def jsonl(*items) -> bytes:
    return "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items).encode()


def test_every_bad_line_is_reported_with_its_number_and_reason():
    raw = jsonl(
        {"prompt": "fine"},
        {"prompt": "bad model", "model": 5},
        "",
        '{"prompt": "broken"',
        {"prompt": "x", "colour": "red"},
        {"model": "m"},
        {"prompt": "both", "model": "m", "agent": "a"},
        {"prompt": "tier", "service_tier": "gold"},
        {"prompt": "label", "labels": {"Bad Key": "v"}},
        ["not", "an", "object"],
        {"prompt": "   "},
    )
    with pytest.raises(BatchFileError) as caught:
        parse_batch(raw, source="night.jsonl")
    errors = {e.line_no: e.message for e in caught.value.errors}
    assert sorted(errors) == [2, 4, 5, 6, 7, 8, 9, 10, 11]  # line 3 is blank, 1 is fine
    assert "'model' must be a string" in errors[2]
    assert "not valid JSON" in errors[4]
    assert "unknown field 'colour'" in errors[5]
    assert "missing 'prompt'" in errors[6]
    assert "not both" in errors[7]
    assert "service_tier 'gold'" in errors[8]
    assert "bad label" in errors[9]
    assert "expected a JSON object" in errors[10]
    assert "empty" in errors[11]
    assert str(caught.value) == "night.jsonl: 9 bad lines; nothing recorded or sent"


def test_duplicate_keys_are_refused_naming_the_first_line():
    raw = jsonl(
        {"prompt": "a", "key": "k1"}, {"prompt": "b", "key": "k2"}, {"prompt": "c", "key": "k1"}
    )
    with pytest.raises(BatchFileError) as caught:
        parse_batch(raw, source="f.jsonl")
    [error] = caught.value.errors
    assert error.line_no == 3 and "already used on line 1" in error.message


def test_plain_text_is_one_prompt_per_line_and_blank_lines_keep_numbers():
    parsed = parse_batch(b"first prompt\n\n  second prompt  \n", source="p.txt")
    assert parsed.format == "text"
    assert [(line.line_no, line.spec.prompt) for line in parsed.lines] == [
        (1, "first prompt"),
        (3, "second prompt"),
    ]


def test_format_is_sniffed_when_the_name_does_not_say():
    assert parse_batch(b'{"prompt": "a"}\n', source="-").format == "jsonl"
    assert parse_batch(b"just words\n", source="-").format == "text"


def test_line_identity_is_the_key_else_position_and_content():
    first = parse_batch(jsonl({"prompt": "a", "key": "k"}, {"prompt": "b"}), source="f.jsonl")
    # the keyed line changed its prompt and moved: still the same line; the other moved: a new one
    second = parse_batch(
        jsonl({"prompt": "new"}, {"prompt": "a (edited)", "key": "k"}, {"prompt": "b"}),
        source="f.jsonl",
    )
    assert first.lines[0].line_key == "key:k" == second.lines[1].line_key
    assert first.lines[1].line_key.startswith("pos:2:")
    assert first.lines[1].line_key != second.lines[2].line_key  # position 3 now
    again = parse_batch(jsonl({"prompt": "a", "key": "k"}, {"prompt": "b"}), source="f.jsonl")
    assert [line.line_key for line in again.lines] == [line.line_key for line in first.lines]
    assert again.content_hash == first.content_hash


def test_options_of_the_command_are_defaults_lines_override():
    defaults = SubmitSpec(prompt="", model="m-default", system="be brief", labels={"run": "n1"})
    parsed = parse_batch(
        jsonl({"prompt": "a"}, {"prompt": "b", "agent": "deep", "labels": {"run": "n2", "x": "y"}}),
        source="f.jsonl",
        defaults=defaults,
    )
    a, b = (line.spec for line in parsed.lines)
    assert (a.model, a.agent, a.system, a.labels) == ("m-default", None, "be brief", {"run": "n1"})
    assert (b.model, b.agent, b.labels) == (None, "deep", {"run": "n2", "x": "y"})


def test_an_empty_file_and_non_utf8_are_refused():
    with pytest.raises(UsageError, match="no prompts"):
        parse_batch(b"\n\n", source="empty.txt")
    with pytest.raises(BatchFileError) as caught:
        parse_batch(b"ok\nbad \xff byte\n", source="latin.txt")
    assert caught.value.errors[0].line_no == 2
