"""portal.entries.split_entries: the one splitter of boxes holding several entries."""

from __future__ import annotations

import pytest

from portal.entries import split_entries


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@x, b@y\nc@z", ["a@x", "b@y", "c@z"]),
        ("a@x;b@y ; c@z\r\n\td@w", ["a@x", "b@y", "c@z", "d@w"]),
        (" ,;\n a@x ,, ", ["a@x"]),
        ("", []),
        (None, []),
        (",;  \n", []),
    ],
)
def test_commas_semicolons_spaces_and_new_lines_separate(text: str | None, expected: list[str]) -> None:
    assert split_entries(text) == expected


def test_each_entry_once_in_first_order_with_its_case_kept() -> None:
    assert split_entries("b@y a@x b@y A@x") == ["b@y", "a@x", "A@x"]
    assert split_entries("B@Y a@x b@y".lower()) == ["b@y", "a@x"]  # lower first to compare without case


def test_several_texts_are_one_list() -> None:
    assert split_entries("ada", "grace, ada", None, "linus\nada") == ["ada", "grace", "linus"]
