"""Compile many literal phrases into one regular expression shaped like a trie.

Python's ``re`` tries the alternatives of ``a|b|c...`` one by one at every position;
a trie-shaped pattern (``ab(?:c|d)``) shares prefixes, which makes scanning for a
few hundred trigger phrases several times faster.
"""
from __future__ import annotations

import re

from . import compiled


def trie_pattern(phrases: list[str], *, flexible_space: bool = False) -> str:
    """A pattern (no anchors or boundaries) matching the longest of ``phrases`` first.
    With ``flexible_space`` a space in a phrase matches any run of spaces or tabs."""
    root: dict = {}
    for phrase in phrases:
        node = root
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = True
    out = _emit(root)
    return out.replace("\\ ", "[ \\t]+") if flexible_space else out


def _emit(node: dict) -> str:
    end = "" in node
    branches = [re.escape(ch) + _emit(child) for ch, child in sorted(node.items()) if ch != ""]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if end:
        return "(?:" + body + ")?"  # greedy: the longer phrase wins, the shorter still matches
    return body


def _lower_pattern(pattern: str) -> str:
    """Lower-case a pattern's literal characters, leaving escapes (``\\S``, ``\\W``) alone."""
    out, escaped = [], False
    for ch in pattern:
        out.append(ch if escaped else ch.lower())
        escaped = (ch == "\\") and not escaped
    return "".join(out).replace("(?p<", "(?P<").replace("(?p=", "(?P=")


_last: tuple[str, str] = ("", "")   # the last text lower-cased (patterns run many times on one sentence)


class CaseFree:
    """A case-insensitive pattern that runs case-sensitively on the lower-cased text.

    ``re.IGNORECASE`` disables most of ``re``'s scanning shortcuts; lower-casing the
    text (and the pattern's literals) keeps them, 3-4 times faster on our patterns.
    Offsets are unchanged because the fast path is taken only when lower-casing keeps
    the text's length (always for ASCII); otherwise the IGNORECASE pattern runs.
    Match objects of the fast path carry the lower-cased text.
    """

    __slots__ = ("fast", "_slow", "pattern", "flags")

    def __init__(self, pattern: str, flags: int = 0):
        self.pattern, self.flags = pattern, flags
        self._slow: re.Pattern[str] | None = None
        self.fast = compiled.compile(_lower_pattern(pattern), flags)

    @property
    def slow(self) -> re.Pattern[str]:
        """The IGNORECASE pattern, compiled on first need (text whose length lower-casing
        changes is rare; compiling every pattern twice would double the start-up cost)."""
        if self._slow is None:
            self._slow = re.compile(self.pattern, self.flags | re.I)
        return self._slow

    def _pick(self, text: str):
        global _last
        last = _last
        if last[0] is text:            # the same sentence, lower-cased a moment ago
            low = last[1]
        else:
            low = text.lower()
            _last = (text, low)
        return (self.fast, low) if len(low) == len(text) else (self.slow, text)

    # search and finditer, called a few hundred times a sentence, pick inline rather than through _pick
    def search(self, text: str, *args):
        global _last
        last = _last
        if last[0] is text:
            low = last[1]
        else:
            low = text.lower()
            _last = (text, low)
        if len(low) == len(text):
            return self.fast.search(low, *args)
        return self.slow.search(text, *args)

    def match(self, text: str, *args):
        rx, t = self._pick(text)
        return rx.match(t, *args)

    def fullmatch(self, text: str, *args):
        rx, t = self._pick(text)
        return rx.fullmatch(t, *args)

    def finditer(self, text: str, *args):
        global _last
        last = _last
        if last[0] is text:
            low = last[1]
        else:
            low = text.lower()
            _last = (text, low)
        if len(low) == len(text):
            return self.fast.finditer(low, *args)
        return self.slow.finditer(text, *args)
