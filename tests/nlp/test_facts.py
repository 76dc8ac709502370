"""Views, anatomy, contrast and report elements as a coder would count them."""
import pytest


def facts(check, text, cpt=("72100",)):
    return check(text, cpt=list(cpt))["facts"]


@pytest.mark.parametrize("text,views", [
    ("Lumbar spine, four views.", 4),
    ("XR L-SPINE 4V", 4),
    ("Two view lumbar spine radiographs.", 2),
    ("AP and lateral views of the lumbar spine.", 2),
    ("AP, lateral and bilateral oblique views of the lumbar spine.", 4),
    ("Flexion and extension laterals of the lumbar spine.", 2),
    ("Left and right lateral bending views of the lumbar spine.", 2),
    ("Open mouth odontoid, AP and lateral views of the cervical spine.", 3),
    ("AP, lateral and swimmer's views of the thoracic spine.", 3),
    ("AP and lateral views plus a coned-down lateral of L5-S1.", 3),
    ("AP and lateral views. A coned lateral of L5-S1 was not obtained.", 2),
    ("AP and lateral views of the lumbar spine. Will obtain flexion and extension views if pain persists.", 2),
    ("X-rays of the lumbar spine were reviewed.", None),
    ("Pain worse with flexion and extension.", None),
    # a projection list needs no view noun; shorthand counts
    ("Technique: AP and lateral.", 2),
    ("Projections: PA/lat.", 2),
    ("Technique: 2V.", 2),
    ("Technique: 2 vws.", 2),
    ("Lumbar spine x2 views.", 2),
    ("Anteroposterior and lateral views of the lumbar spine.", 2),
    ("Frontal and lateral radiographs.", 2),
    ("Flex/ex views of the cervical spine.", 2),
    ("Upright lateral views obtained in flexion and in extension.", 2),
    ("Complete series with bending: AP, lateral, both obliques, R and L bending.", 6),
    ("AP, lateral and coned-down lateral of L5-S1.", 3),
    # views that were not taken
    ("AP and lateral views. Flexion and extension views deferred.", 2),
    ("AP and lateral views were obtained; oblique views were omitted.", 2),
    ("AP and lateral views. The patient declined oblique views.", 2),
    ("AP and lateral views. Bending views could not be obtained due to pain.", 2),
    ("AP and lateral views (obliques not done).", 2),
    ("Pain with left lateral bending and right lateral bending.", None),
])
def test_facts_view_count(check, text, views):
    assert facts(check, text)["views"] == views


@pytest.mark.parametrize("text,positions", [
    ("Lateral views in flexion and extension.", ["extension", "flexion"]),
    ("Right and left side bending AP views.", ["bending_left", "bending_right"]),
    ("AP and lateral views.", []),
])
def test_facts_positions(check, text, positions):
    assert facts(check, text)["positions"] == positions


@pytest.mark.parametrize("text,region", [
    ("XR CERVICAL SPINE 3 VIEWS", ["cervical"]),
    ("Three views of the C-spine.", ["cervical"]),
    ("Thoracolumbar junction, 2 views. Alignment from T11 to L2 is normal.", ["thoracolumbar"]),
    ("Scoliosis series, standing PA and lateral of the entire spine. The lumbar spine is straight.", ["entire_spine"]),
    ("Sacroiliac joints, 3 views.", ["sacroiliac"]),
    ("CT cervical and thoracic spine without contrast.", ["cervical", "thoracic"]),
    ("MRI lumbar spine. The conus ends at L1. Cord normal to T12.", ["lumbosacral"]),
    ("Cervical spine x-rays today. Lumbar spine films were not obtained.", ["cervical"]),
    ("Spine, one view. No fracture.", []),
    ("Dynamic films today, four views. Grade 1 slip of L4 on L5.", ["lumbosacral"]),
])
def test_facts_region(check, text, region):
    assert facts(check, text)["region"] == region


@pytest.mark.parametrize("text,levels", [
    ("Disc bulge at L4-5.", ["L4-L5"]),
    ("Disc bulge at L4-L5 and L5-S1.", ["L4-L5", "L5-S1"]),
    ("Fusion from C5 through C7.", ["C5-C7"]),
    ("Spondylolisthesis of L4 on L5.", ["L4-L5"]),
    ("Slip at L four five.", ["L4-L5"]),
    ("Sagittal T1 and T2 weighted images.", []),
])
def test_facts_levels(check, text, levels):
    assert facts(check, text)["levels"] == levels


@pytest.mark.parametrize("text,contrast", [
    ("MRI lumbar spine without contrast.", "without"),
    ("Non-contrast CT of the cervical spine.", "without"),
    ("MRI lumbar spine with and without contrast.", "without_with"),
    ("Sagittal images were obtained. Following intravenous administration of gadolinium, T1 images were obtained.", "with"),
    ("Images were obtained before and after intravenous contrast.", "without_with"),
    ("MRI of the lumbar spine.", None),
    ("MRI lumbar spine without IV contrast. Post-contrast imaging was not performed.", "without"),
    ("Precontrast and postcontrast T1 images after 7 mL gadolinium IV.", "without_with"),
    ("Images prior to and following the administration of gadolinium.", "without_with"),
    ("Routine sequences followed by post contrast T1.", "without_with"),
    ("Contrast not administered.", "without"),
    ("The patient declined gadolinium.", "without"),
])
def test_facts_contrast(check, text, contrast):
    assert facts(check, text, ("72148",))["contrast"] == contrast


@pytest.mark.parametrize("text,signed", [
    ("Impression: normal.\nElectronically signed by Ana Ruiz, MD 01/02/2026", True),
    ("Impression: normal.\nSigned: Ana Ruiz, MD", True),
    ("Impression: normal.\nDictated by: Ana Ruiz, MD\nDictated but not read.", False),
    ("Impression: normal.\nReport status: preliminary, pending physician signature.", False),
    ("Impression: normal.\nSigned Ana Ruiz, MD", True),
    ("Impression: normal.\nApproved by Ana Ruiz, MD", True),
    ("Impression: normal.\nI personally reviewed the images and agree with the findings above. Ana Ruiz, MD", True),
    ("Impression: normal.\nDictated but not signed by Ana Ruiz, MD", False),
    ("Impression: normal.\nTo be signed by Ana Ruiz, MD", False),
])
def test_facts_signature(check, text, signed):
    assert facts(check, text)["signed"] is signed


@pytest.mark.parametrize("said, contrast", [
    ("Sagittal T1 before and after intravenous administration of 7 mL gadobutrol.", "without_with"),
    ("Axial T1 fat sat pre and post 8 mL Dotarem.", "without_with"),
    ("Contrast: Clariscan 6 mL IV.", "with"),
    ("Gadolinium was withheld (eGFR 24).", "without"),
    ("Contrast declined by the patient.", "without"),
    ("The patient reports an iodinated contrast allergy.", None),
    ("Originally ordered as without and with contrast.", None),
])
def test_contrast_is_an_agent_and_what_its_clause_says(engine, said, contrast):
    values = {v for v, _, _ in engine._component.analyze(said).contrast}
    assert values == ({contrast} if contrast else set())


def test_views_the_physician_will_get_later_are_not_views(check):
    r = check("Lumbar spine two views, AP and lateral. If no better in six weeks we'll get flexion and extension views.",
              cpt=["72100"])
    assert r["facts"]["views"] == 2 and r["facts"]["positions"] == []
