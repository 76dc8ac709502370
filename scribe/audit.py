"""Retrospective audits: a file of cases in (JSONL, CSV or Parquet), Parquet results out.

The input is cut into partitions (rows ``[first_row, first_row + rows)``, at most
``partition_rows`` rows and about ``partition_bytes`` of input each) by a cheap scan on the
driver; a worker reads only its own partition from the file, checks each case the way
``scribe check --jsonl`` does (``scribe.cli.check_case``) and writes the partition's rows:

    RESULTS/manifest.json              what was audited: the input (size, mtime), the partitions,
                                       the lexicons' fingerprint; a rerun must match it
    RESULTS/gaps/part-NNNNN.parquet    one row per gap
    RESULTS/cases/part-NNNNN.parquet   one row per checked case
    RESULTS/errors/part-NNNNN.parquet  one row per case that could not be checked
    RESULTS/_committed/part-NNNNN.json the partition's commit marker, with its counts
    RESULTS/summary.json               the totals, once every partition is committed

A partition's files are written under hidden temporary names and renamed into place, then its
marker is written the same way: a partition is done exactly when its marker exists. A rerun skips
committed partitions and redoes the others (an interrupted audit resumes; the partition of a
worker that died is redone and its file names are the same, so nothing is counted twice).

Distributed engines only schedule the partitions: Ray Data (``map_batches`` over the partition
list with an actor pool, the engine built once per actor) or PySpark (``mapInPandas``, the engine
built once per Python worker). ``local`` runs them in this process.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import resource
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from .errors import ScribeError

log = logging.getLogger("scribe.audit")

FORMAT_VERSION = 1
ENGINES = ("local", "ray", "spark")
TABLES = ("gaps", "cases", "errors")
DEFAULT_PARTITION_ROWS = 1000
DEFAULT_PARTITION_BYTES = 16 * 1024 * 1024
RISK_SEVERITIES = ("error", "warning")     # gaps that make a case incomplete and put its lines at risk
LIST_FIELDS = ("cpt", "modifiers", "icd10")
CASE_FIELDS = ("id", "text", "cpt", "modifiers", "icd10", "site", "provider", "lines", "date")
COMMITTED = "_committed"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"


class AuditError(ScribeError):
    """The audit cannot start or go on: unreadable input, a schema mismatch, results of another audit."""

    code = "AUDIT_ERROR"


# -- the input -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Partition:
    """Rows ``first_row .. first_row + rows - 1`` (1-based: the line of a JSONL file, the record
    after the header of a CSV file, the row of a Parquet file). JSONL and CSV partitions are the
    bytes ``[start, end)``; a Parquet partition is rows ``start .. end - 1`` of row group ``group``."""

    index: int
    first_row: int
    rows: int
    start: int
    end: int
    group: int = -1


@dataclass(frozen=True)
class Source:
    """An input file, validated: its format, columns, size and modification time."""

    path: str
    format: str                   # jsonl | csv | parquet
    columns: tuple[str, ...]      # the case fields it has (CSV: the header, in order)
    size: int
    mtime_ns: int

    def fingerprint(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "size": self.size, "mtime_ns": self.mtime_ns}


def open_source(path: str | os.PathLike) -> Source:
    """Check that ``path`` is a readable case file with the case fields; one clear line otherwise."""
    p = Path(path)
    try:
        stat = p.stat()
        with open(p, "rb") as handle:
            head = handle.read(65536)
    except IsADirectoryError:
        raise AuditError(f"cannot read {p}: it is a directory", code="UNREADABLE_FILE") from None
    except OSError as exc:
        raise AuditError(f"cannot read {p}: {exc.strerror or exc}", code="UNREADABLE_FILE") from None
    fmt = _format_of(p, head)
    columns = {"jsonl": _jsonl_columns, "csv": _csv_columns, "parquet": _parquet_columns}[fmt](p)
    missing = [c for c in ("text",) if c not in columns]
    if missing or not ({"cpt", "lines"} & set(columns)):
        need = "'text' and 'cpt' (or 'lines')"
        have = ", ".join(columns[:12]) or "none"
        raise AuditError(f"{p}: schema mismatch: a case needs the fields {need}; the {fmt} input has {have}",
                         code="SCHEMA_MISMATCH")
    return Source(str(p.resolve()), fmt, tuple(columns), stat.st_size, stat.st_mtime_ns)


def _format_of(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq") or head.startswith(b"PAR1"):
        return "parquet"
    first = head.lstrip()[:1]
    if first == b"{":
        return "jsonl"
    if head:
        return "csv"
    raise AuditError(f"{path} is empty: no cases to audit", code="SCHEMA_MISMATCH")


def _jsonl_columns(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                case = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise AuditError(f"{path} line {number} is not JSON ({getattr(exc, 'msg', exc)}): is it a JSONL "
                                 "file of cases, one object a line?", code="SCHEMA_MISMATCH") from None
            if not isinstance(case, dict):
                raise AuditError(f"{path} line {number} is not a JSON object: a case is one object a line",
                                 code="SCHEMA_MISMATCH")
            return [k for k in case if isinstance(k, str)]
    raise AuditError(f"{path} has no cases (every line is blank)", code="SCHEMA_MISMATCH")


def _csv_columns(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        record = next(_csv_records(handle, 0), None)
    if record is None:
        raise AuditError(f"{path} is empty: a CSV of cases starts with a header line", code="SCHEMA_MISMATCH")
    try:
        header = next(csv.reader(io.StringIO(record[2].decode("utf-8-sig"), newline="")), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise AuditError(f"{path}: the CSV header cannot be read ({exc})", code="SCHEMA_MISMATCH") from None
    return [h.strip() for h in header]


_PARQUET_KINDS = {"text": ("string",), "id": ("string", "integer"), "cpt": ("string", "strings"),
                  "modifiers": ("string", "strings"), "icd10": ("string", "strings"), "site": ("string",),
                  "provider": ("string",), "lines": ("string", "lines"), "date": ("string", "date")}


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise AuditError(f"cannot read {path} as Parquet: {exc}", code="UNREADABLE_FILE") from None

    def kind(t) -> str:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return "string"
        if pa.types.is_integer(t):
            return "integer"
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            return "date"
        if (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
                pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
            return "strings"
        if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_struct(t.value_type) \
                and t.value_type.get_field_index("cpt") >= 0:
            return "lines"
        return str(t)

    for name, allowed in _PARQUET_KINDS.items():
        if name in schema.names and kind(schema.field(name).type) not in allowed:
            raise AuditError(f"{path}: schema mismatch: column '{name}' is {schema.field(name).type}; expected "
                             + " or ".join(_KIND_WORDS[a] for a in allowed), code="SCHEMA_MISMATCH")
    return list(schema.names)


_KIND_WORDS = {"string": "a string", "integer": "an integer", "strings": "a list of strings", "date": "a date",
               "lines": "a list of {cpt, modifiers}"}


# -- partitions -------------------------------------------------------------------------------------

def plan(source: Source, *, rows: int = DEFAULT_PARTITION_ROWS, nbytes: int = DEFAULT_PARTITION_BYTES) -> list[Partition]:
    """Cut the input into partitions of at most ``rows`` rows and about ``nbytes`` bytes (a single
    row larger than that is a partition of its own). Deterministic: a rerun gets the same plan."""
    if rows < 1 or nbytes < 1:
        raise AuditError("partitions need at least one row and one byte", code="BAD_INPUT")
    if source.format == "parquet":
        return _plan_parquet(source, rows, nbytes)
    out: list[Partition] = []
    with open(source.path, "rb") as handle:
        records = _jsonl_records(handle) if source.format == "jsonl" else _csv_records(handle, 1)
        first = start = end = count = 0
        for row, begin, raw in records:
            if count and (count >= rows or end - start + len(raw) > nbytes):
                out.append(Partition(len(out), first, count, start, end))
                count = 0
            if not count:
                first, start = row, begin
            count += 1
            end = begin + len(raw)
        if count:
            out.append(Partition(len(out), first, count, start, end))
    return out


def _jsonl_records(handle) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of every non-blank line."""
    offset = 0
    for number, raw in enumerate(handle, 1):
        if raw.strip():
            yield number, offset, raw
        offset += len(raw)


