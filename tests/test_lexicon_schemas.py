"""The schemas of patterns.json, icd10_support.json, sections.json (and its section roles) and
roles.json (issue 10): a broken copy of a file stops loading with one error naming the file and
the key path, and the shipped files pass."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scribe.errors import LexiconError
from scribe.lexicons import lexicon_root, load_lexicons


def _edit_json(name: str, edit):
    def breaks(root: Path) -> None:
        path = root / name
        data = json.loads(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    return breaks


def _family_necessity(root: Path) -> None:
    path = root / "families" / "knee_leg.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('necessity = "plain"', 'necessity = "plian"', 1),
                    encoding="utf-8")


def _set(path: tuple, value):
    def edit(data):
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value
    return edit


def _rename(key: str, new: str):
    def edit(data):
        data[new] = data.pop(key)
    return edit


def _rename_in(parent: str, key: str, new: str):
    def edit(data):
        data[parent][new] = data[parent].pop(key)
    return edit


BREAKS = [
    # patterns.json
    ("pattern does not compile", _edit_json("patterns.json", _set(("projections", 2, "pattern"), "(?:oblique")),
     ["patterns.json", "projections.2.pattern", "does not compile"]),
    ("misspelt pattern key", _edit_json("patterns.json", _rename("signature", "signatrue")),
     ["patterns.json", "signature: Field required", "signatrue: Extra inputs are not permitted"]),
    ("side word to an unknown side", _edit_json("patterns.json", _set(("sides", "values", "rt"), "rigth")),
     ["patterns.json", "sides.values.rt"]),
    ("gate keywords not a list", _edit_json("patterns.json", _set(("gates", "signature"), "signed")),
     ["patterns.json", "gates.signature", "valid list"]),
    ("fold into an unknown region", _edit_json("patterns.json", _set(("region_folds", "thoracolumbar"), ["thorax"])),
     ["patterns.json", "region_folds", "thoracolumbar: unknown region 'thorax'"]),
    ("unknown dynamic projection", _edit_json("patterns.json", _set(("dynamic_projections",), ["flex"])),
     ["patterns.json", "dynamic_projections", "unknown projection 'flex'"]),
    # icd10_support.json
    ("malformed support prefix", _edit_json("icd10_support.json", _set(("support", "dynamic", "prefixes", 2), "m43 1")),
     ["icd10_support.json", "support.dynamic.prefixes.2"]),
    ("misspelt support key", _edit_json("icd10_support.json",
                                        lambda d: d["support"]["advanced"].update(prefix=d["support"]["advanced"].pop("prefixes"))),
     ["icd10_support.json", "support.advanced.prefixes: Field required", "support.advanced.prefix"]),
    ("unknown not_supporting rule", _edit_json("icd10_support.json", _set(("not_supporting",), "nonspecific_pain")),
     ["icd10_support.json", "not_supporting"]),
    ("malformed non-specific code", _edit_json("icd10_support.json", _set(("nonspecific_pain", 0), "m54.50")),
     ["icd10_support.json", "nonspecific_pain.0"]),
    ("a family's unknown necessity class", _family_necessity, ["knee_leg.toml", "necessity", "'plian'", "icd10_support.json"]),
    # sections.json and its section roles
    ("role naming an unknown section", _edit_json("sections.json", lambda d: d["roles"]["reason"].append("indicaton")),
     ["sections.json", "roles", "reason: unknown section category 'indicaton'"]),
    ("misspelt role", _edit_json("sections.json", _rename_in("roles", "future", "futur")),
     ["sections.json", "roles", "unknown role 'futur'"]),
    ("role not a list", _edit_json("sections.json", _set(("roles", "no_findings"), "plan")),
     ["sections.json", "roles.no_findings", "valid list"]),
    ("required role missing", _edit_json("sections.json", lambda d: d["roles"].pop("reason")),
     ["sections.json", "roles.reason: Field required"]),
    ("section with a bad id", _edit_json("sections.json", _set(("sections", 3, "id"), "x")),
     ["sections.json", "sections.3.id"]),
    ("unknown midline category", _edit_json("sections.json", lambda d: d["midline_categories"].append("findngs")),
     ["sections.json", "midline_categories", "'findngs'"]),
    ("soft header key misspelt", _edit_json("sections.json", _rename_in("soft_headers", "not_before", "not_befor")),
     ["sections.json", "soft_headers.not_before: Field required"]),
    # roles.json (role cues)
    ("unknown role cue", _edit_json("roles.json", lambda d: d["cues"].update(signing=["signed"])),
     ["roles.json", "cues", "signing"]),
]


@pytest.mark.parametrize("name,breaks,says", BREAKS, ids=[b[0] for b in BREAKS])
def test_a_broken_lexicon_file_names_the_file_and_key(tmp_path, name, breaks, says):
    root = tmp_path / "lexicons"
    shutil.copytree(lexicon_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    breaks(root)
    with pytest.raises(LexiconError) as err:
        load_lexicons(root)
    message = str(err.value)
    assert "\n" not in message
    for words in says:
        assert words in message, message


def test_the_shipped_files_pass_and_are_read_as_they_are():
    lex = load_lexicons()
    root = lexicon_root()
    assert lex.icd_support == json.loads((root / "icd10_support.json").read_text(encoding="utf-8"))
    patterns = json.loads((root / "patterns.json").read_text(encoding="utf-8"))
    assert {k: lex.patterns[k] for k in patterns if k not in ("region_labels", "gates", "projections", "projection_hint")} \
        == {k: v for k, v in patterns.items() if k not in ("region_labels", "gates", "projections", "projection_hint")}
