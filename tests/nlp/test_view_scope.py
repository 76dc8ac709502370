"""What counts as a view taken: hyphenated position pairs, compound modifiers, examination
manoeuvres, studies compared against and studies only wished for."""
from __future__ import annotations

import pytest

from scribe import Encounter


def views(engine, text, cpt="72120"):
    facts = engine.check(text + "\nFindings: no translation.", Encounter(cpt=(cpt,))).to_dict()["facts"]
    return facts["views"], sorted(facts["positions"])


@pytest.mark.parametrize("text, want", [
    ("Flexion-extension radiographs of the lumbar spine.", (2, ["extension", "flexion"])),
    ("Lateral flexion/extension films obtained.", (2, ["extension", "flexion"])),
    ("Flex/ext laterals today.", (2, ["extension", "flexion"])),
    ("AP and lateral views, then flexion and extension laterals.", (4, ["extension", "flexion"])),
    # a word after the projection that only begins like an anatomical one ("to" in "today") is no anatomy
    ("Thoracic spine AP and lateral today.", (2, [])),
])
def test_a_position_pair_is_two_views_however_it_is_joined(engine, text, want):
    assert views(engine, text) == want


def test_a_position_word_inside_a_compound_modifier_is_no_view(engine):
    text = "XR lumbar spine AP and lateral.\nAssessment: extension-biased back pain, radiographs unremarkable."
    assert views(engine, text, cpt="72100") == (2, [])


def test_an_examination_manoeuvre_is_no_view(engine):
    text = ("Exam: pain reproduced with lumbar extension and relieved by flexion, SLR negative.\n"
            "Radiographs: AP and lateral lumbar spine.")
    assert views(engine, text, cpt="72100") == (2, [])


def test_a_series_compared_against_is_not_counted(engine):
    text = "Two views today, flexion and extension laterals. Compared w/ prior 5-view series from spring."
    assert views(engine, text) == (2, ["extension", "flexion"])


def test_views_only_wanted_are_not_taken(engine):
    text = ("C-spine: would have liked flexion and extension views but she could not cooperate.\n"
            "Obtained: AP, lateral and open-mouth odontoid, 3 views.")
    assert views(engine, text, cpt="72040") == (3, [])


@pytest.mark.parametrize("text", [
    "Seen at a walk-in clinic last week, AP and lateral there, read as normal. Flexion and extension laterals today.",
    "Flexion and extension laterals in clinic today, since AP and lateral were already done.",
])
def test_views_taken_elsewhere_or_already_done_are_not_this_study(engine, text):
    assert views(engine, text)[0] == 2


def test_there_opening_a_statement_is_no_place(engine):
    assert views(engine, "AP and lateral views; there is mild L4-5 narrowing.", cpt="72100")[0] == 2


def test_views_said_to_be_ordered_are_an_order_not_images(engine):
    text = ("Bending films were requested today to judge the curve's flexibility.\n"
            "Obtained in clinic: standing PA and lateral of the thoracolumbar spine.")
    assert views(engine, text, cpt="72080") == (2, [])


def test_a_count_quoted_from_the_original_report_is_not_this_study(engine):
    text = ("CORRECTED: the original report said \"3 views\" but only AP and lateral were acquired.\n"
            "Technique: AP and lateral.")
    assert views(engine, text, cpt="72100")[0] == 2


def test_views_later_said_not_taken_are_not_counted_from_the_order(engine):
    text = ("Imaging: I ordered flexion and extension lumbar films today. He could not tolerate bending; "
            "flexion and extension views were not obtained. Standing AP and lateral were taken instead.")
    assert views(engine, text) == (2, [])


@pytest.mark.parametrize("text", [
    "Unable to lie flat for an AP view. One lateral radiograph of the thoracic spine, seated.",
    "AP and lateral films at urgent care last month were normal. One coned lateral view of L5-S1 here today.",
])
def test_a_view_not_taken_here_is_not_counted(engine, text):
    assert views(engine, text, cpt="72020")[0] == 1
