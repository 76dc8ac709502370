"""Persistence on both backends: migrations, tokens, the event log, finalize, the review
queue, statistics and the audit log (SQLite file and a throwaway PostgreSQL)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from scribe_server import db
from scribe_server.hub import replay
from scribe_server.store import Filters, Principal, hash_token

SCRIBE = Principal(7, "sam_scribe", "scribe")


def gap(code, severity="error", cpt=None):
    return {"code": code, "severity": severity, "rule_id": "R-1", "cpt": cpt, "message": "m", "fix": "f",
            "source": "s", "evidence": [{"start": 0, "end": 4, "text": "EXAM"}]}


def finalized(store, did, *, owner="dr_lee", provider=None, cpt=("72100",), icd10=("M54.50",), open_gaps=(),
              text="EXAM: lumbar spine."):
    enc = {"cpt": list(cpt), "modifiers": [], "icd10": list(icd10), "site": "office", "provider": provider}
    store.create_dictation(dictation_id=did, owner=owner, encounter=enc)
    store.append_event(dictation_id=did, n=2, kind="segment", seq=1, payload={"text": text})
    store.finalize(dictation_id=did, n=3, final_text=text, open_gaps=list(open_gaps), last_seq=1)


def test_migrations_are_idempotent_and_match_the_tables(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store.migrate()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.METADATA)
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    from alembic.script import ScriptDirectory

    assert diff == []
    assert version == ScriptDirectory.from_config(db.alembic_config()).get_current_head() == "0007"


def test_tokens_are_stored_hashed_and_revocable(store):
    token, row = store.create_token(name="dr_lee", role="physician", created_by="test")
    assert token.startswith("scr_") and len(token) > 40
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(db.api_tokens)).mappings().one()
    assert stored["token_hash"] == hash_token(token) and token not in str(dict(stored))
    assert store.principal_for(token) == Principal(row["id"], "dr_lee", "physician")
    assert store.principal_for(token + "x") is None and store.principal_for("") is None
    assert store.revoke_token(row["id"])["active"] is False
    assert store.principal_for(token) is None
    assert store.revoke_token(999) is None
    with pytest.raises(ValueError):
        store.create_token(name="x", role="root")


def test_event_log_replays_to_the_text(store):
    enc = {"cpt": ["72100"], "modifiers": [], "icd10": [], "site": "office", "provider": None}
    store.create_dictation(dictation_id="d1", owner="dr_lee", encounter=enc)
    store.append_event(dictation_id="d1", n=2, kind="segment", seq=1, payload={"text": "Hello wrld. "})
    store.append_event(dictation_id="d1", n=3, kind="edit", seq=None, payload={"start": 6, "end": 10, "text": "world"})
    store.append_event(dictation_id="d1", n=4, kind="segment", seq=3, payload={"text": "Bye."})
    store.append_event(dictation_id="d1", n=5, kind="context", seq=None,
                       payload={"encounter": {**enc, "cpt": ["72110"], "provider": "Dr Lee"}})
    store.set_partial(dictation_id="d1", seq=4, text="partial")
    row, events = store.load("d1")
    r = replay(events, row["partial_seq"], row["partial_text"])
    assert r["text"] == "Hello world. Bye." and r["last_final_seq"] == 3 and r["partial"] == (4, "partial")
    assert r["encounter"]["cpt"] == ["72110"] and r["n"] == 5
    assert row["provider"] == "Dr Lee" and row["owner"] == "dr_lee" and row["status"] == "open"
    with store.engine.connect() as conn:
        codes = conn.execute(sa.select(db.dictation_codes.c.kind, db.dictation_codes.c.code)
                             .where(db.dictation_codes.c.dictation_id == "d1")).all()
    assert set(codes) == {("cpt", "72110")}
    with pytest.raises(sa.exc.IntegrityError):   # an event number is written once
        store.append_event(dictation_id="d1", n=5, kind="segment", seq=9, payload={"text": "x"})


def test_finalize_stores_outcome_and_queue_filters(store):
    finalized(store, "a", provider="Dr A", open_gaps=[gap("VIEWS_MISMATCH", cpt="72100"), gap("COMPARISON_NOT_STATED", "info")])
    finalized(store, "b", provider="Dr B", cpt=("72120",), open_gaps=[gap("POSITIONS_MISSING", "error")])
    finalized(store, "c", provider="Dr A", open_gaps=[])
    row = store.dictation_row("a")
    assert (row["status"], row["open_errors"], row["open_infos"], row["clean"]) == ("finalized", 1, 1, False)
    assert store.dictation_row("c")["clean"] is True
    q = store.review_queue(Filters(), limit=10, offset=0)
    assert [i["dictation_id"] for i in q["items"]] == ["b", "a"] and q["total"] == 2   # newest first, c is clean
    assert {g["code"] for g in q["items"][1]["open_gaps"]} == {"VIEWS_MISMATCH", "COMPARISON_NOT_STATED"}
    one = lambda **kw: [i["dictation_id"] for i in store.review_queue(Filters(**kw), limit=10, offset=0)["items"]]
    assert one(provider="Dr A") == ["a"]
    assert one(cpt="72120") == ["b"]
    assert one(icd10="M54.50") == ["b", "a"]
    assert one(gap_code="VIEWS_MISMATCH") == ["a"]
    assert one(severity=("info",)) == ["a"]
    today = date.today()
    assert one(date_from=today, date_to=today) == ["b", "a"]
    assert one(date_to=today - timedelta(days=1)) == []
    assert store.review_queue(Filters(), limit=1, offset=1)["items"][0]["dictation_id"] == "a"


def test_actions_statistics_and_money_at_risk(store):
    finalized(store, "a", provider="Dr A", open_gaps=[gap("VIEWS_MISMATCH", cpt="72100"), gap("SIGNATURE_MISSING")])
    finalized(store, "b", provider="Dr B", cpt=("72120", "72100"), open_gaps=[gap("SIGNATURE_MISSING")])
    finalized(store, "c", provider="Dr A", open_gaps=[gap("COMPARISON_NOT_STATED", "info")])
    ids = {(g["code"], d): g["id"] for d in "abc" for g in store.gaps_of(d)}
    assert store.record_action(gap_id=ids[("SIGNATURE_MISSING", "a")], dictation_id="a", action="dismiss",
                               actor=SCRIBE, reason="false_positive", text="signed on paper")
    assert store.record_action(gap_id=ids[("SIGNATURE_MISSING", "a")], dictation_id="a", action="dismiss",
                               actor=SCRIBE, reason="other") is None       # no longer open
    store.record_action(gap_id=ids[("VIEWS_MISMATCH", "a")], dictation_id="a", action="query", actor=SCRIBE,
                        text="How many views?")
    acted = {g["code"]: g for g in store.gaps_of("a")}
    assert acted["SIGNATURE_MISSING"]["status"] == "dismissed" and acted["VIEWS_MISMATCH"]["queried"]
    assert acted["SIGNATURE_MISSING"]["actions"][0]["by"] == "sam_scribe"
    assert [q["question"] for q in store.queries_for("dr_lee")] == ["How many views?"]

    share = {r["key"]: r for r in store.clean_share(Filters(), by="provider")}
    assert share["Dr A"] == {"key": "Dr A", "finalized": 2, "clean": 1, "share": 0.5}
    assert share["Dr B"]["share"] == 0.0
    by_cpt = {r["key"]: (r["finalized"], r["clean"]) for r in store.clean_share(Filters(), by="cpt")}
    assert by_cpt == {"72100": (3, 1), "72120": (1, 0)}
    by_gap = {r["key"]: r["share"] for r in store.clean_share(Filters(), by="gap_code")}
    assert by_gap == {"SIGNATURE_MISSING": round(1 / 3, 4), "VIEWS_MISMATCH": round(2 / 3, 4)}
    weeks = store.clean_share(Filters(), by="week")
    assert len(weeks) == 1 and weeks[0]["finalized"] == 3
    assert date.fromisoformat(weeks[0]["key"]).weekday() == 0
    with pytest.raises(ValueError):
        store.clean_share(Filters(), by="owner")

    rates = {r["gap_code"]: r for r in store.dismissal_rates(Filters())}
    assert rates["SIGNATURE_MISSING"]["gaps"] == 2 and rates["SIGNATURE_MISSING"]["dismissed"] == 1
    assert rates["SIGNATURE_MISSING"]["rate"] == 0.5 and rates["SIGNATURE_MISSING"]["reasons"] == {"false_positive": 1}

    # open error gaps: a/VIEWS_MISMATCH names 72100; b/SIGNATURE_MISSING names none -> both of b's lines
    money = store.money_at_risk({"72100": 30.0, "72120": 40.5}, Filters())
    assert money["total_dollars"] == 30.0 + 30.0 + 40.5
    assert {r["cpt"]: r["lines"] for r in money["by_cpt"]} == {"72100": 2, "72120": 1}
    assert {r["gap_code"]: r["dollars"] for r in money["by_gap_code"]} == {"SIGNATURE_MISSING": 70.5,
                                                                          "VIEWS_MISMATCH": 30.0}
    unpriced = store.money_at_risk({"72100": 30.0}, Filters())
    assert unpriced["unpriced_lines"] == 1 and unpriced["total_dollars"] == 60.0
    assert store.money_at_risk({"72100": 30.0}, Filters(provider="Dr B"))["total_dollars"] == 30.0
    assert store.money_at_risk({"72100": 1.0}, Filters(), severities=("info",))["total_dollars"] == 1.0


def test_audit_log_records_who_what_when(store):
    store.audit(SCRIBE, "read_note_text", dictation_id="a")
    rows = store.list_audit(dictation_id=None, limit=10, offset=0)
    assert rows[0]["actor"] == "sam_scribe" and rows[0]["action"] == "read_note_text" and rows[0]["at"].endswith("Z")
    assert store.list_audit(dictation_id="zzz", limit=10, offset=0) == []


def test_upgrading_a_sqlite_database_keeps_the_rows_that_refer_to_rebuilt_tables(tmp_path):
    """Migration 0004 rebuilds ``dictations`` (SQLite batch mode: copy, drop, rename); with foreign
    keys on, the drop used to delete every event and gap of every dictation (ON DELETE CASCADE)."""
    from alembic import command

    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(db.alembic_config(conn), "0003")
        conn.execute(sa.text("INSERT INTO dictations (id, owner, provider, encounter, status, created_at, updated_at) "
                             "VALUES ('d1', 'dr_lee', 'Dr Lee', '{}', 'finalized', '2026-01-01', '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO events (dictation_id, n, kind, payload, created_at) "
                             "VALUES ('d1', 1, 'start', '{}', '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO gaps (dictation_id, code, severity, rule_id, message, fix, source, evidence, "
                             "status, queried, updated_at) VALUES ('d1', 'SIGNATURE_MISSING', 'error', 'RPT-004', 'm', "
                             "'f', 's', '[]', 'dismissed', 0, '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO gap_actions (gap_id, dictation_id, action, reason, actor_name, actor_role, at) "
                             "VALUES (1, 'd1', 'dismiss', 'other', 'rev', 'scribe', '2026-01-01')"))
    db.migrate(engine)
    with engine.connect() as conn:
        counts = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("dictations", "events", "gaps", "gap_actions")]
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.execute(sa.text("SELECT ref FROM dictations")).scalar_one() == "d1"
    assert counts == [1, 1, 1, 1]
    engine.dispose()


def test_migration_0006_moves_cds_feedback_into_gap_actions_and_back(db_url):
    from alembic import command

    engine = db.make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(db.alembic_config(conn), "0004")
        conn.execute(sa.text("INSERT INTO cds_cards (uuid, service, hook_instance, client_iss, rule_id, code, "
                             "severity, issued_at) VALUES ('c1', 's', 'h', 'https://ehr', 'DX-002', "
                             "'DX_NOT_SUPPORTING', 'warning', '2026-12-01 10:00:00')"))
        conn.execute(sa.text("INSERT INTO cds_feedback (card_uuid, outcome, override_reason, comment, "
                             "accepted_suggestions, outcome_at, received_at) VALUES ('c1', 'overridden', "
                             "'not_applicable', 'no', '[]', '2026-12-01 10:01:00', '2026-12-01 10:01:01')"))
    db.migrate(engine)
    with engine.connect() as conn:
        moved = conn.execute(sa.text("SELECT card_uuid, action, reason, text, actor_name, actor_role FROM "
                                     "gap_actions")).all()
    assert moved == [("c1", "override", "not_applicable", "no", "https://ehr", "ehr")]
    with engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0004")
        back = conn.execute(sa.text("SELECT card_uuid, outcome, override_reason, comment FROM cds_feedback")).all()
        left = conn.execute(sa.text("SELECT count(*) FROM gap_actions")).scalar_one()
    assert back == [("c1", "overridden", "not_applicable", "no")] and left == 0
    engine.dispose()
