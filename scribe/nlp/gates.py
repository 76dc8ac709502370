"""Keyword gates: cheap prefilters in front of the sentence patterns.

A pattern group runs on a sentence only when the lower-cased sentence contains one of
the group's keywords (as a substring: "lumb" opens the lumbar patterns for "lumbar"
and "lumbosacral"). All keywords of all groups are found in one pass of an
Aho-Corasick automaton (pyahocorasick), whose cost hardly grows with the number of
keywords, so gates can be many and narrow.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import ahocorasick


class KeywordGates:
    def __init__(self, groups: Mapping[str, Iterable[str]]):
        by_word: dict[str, set[str]] = {}
        for gate, words in groups.items():
            for word in words:
                if not word:
                    raise ValueError(f"gate {gate!r} has an empty keyword")
                by_word.setdefault(word.lower(), set()).add(gate)
        self.keywords = {word: frozenset(gates) for word, gates in by_word.items()}
        self.names = frozenset(gate for gates in self.keywords.values() for gate in gates)
        self._automaton = ahocorasick.Automaton()
        for word, gates in self.keywords.items():
            self._automaton.add_word(word, gates)
        self._automaton.make_automaton()

    def open(self, lower: str) -> set[str]:
        """The gates with a keyword in ``lower`` (text already lower-cased)."""
        opened: set[str] = set()
        for _, gates in self._automaton.iter(lower):
            opened |= gates
        return opened