def _csv_records(handle, skip: int) -> Iterator[tuple[int, int, bytes]]:
    """(record number after the header, byte offset, record) of every CSV record. A record ends
    at a line end outside quotes: with RFC 4180 quoting (a quote in a field is doubled), at a line
    end where the count of quote characters so far is even. ``skip`` header records are left out."""
    offset, begin, quotes, number = 0, 0, 0, 0
    parts: list[bytes] = []
    for line in handle:
        if not parts:
            begin = offset
        parts.append(line)
        offset += len(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            raw = b"".join(parts) if len(parts) > 1 else parts[0]
            parts, quotes = [], 0
            if skip:
                skip -= 1
                continue
            if raw.strip():
                number += 1
                yield number, begin, raw
    if parts:       # an unterminated quote: the rest of the file is one (malformed) record
        raw = b"".join(parts)
        if not skip and raw.strip():
            yield number + 1, begin, raw


def _plan_parquet(source: Source, rows: int, nbytes: int) -> list[Partition]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(source.path).metadata
    out: list[Partition] = []
    row = 1
    for group in range(meta.num_row_groups):
        info = meta.row_group(group)
        n = info.num_rows
        per_row = max(1, info.total_byte_size // max(1, n))
        step = max(1, min(rows, nbytes // per_row))
        for start in range(0, n, step):
            count = min(step, n - start)
            out.append(Partition(len(out), row + start, count, start, start + count, group))
        row += n
    return out


def read_partition(source: Source, part: Partition) -> Iterator[tuple[int, dict[str, Any] | None, tuple[str, str] | None]]:
    """(row, case, None) or (row, None, (code, message)) for every row of the partition; a row
    that is not a case (not JSON, not UTF-8, a malformed CSV record) is an error, not a stop."""
    if source.format == "parquet":
        yield from _read_parquet(source, part)
        return
    with open(source.path, "rb") as handle:
        handle.seek(part.start)
        data = handle.read(part.end - part.start)
    chunk = io.BytesIO(data)
    records = _jsonl_records(chunk) if source.format == "jsonl" else _csv_records(chunk, 0)
    for offset, (_n, _begin, raw) in enumerate(records):
        row = part.first_row + offset if source.format == "csv" else None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield row or _line_of(part, data, _begin), None, ("NOT_UTF8", f"not UTF-8 text (byte {exc.start})")
            continue
        if source.format == "jsonl":
            row = _line_of(part, data, _begin)
            try:
                case = json.loads(text)
            except json.JSONDecodeError as exc:
                yield row, None, ("BAD_CASE", f"line {row}: not JSON ({exc.msg})")
                continue
            if not isinstance(case, dict):
                yield row, None, ("BAD_CASE", f"line {row}: a case must be a JSON object")
                continue
            yield row, case, None
        else:
            assert row is not None
            try:
                fields = next(csv.reader(io.StringIO(text, newline="")), [])
            except csv.Error as exc:
                yield row, None, ("BAD_CASE", f"record {row}: not a CSV record ({exc})")
                continue
            if len(fields) > len(source.columns):
                yield row, None, ("BAD_CASE", f"record {row}: {len(fields)} fields; the header has "
                                  f"{len(source.columns)}")
                continue
            try:
                yield row, _csv_case(dict(zip(source.columns, fields))), None
            except ValueError as exc:
                yield row, None, ("BAD_ENCOUNTER", f"record {row}: {exc}")


def _line_of(part: Partition, data: bytes, begin: int) -> int:
    """The file line number of the JSONL line at byte ``begin`` of the partition's data."""
    return part.first_row + data.count(b"\n", 0, begin)


def _csv_case(record: dict[str, str]) -> dict[str, Any]:
    """A CSV record as a case: empty cells are absent; a list cell is a JSON array or codes
    separated by ``;``, ``,``, ``|`` or spaces; ``lines`` is JSON."""
    case: dict[str, Any] = {}
    for key, value in record.items():
        value = value.strip() if key != "text" else value
        if value == "":
            continue
        if key in LIST_FIELDS:
            case[key] = _codes_cell(key, value)
        elif key == "lines":
            try:
                case[key] = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("'lines' must be JSON: [{\"cpt\": \"72100\", \"modifiers\": [\"26\"]}]") from None
        else:
            case[key] = value
    return case


def _codes_cell(key: str, value: str) -> list[str]:
    if value.startswith("["):
        try:
            out = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"'{key}' is not a JSON list: {value[:40]}") from None
        return out
    for sep in ";,|":
        value = value.replace(sep, " ")
    return value.split()


def _read_parquet(source: Source, part: Partition) -> Iterator[tuple[int, dict[str, Any] | None, tuple[str, str] | None]]:
    import pyarrow.parquet as pq

    columns = [c for c in source.columns if c in CASE_FIELDS]
    handle = pq.ParquetFile(source.path)
    row, skip, left = part.first_row, part.start, part.rows
    for batch in handle.iter_batches(batch_size=64, row_groups=[part.group], columns=columns):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        batch = batch.slice(skip, left)
        skip = 0
        for case in batch.to_pylist():
            yield row, {k: v for k, v in case.items() if v is not None}, None
            row += 1
            left -= 1
        if left <= 0:
            return


# -- one partition: check, convert, commit ----------------------------------------------------------

def _case_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValueError(f"'date' must be a date (YYYY-MM-DD), not {str(value)[:40]!r}")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    return [str(v).strip().upper() for v in value if str(v).strip()]


class PartitionRows:
    """The rows one partition writes, and its counts (the commit marker's summary)."""

    def __init__(self) -> None:
        self.gaps: dict[str, list] = defaultdict(list)
        self.cases: dict[str, list] = defaultdict(list)
        self.errors: dict[str, list] = defaultdict(list)
        self.words = 0
        self.clean = 0
        self.by_code: dict[str, dict[str, Any]] = {}
        self.risk: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))   # code -> cpt -> lines
        self.risk_any: dict[str, int] = defaultdict(int)                               # cpt -> lines

    def error(self, row: int, case_id: Any, code: str, message: str) -> None:
        for key, value in (("row", row), ("id", None if case_id is None else str(case_id)), ("code", code),
                           ("message", message)):
            self.errors[key].append(value)

    def case(self, row: int, case: Mapping[str, Any], result: Mapping[str, Any], when: date | None) -> None:
        case_id = None if case.get("id") is None else str(case["id"])
        gaps = result["gaps"]
        severities = [g["severity"] for g in gaps]
        cpts = _strings(case.get("cpt")) or [str(x.get("cpt", "")).strip().upper() for x in case.get("lines") or ()]
        for g in gaps:
            for key, value in (("row", row), ("id", case_id), ("code", g["code"]), ("severity", g["severity"]),
                               ("rule_id", g["rule_id"]), ("cpt", g.get("cpt")), ("line", g.get("line")),
                               ("icd10", g.get("icd10")), ("message", g["message"]), ("fix", g["fix"]),
                               ("evidence", [{"start": e["start"], "end": e["end"]} for e in g["evidence"]])):
                self.gaps[key].append(value)
            seen = self.by_code.setdefault(g["code"], {"gaps": 0, "cases": 0, "severity": g["severity"]})
            seen["gaps"] += 1
        for code in dict.fromkeys(g["code"] for g in gaps):
            self.by_code[code]["cases"] += 1
        at_risk: dict[str, set[str]] = defaultdict(set)
        for g in gaps:
            if g["severity"] in RISK_SEVERITIES:
                at_risk[g["code"]].update([g["cpt"]] if g.get("cpt") else cpts)
        for code, lines in at_risk.items():
            for cpt in lines:
                self.risk[code][cpt] += 1
        for cpt in set().union(*at_risk.values()) if at_risk else ():
            self.risk_any[cpt] += 1
        clean = not any(s in RISK_SEVERITIES for s in severities)
        self.clean += clean
        words = len(str(case.get("text") or "").split())
        self.words += words
        facts = result["facts"]
        views = facts.get("views")
        for key, value in (("row", row), ("id", case_id), ("provider", case.get("provider")), ("date", when),
                           ("cpt", cpts), ("icd10", _strings(case.get("icd10"))), ("site", case.get("site") or "office"),
                           ("words", words), ("gaps", len(gaps)), ("errors_open", severities.count("error")),
                           ("warnings_open", severities.count("warning")), ("infos_open", severities.count("info")),
                           ("clean", clean), ("supported_cpt", list(result.get("supported_cpt") or ())),
                           ("views", views if isinstance(views, int) else None),
                           ("contrast", facts.get("contrast")), ("signed", facts.get("signed")),
                           ("region", list(facts.get("region") or ())),
                           ("facts", json.dumps(facts, ensure_ascii=False, sort_keys=True))):
            self.cases[key].append(value)

    def counts(self) -> dict[str, Any]:
        return {"cases": len(self.cases["row"]), "errors": len(self.errors["row"]), "gaps": len(self.gaps["row"]),
                "clean": self.clean, "words": self.words, "by_code": self.by_code,
                "risk": {code: dict(v) for code, v in self.risk.items()}, "risk_any": dict(self.risk_any),
                "dates": _date_range(self.cases["date"])}


def _date_range(dates: Iterable[date | None]) -> list[str | None]:
    known = [d for d in dates if d is not None]
    return [min(known).isoformat(), max(known).isoformat()] if known else [None, None]


def schemas():
    """The Arrow schema of each results table."""
    import pyarrow as pa

    strings = pa.list_(pa.string())
    return {
        "gaps": pa.schema([("row", pa.int64()), ("id", pa.string()), ("code", pa.string()), ("severity", pa.string()),
                           ("rule_id", pa.string()), ("cpt", pa.string()), ("line", pa.int32()), ("icd10", pa.string()),
                           ("message", pa.string()), ("fix", pa.string()),
                           ("evidence", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64())])))]),
        "cases": pa.schema((("row", pa.int64()), ("id", pa.string()), ("provider", pa.string()), ("date", pa.date32()),
                            ("cpt", strings), ("icd10", strings), ("site", pa.string()), ("words", pa.int64()),
                            ("gaps", pa.int32()), ("errors_open", pa.int32()), ("warnings_open", pa.int32()),
                            ("infos_open", pa.int32()), ("clean", pa.bool_()), ("supported_cpt", strings),
                            ("views", pa.int32()), ("contrast", pa.string()), ("signed", pa.bool_()),
                            ("region", strings), ("facts", pa.string()))),   # column names, not phrases
        "errors": pa.schema([("row", pa.int64()), ("id", pa.string()), ("code", pa.string()), ("message", pa.string())]),
    }


