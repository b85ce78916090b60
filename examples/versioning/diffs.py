"""Line and word diffs between two versions, with difflib.

The word diff is computed only inside the line hunks that changed (as `git diff
--word-diff` does), so comparing two 100 KB versions that differ by a sentence costs a
line diff plus a few short word diffs, not a quadratic match over every word.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

__all__ = ["compute_diff"]

_WORDS = re.compile(r"\S+|\s+")
_MAX_WORD_HUNK = 4000


def _word_diff(old: str, new: str) -> list[dict[str, str]]:
    old_words, new_words = _WORDS.findall(old), _WORDS.findall(new)
    if len(old_words) + len(new_words) > _MAX_WORD_HUNK:
        # A rewrite this large reads better as lines; a quadratic match would not pay off.
        return [{"op": "delete", "text": old}, {"op": "insert", "text": new}]
    matcher = difflib.SequenceMatcher(None, old_words, new_words, autojunk=False)
    parts: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append({"op": "equal", "text": "".join(old_words[i1:i2])})
            continue
        if i2 > i1:
            parts.append({"op": "delete", "text": "".join(old_words[i1:i2])})
        if j2 > j1:
            parts.append({"op": "insert", "text": "".join(new_words[j1:j2])})
    return parts


def compute_diff(old: str, new: str, *, context: int = 3) -> dict[str, Any]:
    """A JSON-ready diff: unified line diff, word-level hunks and counts."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    unified = list(difflib.unified_diff(old_lines, new_lines, "from", "to", n=context, lineterm=""))
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    hunks: list[dict[str, Any]] = []
    words_added = words_removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        parts = _word_diff("\n".join(old_lines[i1:i2]), "\n".join(new_lines[j1:j2]))
        for part in parts:
            count = len(part["text"].split())
            if part["op"] == "insert":
                words_added += count
            elif part["op"] == "delete":
                words_removed += count
        hunks.append({"from_line": i1 + 1, "to_line": j1 + 1, "words": parts})
    return {
        "lines": unified,
        "word_hunks": hunks,
        "stats": {
            "lines_added": sum(1 for line in unified[2:] if line.startswith("+")),
            "lines_removed": sum(1 for line in unified[2:] if line.startswith("-")),
            "words_added": words_added,
            "words_removed": words_removed,
        },
    }
