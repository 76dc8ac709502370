"""The ``scribe`` command: ``check`` (batch), ``audit`` (a file of cases), ``serve``, ``token``, ``data``.

``check`` never prints a traceback: unusable input exits 2 with one line on stderr.
The service commands live in ``scribe_server.cli`` and are imported only when used,
so the batch check starts without the web stack.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from .errors import InputError, ScribeError
from .types import MAX_NOTE_CHARS, Encounter

NO_CPT = "choose the study code"


def _fail(message: str) -> int:
    print(f"scribe: {message}", file=sys.stderr)
    return 2


def _read_note(path: str) -> str:
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", code="UNREADABLE_FILE") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})", code="NOT_UTF8") from None
    if len(text) > MAX_NOTE_CHARS:
        raise InputError(f"{path} has {len(text)} characters; the limit is {MAX_NOTE_CHARS}", code="NOTE_TOO_LARGE")
    return text


def _iter_cases(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (line number, case or None, error or None) for each non-blank line."""
    try:
        handle = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", code="UNREADABLE_FILE") from None
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    case = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, None, f"line {number}: not JSON ({exc.msg})"
                    continue
                if not isinstance(case, dict):
                    yield number, None, f"line {number}: a case must be a JSON object"
                    continue
                yield number, case, None
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text (byte {exc.start})", code="NOT_UTF8") from None


def run_case(engine, case: dict[str, Any], *, explain: bool = False):
    """One case (the contract's fields: id, text, cpt or lines, modifiers, icd10, site, provider)
    checked: the engine's result, or the InputError of unusable input (a claim line at fault
    is named, with its ``line`` index and ``cpt`` in the error's details)."""
    if not case.get("cpt") and case.get("lines") is None:
        raise InputError(NO_CPT + ": give the case a \"cpt\" list or \"lines\"", code="CPT_MISSING")
    encounter = Encounter.from_dict(case, validate=engine.validate_encounter)
    result = engine.check(case.get("text"), encounter, explain=explain)
    result.id = case.get("id")
    return result


def error_row(case_id: Any, exc: InputError) -> dict[str, Any]:
    """The result row of a case that could not be checked."""
    return {"id": case_id, "error": {"code": exc.code, "message": exc.message, **exc.details}}


def check_case(engine, case: dict[str, Any], *, explain: bool = False) -> dict[str, Any]:
    """One case checked: the result's JSON with the case ``id``, or ``{"id", "error": {"code",
    "message"[, "line", "cpt"]}}`` for a case the engine cannot use. ``check --jsonl`` and
    ``scribe audit`` both check this way."""
    try:
        return run_case(engine, case, explain=explain).to_dict()
    except InputError as exc:
        return error_row(case.get("id"), exc)


def _line_arg(value: str) -> dict[str, Any]:
    """``--line 73562:RT,59`` as a claim line ``{"cpt": "73562", "modifiers": ["RT", "59"]}``."""
    code, _, mods = value.partition(":")
    return {"cpt": code.strip(), "modifiers": [m for m in (x.strip() for x in mods.split(",")) if m]}


def cmd_check(args: argparse.Namespace) -> int:
    from . import build_engine

    engine = build_engine()
    if args.jsonl:
        for _number, case, error in _iter_cases(args.jsonl):
            if error is not None:
                print(json.dumps({"id": None, "error": {"code": "BAD_CASE", "message": error}}))
                continue
            assert case is not None
            print(json.dumps(check_case(engine, case, explain=args.explain), ensure_ascii=False), flush=False)
        sys.stdout.flush()
        return 0
    if not args.note:
        raise InputError("give a NOTE file (or - for stdin), or --jsonl CASES", code="NO_INPUT")
    if args.fhir or args.detected_issues:
        return _check_bundle(engine, args)
    if not args.cpt and not args.line:
        raise InputError(NO_CPT + ": give --cpt CODE (e.g. --cpt 72100; repeat it for several codes) or "
                         "--line CODE:MODIFIERS", code="CPT_MISSING")
    text = _read_note(args.note)
    given: dict[str, Any] = {"cpt": args.cpt, "modifiers": args.modifier, "icd10": args.icd10, "site": args.site}
    if args.line:
        given["lines"] = [_line_arg(v) for v in args.line]
    encounter = Encounter.from_dict(given, validate=engine.validate_encounter)
    result = engine.check(text, encounter, explain=args.explain)
    print(json.dumps(result.to_dict(), ensure_ascii=False, indent=None if args.compact else 2))
    return 0


