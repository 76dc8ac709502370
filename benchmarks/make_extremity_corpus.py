"""Write benchmarks/extremity_notes.jsonl: 54 invented limb-imaging notes for the batch benchmark.

Every sentence here was written for this benchmark (no note is taken from a corpus or a labelled
set). Each study is said in three styles (a radiology report, a clinic note with films taken in the
office, a dictated transcript without punctuation), with side, views, indication, findings and
signature varied, so the throughput figure covers what limb notes look like. The notes carry their
codes (``cpt``, ``modifiers``, ``icd10``) so the benchmark checks each against its own family. They
are not labelled: the benchmark measures cost, not accuracy.

    .venv/bin/python benchmarks/make_extremity_corpus.py
"""
from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "extremity_notes.jsonl"

# part, cpt, views said, view count, indication (with its code per side), findings, impression
STUDIES = [
    ("knee", "73562", "AP, lateral and sunrise", 3, "medial knee pain after a twisting fall on ice",
     {"RT": "M25.561", "LT": "M25.562"},
     "Small suprapatellar effusion. Mild medial joint space narrowing with a tiny marginal osteophyte. "
     "No fracture, no loose body. Patella tracks centrally on the sunrise view.",
     "Mild medial compartment degenerative change with a small effusion; no acute fracture."),
    ("shoulder", "73030", "true AP (Grashey), scapular Y and axillary", 3,
     "pain with overhead reaching for two months, failed physical therapy",
     {"RT": "M25.511", "LT": "M25.512"},
     "Glenohumeral joint is congruent. Type II acromion with mild subacromial spurring. "
     "Calcific density over the greater tuberosity measuring 6 mm. No dislocation.",
     "Calcific tendinopathy of the supraspinatus; mild subacromial spurring."),
    ("ankle", "73610", "AP, mortise and lateral", 3, "inversion injury yesterday, unable to bear weight four steps",
     {"RT": "S93.401A", "LT": "S93.402A"},
     "Soft tissue swelling over the lateral malleolus. No fracture of the distal fibula or tibia. "
     "The ankle mortise is symmetric. Base of the fifth metatarsal is intact.",
     "Lateral soft tissue swelling without fracture; mortise intact."),
    ("wrist", "73110", "PA, lateral and oblique, plus a scaphoid view", 4, "fall on an outstretched hand, snuffbox tenderness",
     {"RT": "S63.501A", "LT": "S63.502A"},
     "No displaced fracture of the distal radius or ulna. The scaphoid waist is intact on the dedicated view. "
     "Carpal alignment is preserved; scapholunate interval is normal.",
     "No fracture seen; if snuffbox tenderness persists, repeat films or MRI in 10 to 14 days."),
    ("hip", "73502", "AP pelvis and frog-leg lateral of the hip", 2, "groin pain with stairs for six months",
     {"RT": "M25.551", "LT": "M25.552"},
     "Moderate superior joint space narrowing of the hip with subchondral sclerosis and acetabular osteophytes. "
     "No fracture. Sacroiliac joints unremarkable.",
     "Moderate osteoarthritis of the hip."),
    ("elbow", "73080", "AP, lateral and both obliques", 4, "lateral elbow pain after lifting boxes, posterior fat pad question",
     {"RT": "M25.521", "LT": "M25.522"},
     "No joint effusion; the posterior fat pad is not elevated. Radiocapitellar alignment is maintained. "
     "Small enthesophyte at the lateral epicondyle.",
     "No acute osseous abnormality; enthesopathy at the common extensor origin."),
    ("foot", "73630", "AP, oblique and lateral", 3, "forefoot pain after increasing running mileage",
     {"RT": "M79.671", "LT": "M79.672"},
     "Faint periosteal reaction along the shaft of the second metatarsal. Joint spaces preserved. "
     "Mild hallux valgus with an intermetatarsal angle of 12 degrees.",
     "Findings suggest an early stress reaction of the second metatarsal; mild hallux valgus."),
    ("hand", "73130", "PA, oblique and lateral", 3, "swelling of the index finger after it was jammed in a door",
     {"RT": "M79.641", "LT": "M79.642"},
     "Soft tissue swelling about the index PIP joint. Tiny avulsion fragment at the volar base of the middle phalanx. "
     "No dislocation.",
     "Small volar plate avulsion at the index PIP joint."),
    ("knee", "73721", "", 0, "suspected medial meniscal tear, mechanical locking, radiographs negative",
     {"RT": "M23.221", "LT": "M23.222"},
     "Horizontal oblique tear of the posterior horn of the medial meniscus reaching the inferior articular surface. "
     "ACL and PCL intact. Grade 2 sprain of the MCL. Moderate joint effusion. Cartilage preserved.",
     "Medial meniscal tear of the posterior horn; MCL sprain; effusion."),
    ("shoulder", "73221", "", 0, "weakness with abduction after a fall, six weeks of therapy without improvement",
     {"RT": "M75.101", "LT": "M75.102"},
     "Full thickness tear of the supraspinatus tendon with 1.5 cm retraction. Mild fatty infiltration. "
     "Biceps tendon in the groove. Labrum without a discrete tear.",
     "Full thickness supraspinatus tear with mild retraction."),
    ("ankle", "73700", "", 0, "comminuted calcaneal fracture on radiographs, operative planning",
     {"RT": "S92.001A", "LT": "S92.002A"},
     "Intra-articular comminuted fracture of the calcaneus involving the posterior facet with 4 mm step-off. "
     "Bohler angle reduced. Peroneal tendons in the groove.",
     "Intra-articular calcaneal fracture, Sanders type II pattern."),
    ("hip", "73721", "", 0, "hip pain, prior total knee, no contrast allergy, labral tear question",
     {"RT": "M25.551", "LT": "M25.552"},
     "No contrast was given. Anterosuperior labral tear. Mild cam morphology of the femoral head-neck junction. "
     "No marrow edema. No avascular necrosis.",
     "Anterosuperior labral tear with cam morphology."),
    ("wrist", "73221", "", 0, "ulnar sided wrist pain, clicking with rotation",
     {"RT": "M25.531", "LT": "M25.532"},
     "Central perforation of the triangular fibrocartilage. Ulnar positive variance of 2 mm. "
     "Mild edema of the lunate proximal pole.",
     "TFCC perforation with ulnar abutment changes."),
    ("foot", "73630", "weight-bearing AP and lateral, non weight-bearing oblique", 3, "bunion pain, preoperative films",
     {"RT": "M20.11", "LT": "M20.12"},
     "Hallux valgus angle 34 degrees, intermetatarsal angle 15 degrees. Lateral sesamoid subluxation. "
     "First MTP joint space preserved.",
     "Moderate to severe hallux valgus."),
    ("knee", "73564", "standing AP, lateral, tunnel and merchant", 4, "chronic knee pain, considering arthroplasty",
     {"RT": "M17.11", "LT": "M17.12"},
     "Bone on bone medial compartment with large osteophytes. Varus alignment. Patellofemoral narrowing. "
     "Loose body in the posterior recess.",
     "Severe tricompartmental osteoarthritis, medial predominant, with a loose body."),
    ("shoulder", "73030", "AP internal and external rotation and axillary", 3, "anterior dislocation reduced in the emergency room",
     {"RT": "S43.014A", "LT": "S43.015A"},
     "The humeral head is located. Hill-Sachs impaction of the posterolateral head. "
     "Small osseous Bankart fragment at the anteroinferior glenoid.",
     "Reduced glenohumeral joint with Hill-Sachs and osseous Bankart lesions."),
    ("elbow", "73221", "", 0, "medial elbow pain in a pitcher, valgus instability",
     {"RT": "M25.521", "LT": "M25.522"},
     "Partial thickness tear of the anterior bundle of the ulnar collateral ligament at the sublime tubercle. "
     "Ulnar nerve normal in caliber. No osteochondral lesion of the capitellum.",
     "Partial UCL tear at the distal attachment."),
    ("hip", "73552", "AP and lateral of the femur", 2, "thigh pain on bisphosphonate for eight years",
     {"RT": "M79.651", "LT": "M79.652"},
     "Focal lateral cortical thickening of the subtrochanteric femur with a subtle transverse lucency. "
     "No complete fracture.",
     "Findings concerning for an incomplete atypical femoral fracture; recommend MRI and contralateral films."),
]