def check_partition(engine, source: Source, part: Partition, *,
                    on_rows: Callable[[int], None] | None = None) -> PartitionRows:
    """Check every case of the partition (``scribe.cli.check_case``); bad rows become error rows."""
    from .cli import check_case

    out = PartitionRows()
    pending = 0
    for row, case, problem in read_partition(source, part):
        if problem is not None:
            out.error(row, None, *problem)
        else:
            assert case is not None
            try:
                when = _case_date(case.get("date"))
            except ValueError as exc:
                out.error(row, case.get("id"), code="BAD_DATE", message=str(exc))
                when = None
                case = None
            if case is not None:
                try:
                    result = check_case(engine, case)
                except Exception as exc:  # noqa: BLE001 - one case the engine fails on must not stop an audit
                    log.warning("row %s: the check failed (%s)", row, type(exc).__name__)
                    result = {"error": {"code": "CHECK_FAILED", "message": f"the check failed ({type(exc).__name__})"}}
                if "error" in result:
                    out.error(row, case.get("id"), result["error"]["code"], result["error"]["message"])
                else:
                    out.case(row, case, result, when)
        pending += 1
        if on_rows is not None and pending >= 25:
            on_rows(pending)
            pending = 0
    if on_rows is not None and pending:
        on_rows(pending)
    return out


