"""Who did what: role cues related to provider mentions.

A signature, an attestation, an order, a referral, a request and a read are each a
*relation* between a role cue ("signed", "ordered", "read") and a provider mention
("Dr. Omar Haddad", "Anita Raman, MD", "I", "her PCP") in one clause, in either
order: "Signed Dr. Omar Haddad", "ordered and read by Dr. Sato", "Dr. Adams, who
ordered the exam", "I have reviewed the images and agree". Only a few linking words
may stand between the two (``roles.json``: ``link_forward``, ``link_backward``), so a
cue and a name that merely share a sentence are not related. A cue coordinated with
a related one shares its provider ("ordered and read by": both). Whether the role
was carried out ("not yet signed", "signature pending", "dictated but not read")
is the cue's assertion, from the same ConText scope machinery as every mention.
"""
from __future__ import annotations

import bisect
import re
from typing import NamedTuple

from . import compiled
from .context import ContextAnnotator
from .trie import trie_pattern

_TOKEN = re.compile(r"/s/|[^\W\d_][\w'-]*\.?|\d[\d/:.-]*|[,&]")
_APPOSITION = re.compile(r"\s*,\s*[^,;:\n]{1,60}?\s[-\u2013/]\s")   # ", specialist in radiology - "
_BOUNDARY = re.compile(r"[.;!?\n]\s|[;\n]|\.$")
_ASIDE = re.compile(r"\([^()\n]{0,60}\)|\[[^\[\]\n]{0,60}\]")   # "(telerad)", "[attending]": transparent


class Provider(NamedTuple):
    start: int
    end: int
    kind: str          # titled | credentialed | name | speaker | role


class Relation(NamedTuple):
    role: str          # signature | ordering | interpreting | dictation
    cue_start: int
    cue_end: int
    who_start: int
    who_end: int
    who_kind: str
    assertion: str

    @property
    def span(self) -> tuple[int, int]:
        return min(self.cue_start, self.who_start), max(self.cue_end, self.who_end)


