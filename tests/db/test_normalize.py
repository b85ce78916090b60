"""Statement shapes strip literals and placeholders so repeats compare equal."""

from __future__ import annotations

import pytest

from overdrive.db.normalize import fingerprint, normalize_statement


@pytest.mark.parametrize(
    ("statement", "shape"),
    [
        ("SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE name = 'o''brien'", "SELECT * FROM t WHERE name = ?"),
        ("SELECT * FROM t WHERE id = $1", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id = %(id_1)s", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id = %s", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id = :id", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id IN ($1, $2, $3)", "SELECT * FROM t WHERE id IN (...)"),
        ("SELECT  *\n FROM t -- why\n WHERE x = 2.5", "SELECT * FROM t WHERE x = ?"),
        ("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)", "INSERT INTO t (a, b) VALUES (...)"),
    ],
)
def test_literals_and_placeholders_become_question_marks(statement: str, shape: str) -> None:
    """Every literal and placeholder style normalises to `?`, lists to `(...)`."""
    assert normalize_statement(statement) == shape


def test_identifiers_with_digits_are_kept() -> None:
    """Digits inside identifiers and casts are not mistaken for literals."""
    shape = normalize_statement("SELECT t1.col2 FROM table3 t1 WHERE t1.x::int4 = 5")
    assert shape == "SELECT t1.col2 FROM table3 t1 WHERE t1.x::int4 = ?"


def test_in_lists_of_any_length_share_a_shape() -> None:
    """A batch IN of 2 ids and one of 50 are the same query."""
    short = normalize_statement("SELECT * FROM t WHERE id IN (1, 2)")
    long = normalize_statement(f"SELECT * FROM t WHERE id IN ({', '.join(map(str, range(50)))})")
    assert short == long
    assert fingerprint(short) == fingerprint(long)
    assert len(fingerprint(short)) == 12