def _check_bundle(engine, args: argparse.Namespace) -> int:
    """NOTE is a FHIR Bundle (ServiceRequest + DocumentReference + Conditions): codes from the order."""
    try:
        from scribe_server.fhir_io import detected_issues, read_bundle
    except ImportError:
        raise InputError("--fhir needs the service package (scribe_server)", code="NO_FHIR") from None
    try:
        bundle = json.loads(_read_note(args.note))
    except json.JSONDecodeError as exc:
        raise InputError(f"{args.note} is not JSON ({exc.msg})", code="BAD_BUNDLE") from None
    case = read_bundle(bundle, engine)
    result = engine.check(case.text, case.encounter, explain=args.explain)
    out = detected_issues(result, case) if args.detected_issues else result.to_dict()
    print(json.dumps(out, ensure_ascii=False, indent=None if args.compact else 2))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from .audit import run_audit, summary_table

    summary = run_audit(args.input, args.out, engine=args.engine, address=args.address, workers=args.workers,
                        partition_rows=args.partition_rows, partition_bytes=int(args.partition_mb * 1024 * 1024),
                        progress=not args.no_progress)
    print(summary_table(summary))
    return 0


def cmd_import_ncci(args: argparse.Namespace) -> int:
    from .lexicons import load_lexicons
    from .linkers.ncci import import_ptp

    lex = load_lexicons()
    codes = {c.code for fam in lex.families for c in fam.codes}
    kept, rows, store = import_ptp(Path(args.file), codes, Path(args.store) if args.store else None)
    print(f"read {rows} PTP edit rows; kept {kept} edits between imaging-family codes; stored in {store}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scribe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check a note (or a JSONL file of cases) for documentation gaps")
    check.add_argument("note", nargs="?", help="note text file, or - for stdin")
    check.add_argument("--jsonl", metavar="CASES", help="one case a line in, one result a line out")
    check.add_argument("--cpt", action="append", default=[], help="chosen CPT code (required; repeatable)")
    check.add_argument("--modifier", action="append", default=[], help="chosen modifier (repeatable)")
    check.add_argument("--line", action="append", default=[], metavar="CODE[:MOD,MOD]",
                       help="a claim line with its own modifiers, e.g. --line 73562:RT --line 73562:LT (repeatable; "
                       "instead of --cpt and --modifier)")
    check.add_argument("--icd10", action="append", default=[], help="chosen ICD-10-CM code (repeatable)")
    check.add_argument("--site", default="office", choices=["office", "facility"])
    check.add_argument("--compact", action="store_true", help="one-line JSON")
    check.add_argument("--fhir", action="store_true", help="NOTE is a FHIR Bundle (ServiceRequest, DocumentReference, "
                       "Conditions, Encounter); the codes come from the order")
    check.add_argument("--detected-issues", action="store_true",
                       help="with a FHIR Bundle: answer the gaps as a Bundle of FHIR DetectedIssue resources")
    check.add_argument("--explain", action="store_true",
                       help="add a trace to each gap and indication: rule, mechanism, lexicon entry, assertion "
                            "trigger, fuzzy score, sections searched")
    check.set_defaults(func=cmd_check)

    audit = sub.add_parser(
        "audit", help="audit a file of cases (JSONL, CSV or Parquet) into Parquet results, resumable",
        description="Check every case of INPUT (one case a row: id, text, cpt or lines, modifiers, icd10, site, "
        "provider, date) and write Parquet results to RESULTS: one row per gap, one per case, one per row that "
        "could not be checked. The input is cut into partitions; a partition is committed once its files are "
        "whole, and a rerun of the same command skips committed partitions (an interrupted audit resumes).")
    audit.add_argument("input", help="the cases: .jsonl, .csv or .parquet")
    audit.add_argument("--out", required=True, metavar="RESULTS", help="results folder (new, or an earlier run's)")
    audit.add_argument("--engine", default="local", choices=["local", "ray", "spark"],
                       help="local: this process; ray: Ray Data (an actor pool, the engine built once per actor); "
                       "spark: PySpark mapInPandas (needs pyspark and a Java runtime)")
    audit.add_argument("--address", default=None, help="a cluster to run on (Ray: ray://HOST:10001 or auto; "
                       "Spark: spark://HOST:7077); input and RESULTS must be on storage every worker reaches")
    audit.add_argument("--workers", type=int, default=None, help="actors or Spark cores (default: one per CPU)")
    audit.add_argument("--partition-rows", type=int, default=1000, help="rows per partition at most (default 1000)")
    audit.add_argument("--partition-mb", type=float, default=16.0,
                       help="input megabytes per partition at most (default 16; bounds a worker's memory)")
    audit.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    audit.set_defaults(func=cmd_audit)

    data = sub.add_parser("data", help="load reference data").add_subparsers(dest="data_command", required=True)
    ncci = data.add_parser("import-ncci", help="import the CMS practitioner PTP edit file (tab-separated)")
    ncci.add_argument("file", help="the quarterly PTP .txt file as published by CMS")
    ncci.add_argument("--store", help="where to store the edits (default: $SCRIBE_DATA_DIR/ncci_ptp.jsonl)")
    ncci.set_defaults(func=cmd_import_ncci)

    try:
        from scribe_server.cli import add_commands
    except ImportError:  # the service package is optional for the batch check
        add_commands = None
    if add_commands is not None:
        add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ScribeError as exc:
        return _fail(exc.message)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
