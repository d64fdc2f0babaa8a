"""portal.uuids and the form fields built on it: the one reading of text as an id."""

from __future__ import annotations

import uuid

import pytest
from werkzeug.datastructures import MultiDict
from wtforms import Form
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from portal.forms import CheckboxesField, UUIDField
from portal.uuids import is_uuid_text, parse_uuid, parse_uuids, to_uuid

ID = uuid.UUID("6f1c2a4e-9b7d-4c3e-8a5f-0123456789ab")


@pytest.mark.parametrize("text", [str(ID), str(ID).upper(), ID.hex, "{" + str(ID) + "}", "urn:uuid:" + str(ID)])
def test_every_spelling_uuid_reads_is_an_id(text: str) -> None:
    assert parse_uuid(text) == ID
    assert to_uuid(text) == ID


@pytest.mark.parametrize("value", ["", "nope", str(ID)[:-1], str(ID) + "0", "ada@example.com", None, 42, ["x"]])
def test_anything_else_is_none_or_a_value_error(value: object) -> None:
    assert parse_uuid(value) is None
    with pytest.raises(ValueError, match="not an id"):
        to_uuid(value)


def test_a_uuid_is_itself() -> None:
    assert parse_uuid(ID) is ID
    assert to_uuid(ID) is ID


def test_parse_uuids_keeps_the_well_formed_in_order() -> None:
    other = uuid.uuid4()
    assert parse_uuids([str(other), "junk", ID, "", str(ID)]) == [other, ID, ID]
    assert parse_uuids([]) == []


def test_is_uuid_text_wants_the_usual_36_characters() -> None:
    assert is_uuid_text(str(ID))
    assert not is_uuid_text(ID.hex)
    assert not is_uuid_text(ID)
    assert not is_uuid_text("x" * 36)


class _IdForm(Form):
    role_id = UUIDField("Role", [DataRequired(message="Choose a role.")], message="Choose a role.")
    other = UUIDField("Other")


def test_uuid_field_reads_an_id() -> None:
    form = _IdForm(MultiDict({"role_id": f"  {ID}  "}))
    assert form.validate()
    assert form.role_id.data == ID
    assert form.other.data is None


@pytest.mark.parametrize("raw", ["", "   "])
def test_uuid_field_left_empty_is_up_to_its_validators(raw: str) -> None:
    form = _IdForm(MultiDict({"role_id": raw}))
    assert not form.validate()
    assert form.role_id.errors == ["Choose a role."]


def test_uuid_field_with_no_id_says_its_message_once_and_shows_what_was_typed() -> None:
    form = _IdForm(MultiDict({"role_id": "admin", "other": "zzz"}))
    assert not form.validate()
    assert form.role_id.errors == ["Choose a role."]
    assert form.other.errors == ["Not a valid id."]
    assert form.role_id.data is None
    assert form.role_id._value() == "admin"


def test_uuid_field_from_an_object_shows_the_id() -> None:
    form = _IdForm(data={"role_id": ID})
    assert form.role_id._value() == str(ID)


def test_uuid_field_not_sent_keeps_its_default_and_is_required() -> None:
    form = _IdForm(MultiDict({"other": str(ID)}))
    assert form.role_id.data is None and form.other.data == ID
    assert not form.validate()
    assert form.role_id.errors == ["Choose a role."]


class _TickForm(Form):
    ids = CheckboxesField("Ids", coerce=to_uuid, validate_choice=False)
    colours = CheckboxesField("Colours", choices=[SelectChoice("red", "Red"), SelectChoice("blue", "Blue")])


def test_checkboxes_render_as_checkboxes_and_coerce() -> None:
    form = _TickForm(MultiDict([("ids", str(ID)), ("colours", "blue")]))
    assert form.validate()
    assert form.ids.data == [ID]
    assert form.colours.data == ["blue"]
    html = str(form.colours)
    assert html.count('type="checkbox"') == 2
    assert "checked" in html


def test_checkboxes_refuse_an_unknown_choice_and_a_malformed_id() -> None:
    form = _TickForm(MultiDict([("ids", "nope"), ("colours", "green")]))
    assert not form.validate()
    assert form.ids.errors
    assert form.colours.errors
