"""Schema-shaped replies through the real SDK: with a JSON schema in `response_format` the answer
validates against it (checked with jsonschema), and the `schema_violation` fault makes it break
the schema in each of its ways, so a runner can prove it reports violations."""

from __future__ import annotations

import json

import jsonschema
import pytest

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"
INVOICE = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string", "minLength": 3},
        "total": {"type": "number", "minimum": 0, "maximum": 10000},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "paid": {"type": "boolean"},
        "lines": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/$defs/line"},
        },
        "due": {"type": "string", "format": "date"},
        "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["vendor", "total", "currency", "lines"],
    "additionalProperties": False,
    "$defs": {
        "line": {
            "type": "object",
            "properties": {"item": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            "required": ["item", "qty"],
        }
    },
}
LIST = {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4}


def fmt(schema):
    return {"type": "text", "mime_type": "application/json", "schema": schema}


@pytest.mark.parametrize("schema", [INVOICE, LIST, {"type": "integer", "minimum": 5, "maximum": 9}])
def test_replies_validate_against_their_schema(api, schema):
    done = api.create(
        model=MODEL, input="Extract the invoice of Acme Ltd", response_format=fmt(schema)
    )
    jsonschema.validate(json.loads(done.output_text), schema)


def test_a_background_research_job_answers_in_its_schema(client, emulator, clock):
    emulator.backend.configure(speed=600)
    created = client.interactions.create(
        agent=AGENT, input="Glass recycling rates", background=True, response_format=fmt(INVOICE)
    )
    clock.advance(5)
    done = client.interactions.get(created.id)
    assert done.status == "completed"
    jsonschema.validate(json.loads(done.output_text), INVOICE)


@pytest.mark.parametrize(
    ("mode", "broken_by"),
    [("missing_required", "required"), ("wrong_type", "type"), ("not_json", None)],
)
def test_a_fault_makes_the_reply_violate_its_schema(client, emulator, mode, broken_by):
    emulator.backend.faults.add(kind="schema_violation", mode=mode, times=1)
    plain = client.interactions.create(model=MODEL, input="No schema here")
    assert plain.status == "completed"  # a reply without a schema does not use the fault up
    broken = client.interactions.create(
        model=MODEL, input="Acme invoice", response_format=fmt(INVOICE)
    )
    if broken_by is None:
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken.output_text)
    else:
        with pytest.raises(jsonschema.ValidationError) as invalid:
            jsonschema.validate(json.loads(broken.output_text), INVOICE)
        assert invalid.value.validator == broken_by
    again = client.interactions.create(
        model=MODEL, input="Acme invoice", response_format=fmt(INVOICE)
    )
    jsonschema.validate(json.loads(again.output_text), INVOICE)  # the fault fired once


def test_a_violation_can_target_a_label(client, emulator):
    emulator.backend.faults.add(kind="schema_violation", mode="wrong_type", label="row=7")
    for row in ("6", "7", "8"):
        done = client.interactions.create(
            model=MODEL, input="Acme invoice", response_format=fmt(INVOICE), labels={"row": row}
        )
        valid = jsonschema.Draft202012Validator(INVOICE).is_valid(json.loads(done.output_text))
        assert valid == (row != "7"), row


def test_wrong_type_breaks_a_root_that_is_not_an_object(client, emulator):
    emulator.backend.faults.add(kind="schema_violation", mode="wrong_type", times=1)
    done = client.interactions.create(model=MODEL, input="Some words", response_format=fmt(LIST))
    assert not jsonschema.Draft202012Validator(LIST).is_valid(json.loads(done.output_text))
