"""Line and word diffs between two versions, with difflib.

The lines are matched once; the unified diff and the word diff both come from that one
match. Words are diffed only inside the line hunks that changed (as `git diff
--word-diff` does), so comparing two 100 KB versions that differ by a sentence costs a
line match plus a few short word matches, not a quadratic match over every word. A
hunk too large to word-diff cheaply (a rewrite) is shown as removed and added text.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

__all__ = ["compute_diff"]

# A word with the whitespace after it: half the tokens of splitting the two apart.
_WORDS = re.compile(r"\s*\S+\s*|\s+")
_MAX_WORD_HUNK = 1500


def _word_diff(old: str, new: str) -> list[dict[str, str]]:
    old_words, new_words = _WORDS.findall(old), _WORDS.findall(new)
    if len(old_words) + len(new_words) > _MAX_WORD_HUNK:
        parts = [{"op": "delete", "text": old}] if old else []
        return parts + ([{"op": "insert", "text": new}] if new else [])
    matcher = difflib.SequenceMatcher(None, old_words, new_words)
    parts = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append({"op": "equal", "text": "".join(old_words[i1:i2])})
            continue
        if i2 > i1:
            parts.append({"op": "delete", "text": "".join(old_words[i1:i2])})
        if j2 > j1:
            parts.append({"op": "insert", "text": "".join(new_words[j1:j2])})
    return parts


def _unified(
    matcher: difflib.SequenceMatcher[str], old: list[str], new: list[str], context: int
) -> list[str]:
    """The lines of `diff -u`, from an existing line match."""
    lines = ["--- from", "+++ to"]
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        old_start, old_count = first[1], last[2] - first[1]
        new_start, new_count = first[3], last[4] - first[3]
        lines.append(f"@@ -{old_start + 1},{old_count} +{new_start + 1},{new_count} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(" " + line for line in old[i1:i2])
                continue
            lines.extend("-" + line for line in old[i1:i2])
            lines.extend("+" + line for line in new[j1:j2])
    return lines if len(lines) > 2 else []


def _blank(line: str) -> bool:
    return not line.strip()


def compute_diff(old: str, new: str, *, context: int = 3) -> dict[str, Any]:
    """A JSON-ready diff: unified line diff, word-level hunks and counts."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    # Blank lines separate every paragraph: as match anchors they would make the match
    # quadratic and mean nothing, so they are junk (they still show in the output).
    matcher = difflib.SequenceMatcher(_blank, old_lines, new_lines, autojunk=False)
    hunks: list[dict[str, Any]] = []
    words_added = words_removed = lines_added = lines_removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        lines_removed += i2 - i1
        lines_added += j2 - j1
        parts = _word_diff("\n".join(old_lines[i1:i2]), "\n".join(new_lines[j1:j2]))
        for part in parts:
            if part["op"] == "insert":
                words_added += len(part["text"].split())
            elif part["op"] == "delete":
                words_removed += len(part["text"].split())
        hunks.append({"from_line": i1 + 1, "to_line": j1 + 1, "words": parts})
    return {
        "lines": _unified(matcher, old_lines, new_lines, context),
        "word_hunks": hunks,
        "stats": {
            "lines_added": lines_added,
            "lines_removed": lines_removed,
            "words_added": words_added,
            "words_removed": words_removed,
        },
    }