SIDE_WORD = {"RT": ("right", "R", "rt"), "LT": ("left", "L", "lt")}
READERS = ["Dr. Ilse Varga", "Dr. Kwabena Osei", "Dr. Renata Quispe", "Dr. Hamid Tehrani", "Dr. Saoirse Nolan",
           "Dr. Joaquim Prates"]
AGES = [23, 31, 38, 45, 52, 59, 64, 71, 78]


def modality(cpt: str) -> str:
    return "MRI" if cpt.startswith("7372") or cpt.startswith("7322") else \
        "CT" if cpt.startswith("737") and cpt in ("73700", "73701", "73702") else "XR"


def report(i: int, part: str, cpt: str, views: str, n: int, why: str, side: str, findings: str, imp: str) -> str:
    word = SIDE_WORD[side][0]
    mod = modality(cpt)
    if mod == "XR":
        title = f"RADIOGRAPHS OF THE {word.upper()} {part.upper()}, {n} VIEWS"
        tech = f"Technique: {views} views of the {word} {part}."
    elif mod == "MRI":
        title = f"MRI {word.upper()} {part.upper()} WITHOUT CONTRAST"
        tech = f"Technique: multiplanar multisequence MR imaging of the {word} {part} without intravenous contrast."
    else:
        title = f"CT {word.upper()} {part.upper()} WITHOUT CONTRAST"
        tech = f"Technique: axial CT of the {word} {part} without contrast with sagittal and coronal reformats."
    return (f"{title}\nClinical history: {AGES[i % len(AGES)]}-year-old with {word} {why}.\n{tech}\n"
            f"Comparison: {'none' if i % 2 else 'radiographs from two weeks ago'}.\nFindings: {findings}\n"
            f"Impression: {imp}\nElectronically signed by {READERS[i % len(READERS)]}, radiologist.")