class RoleFinder:
    def __init__(self, spec: dict):
        self._role_of: dict[str, str] = {}
        for role, words in spec.get("cues", {}).items():
            for w in words:
                self._role_of[w.lower()] = role
        p = spec.get("providers", {})
        not_names = sorted({w.lower() for w in p.get("not_names", ())} | set(self._role_of) |
                           {w.lower() for w in p.get("credentials", ())})
        # a name word (not a common word), or an initial with its period ("A. Whitcombe")
        name = rf"(?:[^\W\d_]\.(?![^\W\d_])|(?!(?:{trie_pattern(not_names)})\b)[^\W\d_][\w'-]*)"
        cap = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'-]+|[A-ZÀ-ÖØ-Þ]\.?"
        titles = trie_pattern([t.lower().rstrip(".") for t in p.get("titles", ())])
        creds = sorted(c.lower() for c in p.get("credentials", ()))
        self._creds = frozenset(c.rstrip(".") for c in creds)
        quals = trie_pattern([q.lower() for q in p.get("role_qualifiers", ())], flexible_space=True)
        roles = trie_pattern([r.lower() for r in p.get("role_nouns", ())], flexible_space=True)
        speaker = trie_pattern([s.lower() for s in p.get("speaker", ())])
        self._providers = [
            # "Dr. A Lee MD": initials may stand without their periods before the name
            ("titled", compiled.compile(rf"\b(?:{titles})\b\.?\s+(?:(?-i:[A-Z])\s+){{0,2}}(?:{name})(?:\s+(?:{name})){{0,2}}"
                                  rf"(?:,?\s+(?:{trie_pattern(creds)})(?![\w-]))?", re.I)),
            # "Meera Prakash, MD", and as exports write it, last name first: "PRAKASH, MEERA J MD"
            # a middle initial may stand without its period in capitals ("RUTH A KOWALCZYK, MD")
            ("credentialed", compiled.compile(rf"\b(?:(?:{name}),\s+)?(?:(?:{name}|(?-i:[A-Z]))\s+){{0,3}}(?:{name}),?\s+"
                                        rf"(?P<cred>{trie_pattern(creds)})(?![\w-])", re.I)),
            ("role", compiled.compile(rf"\b(?:(?:{quals})\s+){{1,3}}(?:{roles})s?\b", re.I)),
            ("speaker", compiled.compile(rf"\b(?:{speaker})\b", re.I)),
            ("name", compiled.compile(rf"(?<![\w.])(?:{cap})(?:\s+(?:{cap})){{1,3}}(?![\w])")),
        ]
        self._cues = compiled.compile(rf"(?<![\w-])(?:{trie_pattern(sorted(self._role_of), flexible_space=True)})(?![\w-])", re.I)
        self._forward = frozenset(w.lower() for w in spec.get("link_forward", ())) | set(self._role_of)
        self._backward = frozenset(w.lower() for w in spec.get("link_backward", ())) | set(self._role_of)
        self._status = ContextAnnotator(_StatusRule.of(spec.get("status", ())), max_scope=6)
        self._keywords = tuple(sorted({w.split()[0].lower() for w in self._role_of}))
        self._objects = frozenset(w.lower() for w in spec.get("coordinated_objects", ()))
        self._ambiguous = frozenset(w.lower() for w in spec.get("ambiguous_credentials", ()))
        self._date_time = compiled.compile(spec.get("date_time", r"(?!)"), re.I)
        self._role_hint = compiled.compile(rf"\b(?:{roles})", re.I)
        # a cheap first test for a name line: a title or a credential word
        hints = sorted(self._creds | {t.lower().rstrip(".") for t in p.get("titles", ())})
        self._name_hint = compiled.compile(rf"(?<![\w-])(?:{trie_pattern(hints)})(?![\w-])", re.I)


    def might_hold(self, lower: str) -> bool:
        """A cheap test: does the lower-cased sentence hold a cue word at all?"""
        return any(k in lower for k in self._keywords)

    # -- mentions ----------------------------------------------------------------------------
    def providers(self, text: str) -> list[Provider]:
        found: list[Provider] = []
        # the spans kept so far never overlap, so in start order their ends ascend: a mention is
        # tested against the one kept span that could overlap it (a note of thousands of names
        # would otherwise test each against all); an empty match falls back to the plain test
        starts: list[int] = []
        ends: list[int] = []
        plain = False
        named = self._name_hint.search(text) is not None     # a title or a credential is said
        for kind, rx in self._providers:
            if kind in ("titled", "credentialed") and not named:
                continue
            if kind == "role" and not self._role_hint.search(text):
                continue
            for m in rx.finditer(text):
                if kind == "credentialed":
                    cred = m.group("cred")
                    if cred.lower().rstrip(".") in self._ambiguous and not (cred.isupper() or "." in cred) \
                            and "," not in text[m.start():m.start("cred")]:
                        continue       # "what do", "x-rays dc": a credential only when written as one
                if kind == "name" and all(w.lower() in self._role_of for w in m.group(0).split()):
                    continue
                s, e = m.start(), m.end()
                plain = plain or s == e
                if plain:
                    if any(p.start <= s < p.end or s <= p.start < e for p in found):
                        continue
                else:
                    at = bisect.bisect_right(ends, s)
                    if at < len(starts) and starts[at] < e:
                        continue
                    starts.insert(at, s)
                    ends.insert(at, e)
                found.append(Provider(s, e, kind))
        found.sort()
        return found

    # -- relations ---------------------------------------------------------------------------
    def relations(self, text: str) -> list[Relation]:
        return self._relate(text)[0]

    def _relate(self, text: str) -> tuple[list[Relation], list[tuple[str, int, int]]]:
        """The relations, and the cues that found no provider in their clause."""
        cues = [(m.start(), m.end(), self._role_of[" ".join(m.group(0).lower().split())]) for m in self._cues.finditer(text)]
        if not cues:
            return [], []
        providers = self.providers(text)
        triggers = self._status.triggers(text)
        bare: list[tuple[str, int, int]] = []
        out: list[Relation] = []
        linked: list[Provider | None] = []
        for i, (s, e, role) in enumerate(cues):
            who = self._forward_provider(text, e, providers) or self._backward_provider(text, s, providers, role)
            if who is None and i and linked[i - 1] is not None and self._coordinated(text, cues[i - 1][1], s):
                who = linked[i - 1]          # "I reviewed the images and agree", "read and signed by"
            linked.append(who)
            if who is None:
                bare.append((role, s, e))
                continue
            if role == "signature" and who.kind == "name" and who.start < s:
                continue                     # "John Smith signed": without a title or credential, not a signer
            if role == "acquisition" and (who.kind != "speaker" or who.start > s):
                continue                     # only "we took", "I obtained": films taken by the author
            assertion = self._status.assertion(text, triggers, s, e)
            out.append(Relation(role, s, e, who.start, who.end, who.kind, assertion))
        # a cue said before a coordinated one that found its provider after it: "ordered and read by Dr. Sato"
        for i in range(len(cues) - 2, -1, -1):
            after = linked[i + 1]
            if linked[i] is None and after is not None and after.start > cues[i + 1][1] and \
                    self._coordinated(text, cues[i][1], cues[i + 1][0]):
                linked[i] = after
                s, e, role = cues[i]
                out.append(Relation(role, s, e, after.start, after.end, after.kind,
                                    self._status.assertion(text, triggers, s, e)))
        out.sort(key=lambda r: r.cue_start)
        return out, [b for b in bare if not any(r.cue_start == b[1] for r in out)]

    def analyse(self, text: str) -> tuple[list[Relation], list[tuple[str, int, int, str]], bool]:
        """Relations; the cues that found no provider in their clause, with their assertion
        (a signature block says the name on one line and 'Electronically signed <date>' on the
        next); and whether the sentence is a provider's name line ("Bradley Enqvist, MD, FAAPMR")."""
        relations, bare = self._relate(text)
        triggers = self._status.triggers(text) if bare else []
        bare_out = [(role, s, e, self._status.assertion(text, triggers, s, e)) for role, s, e in bare]
        return relations, bare_out, self.is_name_line(text)

    def is_name_line(self, text: str) -> bool:
        """Is the sentence a provider's name line ("Bradley Enqvist, MD, FAAPMR")?"""
        if len(text) >= 160 or not self._name_hint.search(text):
            return False
        return any(p.kind in ("titled", "credentialed") and p.start <= 3 for p in self.providers(text))

    def _words(self, text: str) -> list[str]:
        return [t.lower() for t in _TOKEN.findall(_ASIDE.sub(" ", text))]

    def _forward_provider(self, text: str, end: int, providers: list[Provider]) -> Provider | None:
        for p in providers:
            if p.start < end:
                continue
            gap = text[end:p.start]
            if len(gap) > 80 or _BOUNDARY.search(_ASIDE.sub(" ", gap).rstrip(" :\t")):
                return None
            words = self._words(gap)
            # between the cue and the name: link words, dates, and what is signed ("signed for both
            # accessions: Dr X", "signed the report, Dr X")
            if len(words) <= 8 and all(w in self._forward or w.rstrip(".") in self._forward or w in self._objects or
                                       self._date_time.match(w) for w in words):
                return p
            return None
        return None

    def _backward_provider(self, text: str, start: int, providers: list[Provider], role: str) -> Provider | None:
        for p in reversed(providers):
            if p.end > start:
                continue
            gap = text[p.end:start]
            if len(gap) > 90 or _BOUNDARY.search(_ASIDE.sub(" ", gap)) or ":" in gap:
                return None
            # the name's apposition before a dash ("MUDr. Jana Horak, radiolog - podepsano"): who they are
            apposition = _APPOSITION.match(gap)
            words = self._words(gap[apposition.end():] if apposition else gap)
            if len(words) <= 5 and all(w in self._backward for w in words):
                return p
            return None
        return None

    def _coordinated(self, text: str, a: int, b: int) -> bool:
        gap = text[a:b]
        if _BOUNDARY.search(gap) or len(gap) > 60:
            return False
        words = self._words(gap)
        return len(words) <= 6 and ("and" in words or "&" in words or "," in words or "/" in gap) and \
            all(w in self._objects or w in self._forward or w in self._backward for w in words)


class _StatusRule(NamedTuple):
    category: str
    direction: str
    literals: list[str]

    @classmethod
    def of(cls, items) -> list["_StatusRule"]:
        return [cls(i["category"], i["direction"], list(i["literals"])) for i in items]
