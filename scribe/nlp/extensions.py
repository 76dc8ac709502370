"""The one place where scribe's spaCy extension attributes are declared."""
from __future__ import annotations

from spacy.tokens import Doc, Span

DOC_EXTENSIONS = {
    "scribe_facts": None,        # SentenceFacts of a one-sentence doc (scribe_sentence_facts)
    "scribe_sections": None,     # list of (start_char, end_char, category) for a whole note (scribe_sectionizer)
}
SPAN_EXTENSIONS = {
    "scribe_section": None,      # section category of a sentence span
}


def register() -> None:
    """Register the extensions once; re-registration with the same name is a no-op."""
    for name, default in DOC_EXTENSIONS.items():
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=default)
    for name, default in SPAN_EXTENSIONS.items():
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