def clinic(i: int, part: str, cpt: str, views: str, n: int, why: str, side: str, findings: str, imp: str) -> str:
    word, letter, _ = SIDE_WORD[side]
    mod = modality(cpt)
    study = (f"{mod} {letter} {part} {n} views in office today ({views}), read by me" if mod == "XR"
             else f"{mod} {letter} {part} w/o contrast reviewed with the patient")
    return (f"Ortho clinic f/u\nS: {AGES[(i + 3) % len(AGES)]} yo c/o {word} {why}. Ice and NSAIDs give partial relief. "
            f"Denies numbness or tingling.\nO: {letter} {part} tender, ROM limited by pain, NV intact distally.\n"
            f"Imaging: {study}. {findings}\nA: {imp}\nP: Activity modification, home exercise program, "
            f"RTC 4 wks or sooner if worse.\n{READERS[(i + 2) % len(READERS)]}, MD, electronically signed")


def dictated(i: int, part: str, cpt: str, views: str, n: int, why: str, side: str, findings: str, imp: str) -> str:
    word = SIDE_WORD[side][0]
    mod = {"XR": "x ray", "MRI": "mri", "CT": "ct"}[modality(cpt)]
    counted = f" {n} views {views}" if n else " without contrast"
    body = f"{findings} impression {imp}"
    spoken = body.replace(".", "").replace(";", "").replace(",", "").lower()
    return (f"{mod} {word} {part}{counted.lower()} indication {word} {why} comparison none findings {spoken} "
            f"dictated by {READERS[(i + 4) % len(READERS)].lower()}")


def main() -> None:
    rows = []
    for i, (part, cpt, views, n, why, codes, findings, imp) in enumerate(STUDIES):
        for j, style in enumerate((report, clinic, dictated)):
            side = "RT" if (i + j) % 2 == 0 else "LT"
            text = style(i, part, cpt, views, n, why, side, findings, imp)
            rows.append({"id": f"bench-x{len(rows) + 1:03d}", "text": text, "cpt": [cpt], "modifiers": [side],
                         "icd10": [codes[side]], "site": "office"})
    with open(OUT, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} notes, {sum(len(r['text'].split()) for r in rows)} words -> {OUT}")


if __name__ == "__main__":
    main()
