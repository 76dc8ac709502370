"""Claim lines with their own modifiers (contract section 2, `lines`): a modifier belongs to the line
it is on, and a gap about one line names it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scribe import Encounter
from scribe.errors import InputError

TWO_REGIONS = ("EXAM: Cervical spine two views; thoracic spine two views.\n"
               "Reason: neck and upper back pain after a rear-end collision.\nReferring: Dr. Mina Ostrow.\n"
               "Projections: AP and lateral of the cervical spine; AP and lateral of the thoracic spine.\n"
               "Prior: none.\nFindings: Alignment is maintained in both regions. No fracture.\n"
               "Impression: No acute osseous injury.\nElectronically signed by Pau Serra, MD")


def run(engine, lines, site="facility"):
    enc = Encounter.from_dict({"lines": lines, "site": site})
    return engine.check(TWO_REGIONS, enc).to_dict()


def test_a_modifier_on_one_line_does_not_cover_the_other(engine):
    out = run(engine, [{"cpt": "72040", "modifiers": ["26"]}, {"cpt": "72070", "modifiers": []}])
    needed = [g for g in out["gaps"] if g["code"] == "MODIFIER_REQUIRED"]
    assert [(g["cpt"], g["line"]) for g in needed] == [("72070", 1)]
    assert "line 2" in needed[0]["message"] and "26" in needed[0]["fix"]


def test_each_line_with_its_component_modifier_is_clean(engine):
    out = run(engine, [{"cpt": "72040", "modifiers": ["26"]}, {"cpt": "72070", "modifiers": ["26"]}])
    assert not {g["code"] for g in out["gaps"]} & {"MODIFIER_REQUIRED", "MODIFIER_INVALID"}


def test_an_invalid_modifier_is_named_on_its_own_line(engine):
    out = run(engine, [{"cpt": "72040", "modifiers": ["26", "RT"]}, {"cpt": "72070", "modifiers": ["26", "TC"]}])
    invalid = sorted((g["line"], g["cpt"]) for g in out["gaps"] if g["code"] == "MODIFIER_INVALID")
    assert invalid == [(0, "72040"), (1, "72070")]


def test_the_short_form_applies_every_modifier_to_every_code(engine):
    enc = Encounter.from_dict({"cpt": ["72040", "72070"], "modifiers": ["26"], "site": "facility"})
    assert [line.modifiers for line in enc.lines] == [("26",), ("26",)]
    out = engine.check(TWO_REGIONS, enc).to_dict()
    assert not any("line" in g for g in out["gaps"])          # no line differs, so no gap names one


def test_a_distinct_service_modifier_on_either_line_of_a_pair_lets_the_pair_through(engine):
    text = TWO_REGIONS.replace("thoracic spine", "cervical spine")
    stacked = [{"cpt": "72040", "modifiers": []}, {"cpt": "72050", "modifiers": []}]
    enc = Encounter.from_dict({"lines": stacked})
    assert "NCCI_PAIR_CONFLICT" in {g["code"] for g in engine.check(text, enc).to_dict()["gaps"]}
    stacked[1]["modifiers"] = ["59"]
    enc = Encounter.from_dict({"lines": stacked})
    assert "NCCI_PAIR_CONFLICT" not in {g["code"] for g in engine.check(text, enc).to_dict()["gaps"]}


@pytest.mark.parametrize("lines", [[{"cpt": ["72040", "72070"]}], ["72040"], [{"modifiers": ["26"]}]])
def test_malformed_lines_are_refused(lines):
    with pytest.raises(InputError):
        Encounter.from_dict({"lines": lines})


def test_jsonl_cases_carry_lines(tmp_path):
    case = {"id": "two-lines", "text": TWO_REGIONS, "site": "facility",
            "lines": [{"cpt": "72040", "modifiers": []}, {"cpt": "72070", "modifiers": ["26"]}]}
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(case) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "scribe.cli", "check", "--jsonl", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    gaps = json.loads(out.stdout.splitlines()[0])["gaps"]
    assert [(g["cpt"], g["line"]) for g in gaps if g["code"] == "MODIFIER_REQUIRED"] == [("72040", 0)]


def test_a_repeated_study_on_a_line_with_76_is_no_stacked_pair(engine):
    text = TWO_REGIONS.replace("thoracic spine", "cervical spine")
    same = [{"cpt": "72040", "modifiers": ["26"]}, {"cpt": "72040", "modifiers": ["26"]}]
    assert "NCCI_PAIR_CONFLICT" in {g["code"] for g in run(engine, same)["gaps"]}
    same[1]["modifiers"] = ["26", "76"]
    assert "NCCI_PAIR_CONFLICT" not in {g["code"] for g in run(engine, same)["gaps"]}


def test_59_with_a_specific_x_modifier_on_one_line_is_invalid(engine):
    out = run(engine, [{"cpt": "72040", "modifiers": ["26"]}, {"cpt": "72070", "modifiers": ["26", "59", "XS"]}])
    invalid = [g for g in out["gaps"] if g["code"] == "MODIFIER_INVALID"]
    assert [(g["line"], g["cpt"]) for g in invalid] == [(1, "72070")] and "XS" in invalid[0]["message"]
    out = run(engine, [{"cpt": "72040", "modifiers": ["26"]}, {"cpt": "72070", "modifiers": ["26", "XS"]}])
    assert "MODIFIER_INVALID" not in {g["code"] for g in out["gaps"]}


def test_a_spot_view_billed_beside_its_series_is_totalled_with_it(check):
    note = ("XR entire spine, standing PA and lateral, plus a coned L5-S1 lateral spot (3 images) taken in clinic today.\n"
            "Reason: adolescent idiopathic scoliosis follow-up, new low back pain.\nNo earlier films here.\n"
            "Findings: right thoracic curve 24 degrees; L5-S1 spot shows intact pars.\n"
            "Impression: stable curve.\nSigned: Dr. Ines Duarte")
    codes = {g["code"] for g in check(note, cpt=["72082", "72020"])["gaps"]}
    assert "VIEWS_MISMATCH" not in codes and "NCCI_PAIR_CONFLICT" in codes


REPEATED = ("EXAM: XR CERVICAL SPINE 2 VIEWS (08:05)\nReason: neck pain after a bicycle fall.\nReferring: Dr. Ivo Brandt.\n"
            "No earlier imaging.\nFindings: AP and lateral. Normal alignment.\nImpression: no fracture.\n\n"
            "EXAM: XR CERVICAL SPINE 2 VIEWS (13:40)\nReason: new tingling in the hands after a second fall on the ward.\n"
            "Referring: Dr. Ivo Brandt.\nCompared with the morning films.\nFindings: AP and lateral. Unchanged.\n"
            "Impression: no fracture.\nElectronically signed for both accessions: Lena Park, MD")


def test_a_study_repeated_the_same_day_needs_76_not_a_pair_edit(engine):
    bare = engine.check(REPEATED, Encounter.from_dict({"lines": [{"cpt": "72040", "modifiers": ["26"]},
                                                                  {"cpt": "72040", "modifiers": ["26"]}],
                                                       "site": "facility"})).to_dict()
    codes = {(g["code"], g.get("line")) for g in bare["gaps"]}
    assert ("MODIFIER_REQUIRED", 1) in codes and not any(c == "NCCI_PAIR_CONFLICT" for c, _ in codes)
    marked = engine.check(REPEATED, Encounter.from_dict({"lines": [{"cpt": "72040", "modifiers": ["26"]},
                                                                    {"cpt": "72040", "modifiers": ["26", "76"]}],
                                                         "site": "facility"})).to_dict()
    assert not {g["code"] for g in marked["gaps"]} & {"MODIFIER_REQUIRED", "NCCI_PAIR_CONFLICT"}
