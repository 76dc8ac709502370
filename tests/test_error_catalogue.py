"""#13.14: every error code the engine, the CLI and the service emit is declared once in
`scribe.errors.CATALOGUE` (code, meaning, HTTP status where it applies); a broken lexicon file
gives one line naming the file and the key, never a traceback."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scribe.errors import _CODES, CATALOGUE

ROOT = Path(__file__).resolve().parents[1]
_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|^[A-Z]{4,}$")
_FIRST_ARG = {"error", "ProtocolError", "_error", "body"}   # helpers whose first argument is a code
_AUTH_STATUS = 401      # a CDS client's AuthError is answered 401 (server/cds.py)
_LAUNCH_STATUS = 400    # LaunchError's default status (server/smart.py)


def _consts(node) -> list[str]:
    """The code(s) a node writes: a constant, or either branch of ``A if cond else B``."""
    if isinstance(node, ast.IfExp):
        return _consts(node.body) + _consts(node.orelse)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CODE.match(node.value):
        return [node.value]
    return []


def _const(node) -> str | None:
    found = _consts(node)
    return found[0] if len(found) == 1 else None


def _status(node, default: int | None) -> int | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, int) else default


def _emitted() -> dict[str, list[tuple[str, int | None]]]:
    """code -> [(where, HTTP status or None)] for every code written in scribe/ and server/:
    ``code=`` arguments, the code argument of ``error``/``ProtocolError``/``ApiError``, class-level
    ``code = ...``, ``{"code": ...}`` entries, status-to-code tables and refusal tuples; the
    socket's ``_refuse``, the CDS service's ``cds_error`` and ``AuthError``, the SMART launch's
    ``LaunchError`` (error pages)."""
    out: dict[str, list[tuple[str, int | None]]] = {}
    for path in sorted([*(ROOT / "scribe").rglob("*.py"), *(ROOT / "server").rglob("*.py")]):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found: list[tuple[str | None, int | None]] = []
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                found += [(_const(k.value), None) for k in node.keywords if k.arg == "code"]
                if name == "get" and len(node.args) > 1 and isinstance(node.args[0], ast.Attribute) \
                        and node.args[0].attr == "status_code":   # a status-to-code table's default
                    found.append((_const(node.args[1]), None))
                if name in _FIRST_ARG and node.args:
                    found.append((_const(node.args[0]), None))
                if name == "ApiError" and len(node.args) > 1:
                    status = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
                    found.append((_const(node.args[1]), status))
                if name == "_refuse" and len(node.args) > 1:         # (ws, code, message, close code)
                    found.append((_const(node.args[1]), None))
                if name == "cds_error" and len(node.args) > 1:       # (status, code, message)
                    found += [(c, _status(node.args[0], None)) for c in _consts(node.args[1])]
                if name == "AuthError" and node.args:
                    found += [(c, _AUTH_STATUS) for c in _consts(node.args[0])]
                if name == "LaunchError" and node.args:              # (code, title, message, status=400)
                    status = _status(node.args[3], None) if len(node.args) > 3 else next(
                        (_status(k.value, None) for k in node.keywords if k.arg == "status"), _LAUNCH_STATUS)
                    found += [(c, status) for c in _consts(node.args[0])]
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets):
                found += [(c, None) for c in _consts(node.value)]
            elif isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and (k.value == "code" or isinstance(k.value, int)):
                        found.append((_const(v), k.value if isinstance(k.value, int) else None))
            elif isinstance(node, (ast.Return, ast.Assign)) and isinstance(node.value, ast.Tuple) and node.value.elts \
                    and len(node.value.elts) == 3:     # refusal tuples: (code, message, close code)
                found.append((_const(node.value.elts[0]), None))
            for code, status in found:
                if code is not None:
                    out.setdefault(code, []).append((f"{path.relative_to(ROOT)}:{node.lineno}", status))
    return out


EMITTED = _emitted()


def test_error_catalogue_declares_each_code_once():
    codes = [e.code for e in _CODES]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    for entry in _CODES:
        assert _CODE.match(entry.code) and entry.meaning and entry.where in ("engine", "cli", "ws", "http", "lexicons")


def test_error_catalogue_scan_finds_the_known_emitters():
    # the scan must see each way a code is emitted, or the next test proves nothing
    for code in ("UNKNOWN_CPT", "GAP_NOT_OPEN", "MESSAGE_TOO_LARGE", "LEXICON_INVALID", "METHOD_NOT_ALLOWED",
                 "BAD_TOKEN", "BAD_CASE", "TOO_MANY_CONNECTIONS", "WRONG_HOOK", "JWT_REPLAYED", "JWT_EXPIRED",
                 "SMART_NOT_CONFIGURED", "CODE_REJECTED"):
        assert code in EMITTED, code


@pytest.mark.parametrize("code", sorted(EMITTED))
def test_error_catalogue_declares_every_emitted_code(code):
    assert code in CATALOGUE, f"{code} (emitted at {EMITTED[code][0][0]}) is not in scribe.errors.CATALOGUE"
    for where, status in EMITTED[code]:
        if status is not None:
            assert status in CATALOGUE[code].http, f"{code} is answered with HTTP {status} at {where}"


def test_error_catalogue_declares_the_access_codes_of_closed_connections():
    from scribe_server.access import MESSAGES, REASONS

    assert set(MESSAGES) | set(REASONS) <= set(CATALOGUE)


def test_error_catalogue_has_no_stale_code():
    assert set(CATALOGUE) <= set(EMITTED), sorted(set(CATALOGUE) - set(EMITTED))


# -- a broken lexicon file: one line naming the file and the key ------------------------------

def _rename_key(path: Path, old: str, new: str) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data[new] = data.pop(old)
    path.write_text(json.dumps(data), encoding="utf-8")


def _toml_typo(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace("id = ", "id = = ", 1), encoding="utf-8")


def _family_key(path: Path) -> None:
    family = sorted((path / "families").glob("*.toml"))[0]
    family.write_text(re.sub(r"(?m)^code = ", "kode = ", family.read_text(encoding="utf-8"), count=1), encoding="utf-8")


BREAKS = [
    ("rules.toml", lambda lex: _toml_typo(lex / "rules.toml"), ["rules.toml", "line"]),
    ("patterns.json", lambda lex: _rename_key(lex / "patterns.json", "projections", "projection"),
     ["patterns.json", "projections: Field required"]),
    ("sections.json", lambda lex: _rename_key(lex / "sections.json", "sections", "section"),
     ["sections.json", "sections: Field required"]),
    ("bad JSON", lambda lex: (lex / "icd10_support.json").write_text("{bad", encoding="utf-8"),
     ["icd10_support.json"]),
    ("family key", _family_key, [".toml", "code"]),
    ("concepts.jsonl", lambda lex: (lex / "concepts.jsonl").open("a", encoding="utf-8").write('{"concept": 1}\n'),
     ["concepts.jsonl:", "id"]),
]


@pytest.mark.parametrize("name,breaks,says", BREAKS, ids=[b[0] for b in BREAKS])
def test_broken_lexicon_gives_one_line_naming_file_and_key(tmp_path, name, breaks, says):
    lex = tmp_path / "lexicons"
    shutil.copytree(ROOT / "lexicons", lex, ignore=shutil.ignore_patterns("__pycache__"))
    breaks(lex)
    note = tmp_path / "note.txt"
    note.write_text("Lumbar spine, two views. Impression: normal.\n", encoding="utf-8")
    env = {**os.environ, "SCRIBE_LEXICON_DIR": str(lex), "SCRIBE_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "scribe.cli", "check", str(note), "--cpt", "72100"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    for word in says:
        assert word in lines[0], lines[0]