def part_name(index: int) -> str:
    return f"part-{index:05d}"


def run_partition(engine, source: Source, part: Partition, out_dir: str | os.PathLike, *,
                  on_rows: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Check one partition and commit it: its three Parquet files, then its marker. Returns the marker."""
    import pyarrow as pa

    t0 = time.perf_counter()
    rows = check_partition(engine, source, part, on_rows=on_rows)
    out = Path(out_dir)
    name = part_name(part.index)
    tables = schemas()
    for table, columns in (("gaps", rows.gaps), ("cases", rows.cases), ("errors", rows.errors)):
        schema = tables[table]
        data = pa.Table.from_pydict({f.name: columns.get(f.name, []) for f in schema}, schema=schema)
        _atomic_parquet(data, out / table / f"{name}.parquet")
    marker = {"partition": part.index, "first_row": part.first_row, "rows": part.rows, **rows.counts(),
              "seconds": round(time.perf_counter() - t0, 3), "worker": f"{os.uname().nodename}:{os.getpid()}",
              "worker_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "committed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _atomic_write(out / COMMITTED / f"{name}.json", json.dumps(marker, sort_keys=True).encode())
    return marker


def _temp_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def _atomic_parquet(table, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_of(path)
    try:
        with open(temp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_of(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        with contextlib.suppress(OSError):      # the rename itself on disk (not every file system allows it)
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


# -- the results folder -----------------------------------------------------------------------------

def lexicon_fingerprint() -> str:
    """sha256 of every lexicon file: results checked with other lexicons are another audit."""
    from .lexicons import lexicon_root

    digest = hashlib.sha256()
    root = lexicon_root()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".toml", ".tsv")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def committed(out_dir: str | os.PathLike) -> dict[int, dict[str, Any]]:
    """The commit markers of the results folder, by partition index."""
    folder = Path(out_dir) / COMMITTED
    found: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob("part-*.json")) if folder.is_dir() else ():
        try:
            marker = json.loads(path.read_bytes())
        except (OSError, json.JSONDecodeError):
            continue            # never written whole (a rename is atomic, so this is not ours): redone
        found[int(marker["partition"])] = marker
    return found


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(out_dir) / MANIFEST
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise AuditError(f"{path} cannot be read ({exc}): is RESULTS an audit's results folder?",
                         code="BAD_RESULTS") from None


def prepare(source: Source, out_dir: str | os.PathLike, parts: list[Partition], *,
            partition_rows: int, partition_bytes: int) -> dict[str, Any]:
    """The manifest of ``out_dir``: written for a new audit; for a rerun, checked to be the same
    audit (same input file, partitions and lexicons), else the audit stops before any work."""
    out = Path(out_dir)
    wanted = {"format_version": FORMAT_VERSION, "input": source.fingerprint(), "columns": list(source.columns),
              "partition_rows": partition_rows, "partition_bytes": partition_bytes,
              "lexicons": lexicon_fingerprint(), "partitions": [asdict(p) for p in parts]}
    existing = read_manifest(out)
    if existing is not None:
        for key, what in (("input", "another input file (or the file changed since)"),
                          ("lexicons", "other lexicons"),
                          ("partition_rows", "another partition size"), ("partition_bytes", "another partition size"),
                          ("partitions", "another partitioning"), ("format_version", "another results format")):
            if existing.get(key) != wanted[key]:
                raise AuditError(f"{out} holds an audit of {what}; give a new --out folder to start another audit",
                                 code="RESULTS_MISMATCH")
        return existing
    if out.exists() and any(p.name != ".lock" for p in out.iterdir()):
        raise AuditError(f"{out} is not empty and holds no audit; give a new or empty --out folder",
                         code="RESULTS_MISMATCH")
    manifest = {**wanted, "run_id": uuid.uuid4().hex,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for table in (*TABLES, COMMITTED):
        (out / table).mkdir(parents=True, exist_ok=True)
    _atomic_write(out / MANIFEST, json.dumps(manifest).encode())
    return manifest


@contextlib.contextmanager
def _locked(out_dir: Path):
    """One audit at a time on a results folder (a second driver would redo the same partitions)."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AuditError(f"another `scribe audit` is writing {out_dir}", code="RESULTS_LOCKED") from None
        yield


def _sweep_temporaries(out_dir: Path) -> None:
    """Half-written files of workers that died (their partitions are redone)."""
    for folder in (*TABLES, COMMITTED):
        for temp in (out_dir / folder).glob(".*.tmp"):
            with contextlib.suppress(OSError):
                temp.unlink()


def read_results(out_dir: str | os.PathLike, table: str):
    """The committed rows of ``table`` (gaps, cases or errors) as one Arrow table, in row order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    parts = [pq.read_table(out / table / f"{part_name(i)}.parquet") for i in sorted(committed(out))]
    if not parts:
        return schemas()[table].empty_table()
    return pa.concat_tables(parts)


def iter_results(out_dir: str | os.PathLike, table: str) -> Iterator[Any]:
    """The committed partitions of ``table``, one Arrow table at a time (bounded memory)."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    for i in sorted(committed(out)):
        yield pq.read_table(out / table / f"{part_name(i)}.parquet")


def audit_rows(out_dir: str | os.PathLike) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(cases, gaps) of each committed partition as the rows the service loads: codes and counts,
    no note text, messages or evidence."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    for i in sorted(committed(out)):
        name = f"{part_name(i)}.parquet"
        cases = pq.read_table(out / "cases" / name, columns=["row", "id", "provider", "date", "cpt", "icd10", "clean",
                                                             "errors_open", "warnings_open", "infos_open"]).to_pylist()
        gaps = pq.read_table(out / "gaps" / name, columns=["row", "code", "severity", "rule_id", "cpt", "line",
                                                           "icd10"]).to_pylist()
        yield ([{"row": c["row"], "case_id": c["id"], "provider": c["provider"], "service_date": c["date"],
                 "clean": c["clean"], "open_errors": c["errors_open"], "open_warnings": c["warnings_open"],
                 "open_infos": c["infos_open"], "cpt": c["cpt"] or [], "icd10": c["icd10"] or []} for c in cases],
               gaps)


# -- engines ----------------------------------------------------------------------------------------

_WORKER_ENGINE = None


def worker_engine():
    """The engine of this worker process, built on first use (once per Ray actor or Spark worker)."""
    global _WORKER_ENGINE
    if _WORKER_ENGINE is None:
        from .engine import build_engine

        _WORKER_ENGINE = build_engine()
        _WORKER_ENGINE.warm()
    return _WORKER_ENGINE


def _job(source: Source, part: Partition, out_dir: Path) -> str:
    return json.dumps({"source": asdict(source), "partition": asdict(part), "out": str(out_dir)})


def run_job(job: str) -> str:
    """A partition described as JSON (source, partition, out), checked and committed by this worker."""
    spec = json.loads(job)
    source = Source(**{**spec["source"], "columns": tuple(spec["source"]["columns"])})
    marker = run_partition(worker_engine(), source, Partition(**spec["partition"]), spec["out"])
    return json.dumps(marker)


def _run_local(jobs: list[tuple[Source, Partition]], out_dir: Path, progress) -> Iterator[dict[str, Any]]:
    from .engine import build_engine

    engine = build_engine()
    for source, part in jobs:
        before = progress.n
        marker = run_partition(engine, source, part, out_dir, on_rows=progress.update)
        progress.update(part.rows - (progress.n - before))
        yield marker


class RayWorker:
    """A Ray Data actor: builds the engine once, then checks and commits one partition per call."""

    def __init__(self) -> None:
        worker_engine()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"marker": [run_job(str(job)) for job in batch["job"]]}


