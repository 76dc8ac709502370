"""Conditions linked over the whole ICD-10-CM code set.

The hand lexicon (``concepts.jsonl``) knows the spine's own phrasing and the assertion
hints; everything else a note may give as a reason ("metastatic prostate cancer",
"urinary retention", "foot drop") is looked up here, in an index of every code's
description and inclusion terms from the official Tabular (``simple-icd-10-cm``).

A term is its *set of content words* after the project's synonyms
(``lexicons/icd10_terms.json``), so "leg pain" finds "Pain in leg, unspecified" and
"left foot drop" finds "Foot drop, left foot". Where several codes share a term the
billable, unspecified one wins (what the Alphabetic Index gives for a term said
without further detail). A note's modifiers the Tabular does not index
("metastatic", "chronic") are dropped only when the whole term finds nothing.

The index is built once per code-set release and lexicon version and cached next to
the code-set index (marshal, a few MB); a sentence is looked up word window by word
window, each window a dictionary probe, so the cost is linear in the words read.
"""
from __future__ import annotations

import hashlib
import json
import logging
import marshal
import re
from pathlib import Path
from typing import NamedTuple

from .icd10 import IcdCodeSet, _write_atomically, default_cache_dir

log = logging.getLogger(__name__)

TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'-]*")    # a written word, as terms and composed conditions read it
_TOKEN = TOKEN
_ASIDE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_MARK = re.compile(r"[.;:,\n]")        # a term never runs across a sentence or list mark
_FORMAT = 10
_SIDES = frozenset({"right", "left", "bilateral"})
# "fracture of shaft of humerus, right arm": the arm or leg after a side only says the side
_SIDE_LIMB = re.compile(r",\s*(right|left|unspecified)\s+(?:arm|leg)\b", re.I)
_ABSENT = re.compile(r"\bwithout\b[^,]*|\bnot elsewhere classified\b|\bnot specified as \w+", re.I)   # what a note leaves unsaid
_EPISODE_TAIL = re.compile(r",\s*(?:(?:initial|subsequent) encounter|sequela).*$", re.I)
# "... in diseases classified elsewhere": a manifestation, coded after its cause, never composed (Guidelines I.A.13)
_MANIFESTATION = re.compile(r"\bclassified elsewhere\b", re.I)
_EPISODE = re.compile(r"\b(?:encounter|sequela)\b", re.I)   # a 7th-character code: its parent is composed


class Composed(NamedTuple):
    code: str
    score: float
    site: frozenset[str]       # the clause's words the code names besides its head and side
    sides: frozenset[str] = frozenset()   # the side words of its description
    also: str | None = None    # both sides, where the code set has no bilateral code: the left side's code


class TermMatch(NamedTuple):
    start: int
    end: int
    code: str
    exact: bool        # the whole term matched (no modifier of the note dropped)


