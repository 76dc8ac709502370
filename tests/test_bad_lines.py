"""Bad claim lines in batch (issue 10, "Bad input"): `scribe check --jsonl` answers each bad case
with an error row naming the line (its `line` index and `cpt` beside `code` and `message`), and
the other cases of the run are still checked. A side modifier on a code that is bilateral by
definition and 26 with TC on one line are checked, not refused: they are `MODIFIER_INVALID` gaps."""
from __future__ import annotations

import json
import subprocess
import sys

KNEES = ("EXAM: XR BOTH KNEES 2 VIEWS\nIndication: bilateral knee pain after a fall.\nOrdering: Dr. Ana Ruiz.\n"
         "Technique: AP and lateral of both knees.\nComparison: none.\nFindings: No fracture.\n"
         "Impression: No acute abnormality.\nElectronically signed by Lee Park, MD")
STANDING = ("EXAM: STANDING KNEES\nIndication: knee osteoarthritis follow-up.\nOrdering: Dr. Ana Ruiz.\n"
            "Technique: one standing AP view of both knees.\nComparison: none.\nFindings: Joint space narrowing.\n"
            "Impression: Osteoarthritis.\nElectronically signed by Lee Park, MD")
BOTH_SIDES = [{"cpt": "73560", "modifiers": ["RT"]}, {"cpt": "73560", "modifiers": ["LT"]}]

CASES = [
    {"id": "good-before", "text": KNEES, "lines": BOTH_SIDES},
    {"id": "unknown", "text": KNEES, "lines": [{"cpt": "73560", "modifiers": ["RT"]}, {"cpt": "73599", "modifiers": ["LT"]}]},
    {"id": "deleted", "text": KNEES, "lines": [{"cpt": "73510", "modifiers": ["RT"]}]},
    {"id": "cpt-disagrees", "text": KNEES, "cpt": ["73560", "73562"], "lines": BOTH_SIDES},
    {"id": "modifiers-disagree", "text": KNEES, "modifiers": ["50"], "lines": BOTH_SIDES},
    {"id": "cpt-restates", "text": KNEES, "cpt": ["73560", "73560"], "modifiers": ["RT", "LT"], "lines": BOTH_SIDES},
    {"id": "empty-lines", "text": KNEES, "lines": []},
    {"id": "two-codes-on-a-line", "text": KNEES, "lines": [BOTH_SIDES[0], {"cpt": ["73560", "73562"]}]},
    {"id": "not-an-object", "text": KNEES, "lines": [BOTH_SIDES[0], "73560-LT"]},
    {"id": "side-on-bilateral", "text": STANDING, "lines": [{"cpt": "73565", "modifiers": ["RT"]}]},
    {"id": "26-with-tc", "text": KNEES, "lines": [BOTH_SIDES[0], {"cpt": "73560", "modifiers": ["LT", "26", "TC"]}]},
    {"id": "good-after", "text": KNEES, "lines": BOTH_SIDES},
]


def scribe(*args):
    return subprocess.run([sys.executable, "-m", "scribe.cli", *args], capture_output=True, text=True, timeout=300)


def test_each_bad_line_is_an_error_row_naming_it_and_the_run_goes_on(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    out = scribe("check", "--jsonl", str(path))
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert list(rows) == [c["id"] for c in CASES]

    def error(case_id):
        return rows[case_id]["error"]

    unknown = error("unknown")
    assert (unknown["code"], unknown["line"], unknown["cpt"]) == ("UNKNOWN_CPT", 1, "73599")
    assert unknown["message"].startswith("line 2 (lines[1]): CPT 73599 ")
    deleted = error("deleted")
    assert (deleted["code"], deleted["line"], deleted["cpt"]) == ("DELETED_CPT", 0, "73510")
    assert deleted["message"].startswith("line 1 (lines[0]): CPT 73510 was deleted") and "73502" in deleted["message"]
    disagree = error("cpt-disagrees")
    assert (disagree["code"], disagree["line"]) == ("BAD_ENCOUNTER", 1)
    assert "line 2 (lines[1]) is 73560 but 'cpt' has 73562" in disagree["message"]
    mods = error("modifiers-disagree")
    assert mods["code"] == "BAD_ENCOUNTER" and "'modifiers' 50" in mods["message"]
    assert "line 1 (lines[0]): RT" in mods["message"] and "line 2 (lines[1]): LT" in mods["message"]
    empty = error("empty-lines")
    assert empty["code"] == "CPT_MISSING" and "'lines' is empty" in empty["message"]
    two = error("two-codes-on-a-line")
    assert (two["code"], two["line"]) == ("BAD_ENCOUNTER", 1) and two["message"].startswith("line 2 (lines[1]) carries 2")
    shape = error("not-an-object")
    assert (shape["code"], shape["line"]) == ("BAD_ENCOUNTER", 1) and "must be an object" in shape["message"]

    # checked, not refused: the same result as the lines alone, or a gap on the line at fault
    assert rows["cpt-restates"]["gaps"] == rows["good-before"]["gaps"] == rows["good-after"]["gaps"] == []
    side = [g for g in rows["side-on-bilateral"]["gaps"] if g["code"] == "MODIFIER_INVALID"]
    assert [g["cpt"] for g in side] == ["73565"] and "RT" in side[0]["message"]
    both = [g for g in rows["26-with-tc"]["gaps"] if g["code"] == "MODIFIER_INVALID"]
    assert [(g["line"], g["cpt"]) for g in both] == [(1, "73560")] and "Claim line 2" in both[0]["message"]


def test_a_bad_line_on_the_command_line_is_one_line_on_stderr(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(KNEES, encoding="utf-8")
    out = scribe("check", str(note), "--line", "73560:RT", "--line", "73599:LT")
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith("scribe: line 2 (lines[1]): CPT 73599 is not a code scribe checks")
    good = scribe("check", str(note), "--line", "73560:RT", "--line", "73560:LT", "--compact")
    assert good.returncode == 0 and json.loads(good.stdout)["gaps"] == []


def test_a_stored_encounter_reads_back_as_it_was():
    """The service stores ``to_dict`` (the lines and, restating them, ``cpt`` and ``modifiers``):
    reading it back (resume, review, addenda) is the same encounter, not a refusal."""
    from scribe import Encounter

    enc = Encounter.from_dict({"lines": [BOTH_SIDES[0], {"cpt": "73560", "modifiers": ["LT", "26"]}], "site": "facility"})
    stored = enc.to_dict()
    assert stored["cpt"] == ["73560", "73560"] and stored["modifiers"] == ["RT", "LT", "26"] and stored["lines"]
    assert Encounter.from_dict(stored) == enc
