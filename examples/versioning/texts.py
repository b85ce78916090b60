"""Deterministic, realistic document bodies, generated fast.

A document is a list of paragraphs; each new version of it edits a few paragraphs of the
one before, as a writer does, so consecutive versions diff like real edits and compress
like real prose. Everything comes from one seeded `random.Random`: the same seed gives
the same data set on every machine.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["DocumentWriter"]

_VOCABULARY = (
    "the a an of to in for on with by from at as into over under about after before "
    "between through during without within along across against among around behind "
    "release version draft editor review publish content article page section update "
    "performance cache latency request response database index query server client team "
    "product customer support feature change improvement system service data user report "
    "policy security access token preview schedule deadline budget quarter plan market "
    "strategy design research result analysis summary detail example reference important "
    "clear simple new old fast slow large small early late final initial we they it this "
    "that these those our their its which who whose when where why how is are was were "
    "be been has have had will would can could should may might must improves reduces "
    "increases supports requires describes explains includes replaces quickly carefully "
    "clearly often rarely usually always never already still again"
)
_WORDS = tuple(_VOCABULARY.split())


class DocumentWriter:
    """Writes an item's successive versions: `versions(size)` yields one text per version."""

    def __init__(self, seed: int, *, sentences: int = 4000) -> None:
        self._random = random.Random(seed)
        pick = self._random.choice
        pool = []
        for _ in range(sentences):
            words = [pick(_WORDS) for _ in range(self._random.randint(6, 22))]
            words[0] = words[0].capitalize()
            pool.append(" ".join(words) + self._random.choice(".....?!"))
        self._sentences = pool

    def paragraph(self) -> str:
        count = self._random.randint(2, 7)
        return " ".join(self._random.choice(self._sentences) for _ in range(count))

    def versions(self, target_bytes: int) -> Iterator[str]:
        """Endless successive versions of one document of about `target_bytes`.

        Insertions and deletions steer the size back towards the target, so a history
        of 10,000 versions stays the size it was drawn at instead of random-walking away.
        """
        paragraphs: list[str] = []
        while sum(len(paragraph) + 2 for paragraph in paragraphs) < target_bytes:
            paragraphs.append(self.paragraph())
        while True:
            text = "\n\n".join(paragraphs)
            yield text
            size = len(text)
            for _ in range(self._random.randint(1, 3)):
                size += self._edit(paragraphs, size, target_bytes)

    def _edit(self, paragraphs: list[str], size: int, target: int) -> int:
        """One edit in place; returns how much longer (or shorter) it made the text."""
        position = self._random.randrange(len(paragraphs))
        before = len(paragraphs[position])
        if size < target * 0.95 or len(paragraphs) < 2:
            paragraph = self.paragraph()
            paragraphs.insert(position, paragraph)
            return len(paragraph) + 2
        if self._random.random() < 0.6 or size - before < target * 0.9:
            # Rewrite one sentence inside a paragraph: a word-level change in the diff.
            sentences = paragraphs[position].split(". ")
            sentences[self._random.randrange(len(sentences))] = self._random.choice(
                self._sentences
            ).rstrip(".?!")
            paragraphs[position] = ". ".join(sentences)
            return len(paragraphs[position]) - before
        del paragraphs[position]
        return -before - 2