class TermNormalizer:
    def __init__(self, spec: dict):
        self.stop = frozenset(spec.get("stopwords", ()))
        self.synonyms = {k.lower(): tuple(v.lower().split()) for k, v in spec.get("synonyms", {}).items()}
        self.optional = frozenset(spec.get("optional", ()))
        self.implied = frozenset(spec.get("implied", ()))
        self.too_general = frozenset(frozenset(t.split()) for t in spec.get("too_general", ()))
        self.too_general_words = frozenset(t for t in spec.get("too_general", ()) if " " not in t)
        self.max_words = int(spec.get("max_words", 7))
        composed = spec.get("composed", {})
        self.heads = frozenset(composed.get("heads", ()))
        self.qualifiers = frozenset(w for q in composed.get("qualifiers", ()) for w in self.word(q)) | \
            frozenset(composed.get("qualifiers", ()))
        self.extra_weight = float(composed.get("extra_weight", 0.75))
        self.mention_weight = float(composed.get("mention_weight", 0.5))
        self.side_weight = float(composed.get("side_weight", 0.25))
        # the kind of a fracture ("nondisplaced", "comminuted") tells codes of one site apart; it
        # counts less than a site word, so it never outweighs a site the description adds
        self.kinds = frozenset(composed.get("kinds", ()))
        self.kind_weight = float(composed.get("kind_weight", 1.0))
        self.phrases = [(re.compile(rx, re.I), to) for rx, to in composed.get("phrases", ())]
        self.site_codes = tuple(composed.get("site_codes", ()))
        # what cannot modify a condition's head written before it ("of", "no", "shows")
        self.not_modifiers = frozenset(w.lower() for w in composed.get("not_modifiers", ()))
        self.devices = frozenset(composed.get("device_words", ()))
        self.status_heads = {h: tuple(prefixes) for h, prefixes in composed.get("status_heads", {}).items()}
        self._words_cache: dict[str, frozenset[str]] = {}
        self.equivalents = [(e["with"], frozenset(e["from"]), frozenset(e["to"].split()))
                            for e in composed.get("equivalents", ())]

    def words_of(self, text: str) -> set[str]:
        """The content words of a stretch of note text, its phrases said the Tabular's way first
        ("small finger" is the little finger). A clause is read for each condition it holds, so
        the words are kept per text (a copy is returned: callers add the side)."""
        hit = self._words_cache.get(text)
        if hit is None:
            hit = frozenset(self._words_of(text))
            if len(self._words_cache) > 50_000:
                self._words_cache.clear()
            self._words_cache[text] = hit
        return set(hit)

    def _words_of(self, text: str) -> set[str]:
        for rx, to in self.phrases:
            text = rx.sub(to, text)
        words = {x for tok in _TOKEN.findall(text) for x in self.word(tok)}
        for said_with, said, filed in self.equivalents:
            if said_with in words and words & said:
                words = (words - said) | filed
        return words

    def carried(self, heads: frozenset[str], words: set[str]) -> frozenset[str]:
        """A mention's head words as the clause's equivalents file them ("loose" said of a
        component is "loosening")."""
        out: set[str] = set()
        for h in heads:
            if h in words:
                out.add(h)
                continue
            for said_with, said, filed in self.equivalents:
                if h in said and said_with in words:
                    out |= filed
        return frozenset(out)

    def description_words(self, description: str) -> frozenset[str]:
        """A code's description as the words a note must say for it, less the implied ones."""
        text = _ABSENT.sub(" ", _ASIDE.sub(" ", _SIDE_LIMB.sub(r", \1", description)))
        return frozenset(x for tok in _TOKEN.findall(text) for x in self.word(tok) if x not in self.implied)

    def word(self, raw: str) -> tuple[str, ...]:
        """The content words one written word stands for (none for a stop word)."""
        w = raw.lower().strip("'-")
        if w.endswith("'s"):
            w = w[:-2]
        mapped = self.synonyms.get(w)
        if mapped is None and len(w) > 5 and w.endswith("ies"):
            mapped = self.synonyms.get(w[:-3] + "y", (w[:-3] + "y",))      # instabilities -> instability
        elif mapped is None and len(w) > 4 and w.endswith("s") and not w.endswith(("ss", "us", "is", "sis")):
            mapped = self.synonyms.get(w[:-1], (w[:-1],))
        words = mapped if mapped is not None else (w,)
        return tuple(x for x in words if x not in self.stop)

    def key(self, words) -> frozenset[str]:
        return frozenset(words)

    def term_keys(self, term: str) -> list[frozenset[str]]:
        """The keys a Tabular term is filed under: its words, and its words less the implied ones;
        "A B or C" also as "A C"."""
        term = _ASIDE.sub(" ", term)
        variants = [term]
        if ", except " in term:          # "X, except Y" is also what a note calls X
            variants.append(term.split(", except ")[0])
        if " or " in term:
            left, _, right = term.rpartition(" or ")
            if len(right.split()) == 1 and len(left.split()) > 1:
                variants = [left, left.rsplit(" ", 1)[0] + " " + right]
        keys = []
        for v in variants:
            words = [x for tok in _TOKEN.findall(v) for x in self.word(tok)]
            if not words:
                continue
            keys.append(self.key(words))
            kept = [w for w in words if w not in self.implied]
            if kept and len(kept) < len(words):
                keys.append(self.key(kept))
        return keys


