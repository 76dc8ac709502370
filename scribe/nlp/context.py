"""Assertion (ConText-style): is a mention present, negated, possible, historical,
hypothetical, or about a family member?

Triggers, their direction and the scope terminators come from
``lexicons/context_rules.jsonl``. Scope is limited to the sentence, stops at a
terminator ("but", "so", "however" ...) or at a trigger of another of the three
decisive kinds (negated, possible, hypothetical), and runs at most ``max_scope``
words. Pseudo-triggers ("no change", "no improvement") are consumed and ignored,
and a trigger inside the mention itself never modifies it.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from typing import NamedTuple

from .trie import CaseFree, trie_pattern

PRIORITY = ("negated", "family", "hypothetical", "possible", "historical")
DECISIVE = frozenset({"negated", "possible", "hypothetical"})
_WORD = re.compile(r"[A-Za-z0-9]+")


class Trigger(NamedTuple):
    start: int
    end: int
    category: str
    direction: str


# triggers that end a scope instead of asserting; "terminate_historical" ends only a history
# scope ("history of breast cancer, new low back pain"), not a negation ("no new fracture")
# "terminate_listed" ends a scope only as the first word of a new list item ("no fracture, mild
# spondylosis": the degree word asserts a finding of its own)
NOT_ASSERTING = frozenset({"terminate", "terminate_historical", "terminate_listed", "pseudo"})


class TriggerList(list):
    """A sentence's triggers as the regex finds them: ascending and non-overlapping, so the ones
    near a mention can be found by bisection (a sentence of thousands of words holds thousands)."""

    __slots__ = ("starts", "ends")

    def __init__(self, items: Iterable[Trigger]):
        super().__init__(items)
        self.starts = [t.start for t in self]
        self.ends = [t.end for t in self]


# with more triggers than this in a sentence, a mention reads only those within reach of its scope
_WINDOW_FROM = 32


class ContextAnnotator:
    def __init__(self, rules, max_scope: int = 10):
        table: dict[str, tuple[str, str]] = {}
        for rule in rules:
            for literal in rule.literals:
                key = literal.lower()
                seen = table.get(key)
                if seen is None:
                    table[key] = (rule.category, rule.direction)
                elif seen[0] == rule.category and seen[1] != rule.direction:
                    table[key] = (rule.category, "both")
        self._table = table
        words = [lit for lit in table if lit[-1].isalnum()]
        others = [lit for lit in table if not lit[-1].isalnum()]
        # a phrase ending in a letter must end at a word boundary; the trie keeps the longest match
        alternatives = [rf"(?:{trie_pattern(words)})(?![\w])"] if words else []
        alternatives += [trie_pattern(others)] if others else []
        self._regex = CaseFree(rf"(?<![\w/])(?:{'|'.join(alternatives) or '(?!)'})")
        self.max_scope = max_scope
        self._runs: dict[str, tuple[list[int], list[int]]] = {}

    def triggers(self, text: str) -> list[Trigger]:
        table = self._table
        return TriggerList(self._trigger(text, m, table[m.group(0).lower()]) for m in self._regex.finditer(text))

    @staticmethod
    def _trigger(text: str, m: re.Match[str], rule: tuple[str, str]) -> Trigger:
        category, direction = rule
        # a mark written onto the next word is its prefix: "?THA" questions what follows it,
        # "fracture?" what stands before it
        if direction == "backward" and not m.group(0)[-1].isalnum() and m.end() < len(text) and text[m.end()].isalnum():
            direction = "forward"
        return Trigger(m.start(), m.end(), category, direction)

    def lazy_triggers(self, text: str) -> LazyTriggers:
        """The sentence's triggers, found on first use: most sentences hold nothing to assert."""
        return LazyTriggers(self, text)

    def assertion(self, text: str, triggers: Iterable[Trigger], start: int, end: int) -> str:
        """Assertion of the mention text[start:end] given the sentence's triggers."""
        return self.explain(text, triggers, start, end)[0]

    def explain(self, text: str, triggers, start: int, end: int) -> tuple[str, Trigger | None]:
        """The assertion and the trigger that decided it (None for a plain present mention)."""
        if isinstance(triggers, LazyTriggers):
            triggers = triggers.items()
        if isinstance(triggers, TriggerList) and len(triggers) > _WINDOW_FROM:
            triggers = self._within_reach(text, triggers, start, end)
        found: dict[str, Trigger] = {}
        # a mention that holds its own polarity words ("no improvement with therapy") is not in the
        # scope of an earlier trigger ("no leg symptoms, no improvement with therapy")
        if isinstance(triggers, TriggerList):     # ascending: only those starting inside are read
            inside = triggers[bisect.bisect_left(triggers.starts, start):bisect.bisect_left(triggers.starts, end)]
            own = any(t.category == "pseudo" for t in inside)
        else:
            own = any(start <= t.start < end and t.category == "pseudo" for t in triggers)
        for t in triggers:
            if t.category in NOT_ASSERTING or (t.start < end and t.end > start):
                continue
            if own and t.end <= start and t.direction in ("forward", "both"):
                continue
            if t.direction in ("forward", "both") and t.end <= start:
                if self._in_scope(text, triggers, t, t.end, start):
                    found.setdefault(t.category, t)
            elif t.direction in ("backward", "both") and t.start >= end:
                if self._in_scope(text, triggers, t, end, t.start, backward=True):
                    found.setdefault(t.category, t)
        for category in PRIORITY:
            if category in found:
                return category, found[category]
        return "present", None

    def _within_reach(self, text: str, triggers: TriggerList, start: int, end: int) -> list[Trigger]:
        """The triggers that can bear on text[start:end]: a trigger more than ``max_scope`` words
        away is out of scope whatever lies between (the word count of ``_in_scope``), so only
        the contiguous run of triggers from max_scope + 1 words before to after is kept."""
        runs = self._runs.get(text)
        if runs is None:
            if len(self._runs) > 8:
                self._runs.clear()
            matches = list(_WORD.finditer(text))
            runs = self._runs[text] = ([m.start() for m in matches], [m.end() for m in matches])
        word_starts, word_ends = runs
        before = bisect.bisect_left(word_starts, start) - self.max_scope - 2
        low = word_starts[before] if before >= 0 else -1
        after = bisect.bisect_right(word_ends, end) + self.max_scope
        high = max(word_starts[after], end) if after < len(word_starts) else len(text) + 1
        return triggers[bisect.bisect_left(triggers.ends, low):bisect.bisect_right(triggers.starts, high)]

    def _in_scope(self, text: str, triggers: list[Trigger], trig: Trigger, a: int, b: int,
                  backward: bool = False) -> bool:
        gap = text[a:b]
        if ";" in gap or len(_WORD.findall(gap)) > self.max_scope:
            return False
        # a parenthesis is its own scope: "AP and lateral views (obliques not done)" (but "no (acute) fracture")
        if gap.count("(") != gap.count(")"):
            # a plan or a doubt reaches into the parenthesis that spells out what it is about
            # ("I planned a five-view series (AP, lateral, both obliques)"); a negation does not
            # ("no fracture (old L1 wedge)")
            if backward or trig.category not in ("hypothetical", "possible") or gap.count("(") < gap.count(")"):
                return False
        for other in triggers:
            if other is trig or other.start < a or other.end > b:
                continue
            if other.category == "terminate" or (other.category == "terminate_historical" and
                                                 trig.category == "historical"):
                return False
            if other.category == "terminate_listed" and text[a:other.start].rstrip().endswith(","):
                return False
            if other.category in DECISIVE and other.category != trig.category and trig.category in DECISIVE:
                return False
            # looking back, a forward trigger ends the scope: the words after it are its own
            # ("leg pain, evaluate disc versus scar": 'versus' reaches 'disc', not 'leg pain')
            if backward and other.direction == "forward" and other.category not in NOT_ASSERTING:
                return False
        return True


class LazyTriggers:
    """An iterable of a sentence's triggers that scans the sentence the first time it is read."""

    __slots__ = ("_annotator", "_text", "_items")

    def __init__(self, annotator: ContextAnnotator, text: str):
        self._annotator, self._text = annotator, text
        self._items: list[Trigger] | None = None

    def __iter__(self):
        return iter(self.items())

    def items(self) -> list[Trigger]:
        if self._items is None:
            self._items = self._annotator.triggers(self._text)
        return self._items
