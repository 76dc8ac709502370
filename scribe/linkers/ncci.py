"""CMS NCCI procedure-to-procedure (PTP) edits imported from the quarterly file.

``scribe data import-ncci FILE`` reads the practitioner PTP file in its published
tab-separated layout (column 1, column 2, in existence before 1996, effective date,
deletion date, modifier indicator, rationale), keeps the rows whose two codes are
both in a shipped imaging family, and stores them in the data directory
(``SCRIBE_DATA_DIR``, default ``~/.local/share/scribe``). The engine then checks
chosen code pairs against them, next to the shipped pair rules.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError

_CODE = re.compile(r"^[0-9A-Z]\d{3}[0-9A-Z]$")
STORE_NAME = "ncci_ptp.jsonl"


@dataclass(frozen=True)
class PtpEdit:
    column1: str
    column2: str
    effective: str            # YYYYMMDD
    deletion: str | None      # YYYYMMDD or None
    modifier_indicator: str   # "0" never bypassed, "1" bypass allowed, "9" not applicable
    rationale: str
    source: str

    def active_on(self, day: str) -> bool:
        return self.effective <= day and (self.deletion is None or self.deletion > day) and self.modifier_indicator != "9"


def data_dir() -> Path:
    return Path(os.environ.get("SCRIBE_DATA_DIR") or Path.home() / ".local" / "share" / "scribe")


class NcciEdits:
    def __init__(self, edits: list[PtpEdit]):
        self._pairs: dict[frozenset[str], list[PtpEdit]] = {}
        for e in edits:
            self._pairs.setdefault(frozenset((e.column1, e.column2)), []).append(e)
        self.count = len(edits)

    def find(self, a: str, b: str, day: str | None = None) -> PtpEdit | None:
        day = day or dt.date.today().strftime("%Y%m%d")
        for e in self._pairs.get(frozenset((a, b)), ()):
            if e.active_on(day):
                return e
        return None

    @classmethod
    def load(cls, path: Path) -> "NcciEdits":
        with open(path, encoding="utf-8") as f:
            return cls([PtpEdit(**json.loads(line)) for line in f if line.strip()])

    @classmethod
    def load_default(cls) -> "NcciEdits | None":
        path = data_dir() / STORE_NAME
        return cls.load(path) if path.exists() else None


def _date(raw: str) -> str | None:
    raw = raw.strip()
    if not raw or raw.startswith("*"):
        return None
    for fmt in ("%Y%m%d", "%m/%d/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(raw, fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    raise ValueError(f"unreadable date {raw!r}")


def parse_ptp_file(path: Path, keep: set[str] | None = None) -> tuple[list[PtpEdit], int]:
    """Edits from a CMS PTP text file (header and notice lines are skipped). Returns
    (edits kept, data rows read)."""
    try:
        handle = open(path, encoding="latin-1", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", code="UNREADABLE_FILE") from None
    edits, rows = [], 0
    source = f"CMS NCCI practitioner PTP edits ({Path(path).name})"
    with handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), 1):
            cells = [c.strip() for c in row]
            if len(cells) < 6 or not _CODE.match(cells[0]) or not _CODE.match(cells[1]):
                continue
            rows += 1
            if keep is not None and not (cells[0] in keep and cells[1] in keep):
                continue
            try:
                effective = _date(cells[3])
                deletion = _date(cells[4])
            except ValueError as exc:
                raise InputError(f"{path}:{number}: {exc}", code="BAD_NCCI_FILE") from None
            if effective is None or cells[5] not in ("0", "1", "9"):
                raise InputError(f"{path}:{number}: expected an effective date and a modifier indicator 0/1/9",
                                 code="BAD_NCCI_FILE")
            edits.append(PtpEdit(cells[0], cells[1], effective, deletion, cells[5],
                                 cells[6] if len(cells) > 6 else "", source))
    if rows == 0:
        raise InputError(f"{path} has no PTP rows in the CMS tab-separated layout", code="BAD_NCCI_FILE")
    return edits, rows


def import_ptp(path: Path, family_codes: set[str], store: Path | None = None) -> tuple[int, int, Path]:
    edits, rows = parse_ptp_file(path, family_codes)
    store = store or data_dir() / STORE_NAME
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for e in edits:
            f.write(json.dumps(asdict(e)) + "\n")
    os.replace(tmp, store)
    return len(edits), rows, store
