"""Line and word diffs, and the signed values behind cursors and preview links."""

from __future__ import annotations

import pytest

from examples.versioning.diffs import compute_diff
from examples.versioning.signing import BadSignatureError, Signer


def test_identical_texts_have_an_empty_diff() -> None:
    """No lines, no hunks, zero counts."""
    diff = compute_diff("one\n\ntwo", "one\n\ntwo")
    assert diff["lines"] == []
    assert diff["word_hunks"] == []
    assert set(diff["stats"].values()) == {0}


def test_changed_word_inside_a_paragraph() -> None:
    """One changed word is one changed line and a one-word delete/insert pair."""
    old = "First paragraph stays.\n\nThe quick brown fox jumps.\n\nLast one stays."
    new = "First paragraph stays.\n\nThe quick red fox jumps.\n\nLast one stays."
    diff = compute_diff(old, new)
    assert "-The quick brown fox jumps." in diff["lines"]
    assert "+The quick red fox jumps." in diff["lines"]
    assert diff["lines"][:2] == ["--- from", "+++ to"]
    changed = [part for part in diff["word_hunks"][0]["words"] if part["op"] != "equal"]
    assert [(part["op"], part["text"].strip()) for part in changed] == [
        ("delete", "brown"),
        ("insert", "red"),
    ]
    assert diff["stats"] == {
        "lines_added": 1,
        "lines_removed": 1,
        "words_added": 1,
        "words_removed": 1,
    }


def test_unified_hunk_header_counts_lines() -> None:
    """The @@ header gives the 1-based start and length of each side, as diff -u does."""
    old = "\n".join(f"line {n}" for n in range(1, 11))
    new = old.replace("line 5", "line five")
    diff = compute_diff(old, new, context=1)
    assert diff["lines"][2] == "@@ -4,3 +4,3 @@"
    assert diff["lines"][3:] == [" line 4", "-line 5", "+line five", " line 6"]


def test_large_rewrite_is_shown_as_removed_and_added_text() -> None:
    """A hunk too big to word-diff cheaply falls back to whole delete and insert parts."""
    old = " ".join(f"old{n}" for n in range(2_000))
    new = " ".join(f"new{n}" for n in range(2_000))
    hunk = compute_diff(old, new)["word_hunks"][0]["words"]
    assert [part["op"] for part in hunk] == ["delete", "insert"]


def test_signer_round_trip_and_purpose() -> None:
    """A value loads back under its purpose only."""
    signer = Signer("secret")
    token = signer.dumps("cursor", {"n": 5})
    assert signer.loads("cursor", token) == {"n": 5}
    with pytest.raises(BadSignatureError):
        signer.loads("preview", token)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token + "A",
        lambda token: token.replace(".", ""),
        lambda token: "A" + token,
        lambda token: token.split(".")[0] + ".",
        lambda token: "!!!.???",
        lambda token: "",
    ],
)
def test_signer_refuses_mangled_values(mangle: object) -> None:
    """Anything but the exact signed text is refused."""
    signer = Signer("secret")
    token = signer.dumps("cursor", {"n": 5})
    with pytest.raises(BadSignatureError):
        signer.loads("cursor", mangle(token))  # type: ignore[operator]


def test_signer_refuses_another_secret() -> None:
    """A value signed with another secret does not verify."""
    token = Signer("one").dumps("cursor", [1])
    with pytest.raises(BadSignatureError):
        Signer("two").loads("cursor", token)