class TermIndex:
    def __init__(self, entries: dict[frozenset[str], str], normalizer: TermNormalizer,
                 heads: dict[str, list[tuple[str, frozenset[str], int]]] | None = None,
                 sites: frozenset[str] = frozenset(), vocabulary: frozenset[str] | None = None):
        self.entries = entries
        self.heads = heads or {}
        self.sites = sites
        self.norm = normalizer
        self.vocabulary = frozenset(w for k in entries for w in k) if vocabulary is None else vocabulary
        self._words: dict[str, tuple[tuple[str, ...], bool]] = {}
        self._by_site: dict[str, dict[str, list[int]]] = {}

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(cls, codeset: IcdCodeSet, spec: dict) -> TermIndex:
        norm = TermNormalizer(spec)
        ranked: dict[frozenset[str], tuple] = {}
        for code in codeset:
            description = codeset.description(code) or ""
            billable = codeset.is_billable(code)
            unspecified = "unspecified" in description.lower()
            terms = [(description, 0)] + [(t, 1) for t in codeset.inclusion_terms(code)]
            for term, inclusion in terms:
                for rank_extra, key in enumerate(norm.term_keys(term)):
                    # billable first, then the unspecified child, a description before an inclusion
                    # term, the exact words before the words less implied ones, then the shorter code
                    rank = (not billable, not unspecified, inclusion, rank_extra > 0, len(code), code)
                    seen = ranked.get(key)
                    if seen is None or rank < seen:
                        ranked[key] = rank
        entries = {k: r[-1] for k, r in ranked.items()}
        for item in spec.get("index_terms", ()):
            for key in norm.term_keys(item["term"]):
                entries[key] = item["code"]
        return cls(entries, norm, cls._postings(codeset, norm), cls._sites(codeset, norm))

    @staticmethod
    def _sites(codeset: IcdCodeSet, norm: TermNormalizer) -> frozenset[str]:
        """The words that name a site of a limb: those of the limb injury codes' descriptions
        (``composed.site_codes``), less heads, qualifiers, sides and the encounter's words."""
        prefixes = tuple(norm.site_codes)
        if not prefixes:
            return frozenset()
        words: set[str] = set()
        for code in codeset:
            if code.startswith(prefixes):
                text = _EPISODE_TAIL.sub("", codeset.description(code) or "")
                words |= norm.description_words(text)
        return frozenset(words - norm.heads - norm.qualifiers - _SIDES)

    @staticmethod
    def _postings(codeset: IcdCodeSet, norm: TermNormalizer) -> dict[str, list[tuple[str, frozenset[str], int]]]:
        """Per head word ("fracture", "pain", "tear"), every code whose description has it, with its
        words and its default rank (an unspecified code before an "other" one, as the Index gives a
        term said without detail); a code with an encounter (7th) character is left to its parent,
        whose description says the condition."""
        heads: dict[str, list[tuple[str, frozenset[str], int]]] = {}
        if not norm.heads:
            return heads
        rows: dict[str, tuple[frozenset[str], int]] = {}
        for code in codeset:
            description = codeset.description(code) or ""
            if _EPISODE.search(description) or _MANIFESTATION.search(description):
                continue
            words = norm.description_words(description)
            lower = description.lower()
            default = 2 * ("unspecified" in lower) + ("other" not in lower.split())
            rows[code] = (words, default)
            for head in norm.heads & words:
                heads.setdefault(head, []).append((code, words, default))
        # an inclusion term names its code's condition as a note says it ("Fracture of hip NOS",
        # "Fracture of ankle NOS"): each code below it is filed under the term's words too, with
        # what that code adds to its parent's description (the side, a further site)
        for code, (words, _default) in rows.items():
            terms = [t for t in codeset.inclusion_terms(code) if not _EPISODE.search(t)]
            if not terms:
                continue
            below = [c for c in codeset.descendants(code) if c in rows] or [code]
            for term in terms:
                said = norm.description_words(term)
                for child in below:
                    child_words, child_default = rows[child]
                    inherited = said | (child_words - words)
                    for head in norm.heads & inherited:
                        heads.setdefault(head, []).append((child, inherited, child_default))
        return heads

    @classmethod
    def load(cls, codeset: IcdCodeSet, spec: dict, cache_dir: Path | None = None) -> TermIndex:
        """The index for this code set and lexicon, from the cache or built (and cached) now."""
        digest = hashlib.sha256(json.dumps([_FORMAT, codeset.fingerprint, spec], sort_keys=True).encode()).hexdigest()[:16]
        path = (Path(cache_dir) if cache_dir else default_cache_dir()) / f"icd10cm-terms-{digest}.marshal"
        try:
            payload = marshal.loads(path.read_bytes())
            if isinstance(payload, dict) and isinstance(payload.get("entries"), dict):
                # marshal keeps frozensets, so the rows and the vocabulary load as they were built
                return cls(payload["entries"], TermNormalizer(spec), payload["heads"], payload["sites"],
                           payload["vocabulary"])
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            pass
        index = cls.build(codeset, spec)
        try:
            _write_atomically(path, {"entries": index.entries, "heads": index.heads, "sites": index.sites,
                                     "vocabulary": index.vocabulary})
            for stale in path.parent.glob("icd10cm-terms-*.marshal"):   # indexes of earlier lexicons
                if stale != path:
                    stale.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot write the ICD-10-CM term index in %s (%s); it is rebuilt at every start", path.parent, exc)
        return index

    # -- composing a condition from its clause -----------------------------------------------
    def compose(self, clause: str, side: str | None = None, heads: frozenset[str] | None = None,
                mention: str = "") -> Composed | None:
        """The code whose description best covers what a clause says of a condition: its head
        ("fracture"), the site words ("distal radius", "proximal phalanx little finger"), the kind
        ("torus", "nondisplaced") and the side, each word of the description the clause does not
        say counting against it; ``heads``, the head words the mention itself says, and a word of
        the ``mention`` counting half again (the mention's own site before one said nearby). None
        when no code names a site the clause says."""
        said = self.norm.words_of(mention)
        words = self.norm.words_of(clause)
        if side in _SIDES:
            words.add(side)
        heads = self.norm.heads & words & (self.norm.carried(heads, words) if heads is not None else words)
        if not heads:
            return None
        # a candidate must name a site the clause says (not a side, a head or a qualifier): only
        # the rows filed under one of those site words are read, in their Tabular order
        wanted = (words & self.sites) - _SIDES - heads - self.norm.qualifiers
        if not wanted:
            return None
        best: tuple | None = None
        unsaid_devices = self.norm.devices - words
        # "right TKA": the status (Z96.6-), not a complication another word of the clause names
        status = tuple(p for h in heads for p in self.norm.status_heads.get(h, ())) \
            if heads <= self.norm.status_heads.keys() else ()
        for head in heads:
            rows = self.heads.get(head, ())
            by_site = self._site_rows(head, rows)
            picked = sorted({i for w in wanted for i in by_site.get(w, ())})
            for code, described, default in (rows[i] for i in picked):
                if described & unsaid_devices:
                    continue      # a device's complication needs the device said
                if status and not code.startswith(status):
                    continue
                covered = words & described
                site = covered - _SIDES - heads
                score = self._score(words, described, said, side)
                rank = (score, default, len(code))    # then the default, the more detailed code, the first in the Tabular
                if best is None or rank > best[0]:
                    best = (rank, Composed(code, score, frozenset(site), described & _SIDES))
        return best[1] if best else None

    def _site_rows(self, head: str, rows) -> dict[str, list[int]]:
        """The positions of a head's rows by each limb site word their description names (built
        on the first condition of that head)."""
        index = self._by_site.get(head)
        if index is None:
            index = {}
            for i, (_code, described, _default) in enumerate(rows):
                for w in described & self.sites:
                    index.setdefault(w, []).append(i)
            self._by_site[head] = index
        return index

    def compose_sides(self, clause: str, side: str | None = None, heads: frozenset[str] | None = None,
                      mention: str = "") -> Composed | None:
        """:meth:`compose`, and for a condition of both sides whose best code is not a bilateral one
        ("bilateral knee pain"), the right side's code with the left side's as ``also`` (Guidelines
        I.B.13: without a bilateral code, each side is reported)."""
        best = self.compose(clause, side, heads, mention)
        if best is None or side != "bilateral":
            return best
        right = self.compose(clause, "right", heads, mention)
        left = self.compose(clause, "left", heads, mention)
        if right is None or left is None or right.code == left.code or best.code in (right.code, left.code):
            return best
        if "bilateral" in best.sides:
            return best
        return right._replace(also=left.code)

    def covers(self, description: str, clause: str, side: str | None = None, mention: str = "") -> float:
        """How well a code's description covers the clause, on the scale of :meth:`compose`."""
        words = self.norm.words_of(clause)
        if side in _SIDES:
            words.add(side)
        return self._score(words, self.norm.description_words(description), self.norm.words_of(mention), side)

    def _score(self, words: set[str], described: frozenset[str], said: set[str], side: str | None) -> float:
        """The clause's words a description covers, a word of the mention itself and the side said
        counting extra (a code of that side beats the unspecified one it would tie with), less each
        description word the clause does not say (weights: ``composed`` in icd10_terms.json)."""
        norm = self.norm
        covered = words & described
        kinds = len(covered & norm.kinds)
        return len(covered) - kinds * (1 - norm.kind_weight) + norm.mention_weight * len(covered & said) + \
            norm.side_weight * (side in covered) - norm.extra_weight * len(described - words)

    def condition_words(self, description: str) -> frozenset[str]:
        """What a description says of the condition itself: its words less the limb sites, sides
        and qualifiers ("Pain in unspecified ankle" is {pain}; "Osteophyte, ankle" {osteophyte})."""
        words = self.norm.description_words(_EPISODE_TAIL.sub("", description))
        return (words - self.sites - _SIDES - self.norm.qualifiers) | (words & self.norm.heads)

    # -- lookup ----------------------------------------------------------------------------
    def _word(self, raw: str) -> tuple[tuple[str, ...], bool]:
        """A written word's content words and whether they are all words of some term (cached)."""
        hit = self._words.get(raw)
        if hit is None:
            words = self.norm.word(raw)
            hit = (words, all(w in self.vocabulary for w in words))
            if len(self._words) < 200_000:
                self._words[raw] = hit
        return hit

    def find(self, text: str, focus: tuple[tuple[int, int], ...] | None = None) -> list[TermMatch]:
        """The condition terms said in ``text``, longest first, not overlapping; with ``focus``
        only the terms that contain one of those spans (the mentions a term may correct)."""
        norm, entries = self.norm, self.entries
        # (start, end, content words, all known, a mark stands before it)
        tokens: list[tuple[int, int, tuple[str, ...], bool, bool]] = []
        marks = [m.start() for m in _MARK.finditer(text)]
        k, last_mark = 0, -1
        for m in _TOKEN.finditer(text):
            while k < len(marks) and marks[k] < m.start():
                last_mark = marks[k]
                k += 1
            content_words, known = self._word(m.group(0))
            # a mark between the previous word and this one
            tokens.append((m.start(), m.end(), content_words, known, bool(tokens) and last_mark >= tokens[-1][1]))
        found: list[TermMatch] = []
        n = len(tokens)
        for i in range(n):
            if not tokens[i][2] or not tokens[i][3]:
                continue
            if focus is not None and not any(tokens[i][0] <= a < tokens[i][0] + 80 for a, _ in focus):
                continue
            words: set[str] = set()
            optional = norm.optional
            best = None
            content = 0
            for j in range(i, min(n, i + 2 * norm.max_words)):   # small words between do not count
                tw = tokens[j][2]
                if tw and not tokens[j][3]:
                    break
                if j > i and tokens[j][4]:
                    break
                if not tw:
                    continue            # a stop word: a term neither starts nor ends on one
                if optional.isdisjoint(tw):      # a modifier the Tabular does not index is not counted
                    content += 1
                if content > norm.max_words:
                    break
                words.update(tw)
                key = frozenset(words)
                code = entries.get(key)
                exact = True
                if code is None and not optional.isdisjoint(words):
                    key = frozenset(words - optional)
                    code = entries.get(key) if key else None
                    exact = False
                if code is not None and key not in norm.too_general and \
                        not (len(key) == 1 and (len(next(iter(key))) < 5 or key <= norm.too_general_words)):
                    best = TermMatch(tokens[i][0], tokens[j][1], code, exact)
            if best is not None:
                found.append(best)
        # left to right, one pass: a match that overlaps the one kept before it replaces it when longer
        chosen: list[TermMatch] = []
        for t in found:                      # in order of start
            if chosen and t.start < chosen[-1].end:
                last = chosen[-1]
                # longer wins; so does the same term without the note's leading modifier, said exactly
                if t.end - t.start > last.end - last.start or (t.exact and not last.exact and t.end == last.end):
                    chosen[-1] = t
                continue
            chosen.append(t)
        return chosen