def _run_ray(jobs: list[tuple[Source, Partition]], out_dir: Path, progress, *, workers: int | None,
             address: str | None) -> Iterator[dict[str, Any]]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise AuditError("--engine ray needs Ray Data: pip install 'ray[data]'", code="NO_ENGINE") from None
    logging.getLogger("ray").setLevel(logging.ERROR)       # Ray's start-up notices are not the audit's
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False, object_store_memory=256 * 1024 * 1024)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))     # default: one actor a CPU
        items = [{"job": _job(source, part, out_dir)} for source, part in jobs]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        results = ds.map_batches(RayWorker, batch_size=1, num_cpus=1,
                                 compute=ray.data.ActorPoolStrategy(size=min(size, len(items))))
        for row in results.iter_rows():
            marker = json.loads(row["marker"])
            progress.update(marker["rows"])
            yield marker
    finally:
        if started:
            ray.shutdown()


def _spark_partition(batches):
    import pandas as pd

    for frame in batches:
        yield pd.DataFrame({"marker": [run_job(job) for job in frame["job"]]})


def _run_spark(jobs: list[tuple[Source, Partition]], out_dir: Path, progress, *, workers: int | None,
               address: str | None) -> Iterator[dict[str, Any]]:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise AuditError("--engine spark needs PySpark and a Java runtime: pip install pyspark, and Debian's "
                         "openjdk-17-jre-headless", code="NO_ENGINE") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("scribe-audit").master(address or f"local[{workers or '*'}]")
    spark = (builder.config("spark.ui.enabled", "false").config("spark.python.worker.reuse", "true")
             .config("spark.task.maxFailures", "4").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        rdd = spark.sparkContext.parallelize([(_job(s, p, out_dir),) for s, p in jobs], len(jobs))
        frame = spark.createDataFrame(rdd, "job string").mapInPandas(_spark_partition, "marker string")
        for row in frame.toLocalIterator(prefetchPartitions=True):
            marker = json.loads(row["marker"])
            progress.update(marker["rows"])
            yield marker
    finally:
        spark.stop()


# -- the audit --------------------------------------------------------------------------------------

@dataclass
class AuditSummary:
    input: str
    out: str
    partitions: int
    skipped: int              # partitions already committed before this run
    rows: int
    cases: int
    errors: int
    clean: int
    words: int
    by_code: dict[str, dict[str, Any]]
    money: dict[str, Any]
    dates: list[str | None]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fee_table(lexicons=None) -> dict[str, float]:
    """{cpt: dollars}: the payments in lexicons/families/*.toml, or the JSON file SCRIBE_FEE_TABLE names."""
    override = os.environ.get("SCRIBE_FEE_TABLE")
    if override:
        try:
            data = json.loads(Path(override).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AuditError(f"SCRIBE_FEE_TABLE {override} cannot be read ({exc})", code="BAD_SETTINGS") from None
        return {str(k): float(v) for k, v in data.items()}
    if lexicons is None:
        from .lexicons import load_lexicons

        lexicons = load_lexicons()
    return {c.code: float(c.payment) for fam in lexicons.families for c in fam.codes if c.payment is not None}


def summarize(out_dir: str | os.PathLike, *, fees: Mapping[str, float], skipped: int = 0,
              seconds: float = 0.0) -> AuditSummary:
    """The totals of the committed partitions (each case is in exactly one)."""
    out = Path(out_dir)
    manifest = read_manifest(out) or {}
    markers = committed(out)
    by_code: dict[str, dict[str, Any]] = {}
    risk: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    risk_any: dict[str, int] = defaultdict(int)
    dates: list[date | None] = []
    for m in markers.values():
        for code, c in m["by_code"].items():
            row = by_code.setdefault(code, {"gaps": 0, "cases": 0, "severity": c["severity"]})
            row["gaps"] += c["gaps"]
            row["cases"] += c["cases"]
        for code, lines in m["risk"].items():
            for cpt, n in lines.items():
                risk[code][cpt] += n
        for cpt, n in m["risk_any"].items():
            risk_any[cpt] += n
        dates += [date.fromisoformat(d) for d in m["dates"] if d]

    def priced(lines: Mapping[str, int]) -> dict[str, Any]:
        dollars = sum(fees[c] * n for c, n in lines.items() if c in fees)
        return {"lines": sum(lines.values()), "dollars": round(dollars, 2),
                "unpriced_lines": sum(n for c, n in lines.items() if c not in fees)}

    for code, row in by_code.items():
        row.update(money=priced(risk.get(code, {})))
    money = {"severities": list(RISK_SEVERITIES), **priced(risk_any),
             "by_cpt": {cpt: priced({cpt: n}) for cpt, n in sorted(risk_any.items())}}
    return AuditSummary(
        input=manifest.get("input", {}).get("path", ""), out=str(out), partitions=len(manifest.get("partitions", [])),
        skipped=skipped, rows=sum(m["rows"] for m in markers.values()),
        cases=sum(m["cases"] for m in markers.values()), errors=sum(m["errors"] for m in markers.values()),
        clean=sum(m["clean"] for m in markers.values()), words=sum(m["words"] for m in markers.values()),
        by_code=dict(sorted(by_code.items(), key=lambda kv: (-kv[1]["cases"], kv[0]))), money=money,
        dates=_date_range(dates), seconds=round(seconds, 2))


def run_audit(input_path: str | os.PathLike, out_dir: str | os.PathLike, *, engine: str = "local",
              address: str | None = None, workers: int | None = None,
              partition_rows: int = DEFAULT_PARTITION_ROWS, partition_bytes: int = DEFAULT_PARTITION_BYTES,
              progress: bool = True, stream=None) -> AuditSummary:
    """Audit the cases of ``input_path`` into ``out_dir``: every partition not yet committed is
    checked and committed; the summary covers all committed partitions."""
    from tqdm import tqdm

    if engine not in ENGINES:
        raise AuditError(f"--engine must be one of {', '.join(ENGINES)}", code="BAD_INPUT")
    if address and engine == "local":
        raise AuditError("--address names a cluster: use it with --engine ray or spark", code="BAD_INPUT")
    source = open_source(input_path)                   # unreadable or the wrong schema: stop now
    out = Path(out_dir)
    t0 = time.perf_counter()
    with _locked(out):
        parts = plan(source, rows=partition_rows, nbytes=partition_bytes)
        prepare(source, out, parts, partition_rows=partition_rows, partition_bytes=partition_bytes)
        _sweep_temporaries(out)
        done = committed(out)
        todo = [(source, p) for p in parts if p.index not in done]
        total = sum(p.rows for p in parts)
        bar = tqdm(total=total, initial=total - sum(p.rows for _s, p in todo), unit=" notes", unit_scale=total >= 10000,
                   dynamic_ncols=True, disable=not progress, file=stream or sys.stderr, desc="audit",
                   smoothing=0.1, mininterval=0.5)
        with bar:
            if todo:
                if engine == "local":
                    runner = _run_local(todo, out, bar)
                elif engine == "ray":
                    runner = _run_ray(todo, out, bar, workers=workers, address=address)
                else:
                    runner = _run_spark(todo, out, bar, workers=workers, address=address)
                for _marker in runner:
                    pass
        fees = fee_table()
        summary = summarize(out, fees=fees, skipped=len(parts) - len(todo), seconds=time.perf_counter() - t0)
        missing = [p.index for p in parts if p.index not in committed(out)]
        if missing:
            raise AuditError(f"{len(missing)} partitions were not committed (first: {missing[0]}); run the same "
                             "command again to redo them", code="AUDIT_INCOMPLETE")
        _atomic_write(out / SUMMARY, json.dumps(summary.to_dict(), indent=1).encode())
    return summary


def summary_table(s: AuditSummary) -> str:
    """The audit's summary as plain-text tables: completeness, gaps per code, money at risk by code."""
    checked = s.cases
    share = f"{100 * s.clean / checked:.1f}%" if checked else "n/a"
    lines = [f"audit of {s.input}: {s.rows:,} rows in {s.partitions} partitions "
             f"({s.skipped} already done before this run), {s.seconds:.1f} s",
             f"checked {checked:,} cases ({s.words:,} words); {s.errors:,} rows could not be checked (the errors table)",
             f"completeness: {share} ({s.clean:,} of {checked:,} cases have no error or warning gap)"]
    if s.dates[0]:
        lines.append(f"dates: {s.dates[0]} to {s.dates[1]}")
    lines += ["", f"{'gap code':<28} {'severity':<8} {'gaps':>9} {'cases':>9} {'of cases':>8} {'lines at risk':>13} "
              f"{'$ at risk':>14}"]
    for code, row in s.by_code.items():
        money = row["money"]
        of = f"{100 * row['cases'] / checked:.1f}%" if checked else ""
        at_risk = f"${money['dollars']:,.2f}" if row["severity"] in RISK_SEVERITIES else "-"
        lines.append(f"{code:<28} {row['severity']:<8} {row['gaps']:>9,} {row['cases']:>9,} {of:>8} "
                     f"{money['lines']:>13,} {at_risk:>14}")
    m = s.money
    lines += ["", f"money at risk (CPT lines with an open error or warning gap, each line once): "
              f"${m['dollars']:,.2f} on {m['lines']:,} lines"
              + (f"; {m['unpriced_lines']:,} lines of codes without a fee not counted" if m["unpriced_lines"] else "")]
    for cpt, row in m["by_cpt"].items():
        lines.append(f"  CPT {cpt:<8} {row['lines']:>9,} lines  " + (f"${row['dollars']:>14,.2f}" if not
                                                                      row["unpriced_lines"] else "no fee"))
    return "\n".join(lines)

