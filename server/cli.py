"""``scribe serve``, ``scribe token create|list|revoke|rotate`` and ``scribe audit-load``, registered on the ``scribe``
command by ``add_commands``. Nothing heavy is imported at module level: the batch
``scribe check`` must start without the web stack or SQLAlchemy.
"""
from __future__ import annotations

import argparse
import json
import sys

ROLES = ("physician", "scribe", "manager", "admin")
FIRST_RUN_PAGES = (("sidebar", "physician"), ("review", "scribe"), ("dashboard", "manager"))


def add_commands(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="run the service: WebSocket, HTTP API, web pages")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--db", default=None, help="database URL (default $SCRIBE_DB_URL, else a SQLite file "
                       "in $SCRIBE_DATA_DIR); postgresql://user:pass@host/db for PostgreSQL")
    serve.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="DEBUG may log note text; never use it with real patients")
    serve.add_argument("--workers", type=int, default=None, metavar="N",
                       help="server processes behind the one port (default $SCRIBE_WORKERS, else 1); more than one "
                       "needs PostgreSQL (--db postgresql://...), which they share: any worker serves any dictation")
    serve.add_argument("--demo", action="store_true",
                       help="load example dictations (invented notes, several providers and codes, some with open "
                       "gaps) so that the review queue and the dashboard have data; skipped when already loaded")
    serve.set_defaults(func=cmd_serve)

    urls = subparsers.add_parser(
        "urls", help="print the page links of a named account (add --new-token to create the token they carry)",
        description="Print the links of the pages a role opens (physician: sidebar, scribe: review, manager: "
        "dashboard, admin: API docs) for a named account. Tokens are stored only as hashes, so a link can carry "
        "a token only when it is created now (--new-token) or given (--token); without either, the command lists "
        "the account's tokens and prints the links with TOKEN to fill in.")
    urls.add_argument("--role", required=True, choices=ROLES)
    urls.add_argument("--account", default="local", help="the account name (default 'local', the first start's)")
    how = urls.add_mutually_exclusive_group()
    how.add_argument("--new-token", action="store_true", help="create a token for the account and role and put it "
                     "in the links (it is shown only now; revoke it with `scribe token revoke ID`)")
    how.add_argument("--token", default=None, help="put this existing token in the links (checked: it must be "
                     "active and belong to the account and role)")
    urls.add_argument("--host", default=None, help="the address `scribe serve` listens on (default $SCRIBE_HOST, "
                      "else 127.0.0.1)")
    urls.add_argument("--port", type=int, default=None, help="its port (default $SCRIBE_PORT, else 8000)")
    urls.add_argument("--db", default=None, help="database URL (default $SCRIBE_DB_URL)")
    urls.set_defaults(func=cmd_urls)

    token = subparsers.add_parser("token", help="manage API tokens")
    sub = token.add_subparsers(dest="token_command", required=True)
    create = sub.add_parser("create", help="print a new API token (the last line of stdout)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="the account (a physician's notes belong to it)")
    create.add_argument("--expires", type=duration, default=None, metavar="DURATION",
                        help="lifetime, e.g. 90d, 12h, 30m (default: the role's, $SCRIBE_TOKEN_DAYS_<ROLE>: "
                        "admin 30d, others 90d)")
    create.add_argument("--db", default=None, help="database URL (default $SCRIBE_DB_URL)")
    create.set_defaults(func=cmd_token_create)
    listing = sub.add_parser("list", help="list tokens (never the tokens themselves)")
    listing.add_argument("--db", default=None)
    listing.set_defaults(func=cmd_token_list)
    revoke = sub.add_parser("revoke", help="revoke a token by its id, or every token of an account (deletes the "
                            "account; its dictations stay); open connections of the token close within a second")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?")
    which.add_argument("--account", default=None, help="revoke every token of this account name")
    revoke.add_argument("--db", default=None)
    revoke.set_defaults(func=cmd_token_revoke)
    rotate = sub.add_parser("rotate", help="print a new token for the same account and role (the last line of "
                            "stdout); the old one keeps working for a grace period")
    rotate.add_argument("id", type=int)
    rotate.add_argument("--grace", type=duration, default=None, metavar="DURATION",
                        help="how long the old token keeps working, e.g. 12h, 30m, 0s (default "
                        "$SCRIBE_TOKEN_ROTATE_GRACE_HOURS, 12h)")
    rotate.add_argument("--expires", type=duration, default=None, metavar="DURATION",
                        help="the new token's lifetime (default: the role's)")
    rotate.add_argument("--db", default=None)
    rotate.set_defaults(func=cmd_token_rotate)

    load = subparsers.add_parser(
        "audit-load", help="load the results of `scribe audit` into the dashboard as an audit (its own source and dates)",
        description="Load a finished `scribe audit` RESULTS folder into the service's database as a retrospective "
        "audit: its cases and gaps (codes, severities, rules, CPT lines; no note text, messages or evidence), its "
        "source file and date range. The dashboard (manager role) shows it next to live completeness, never mixed "
        "with live dictations. The same results load once (--replace loads them again).")
    load.add_argument("results", help="the --out folder of a finished `scribe audit`")
    load.add_argument("--name", default=None, help="how the dashboard names the audit (default: the input file name)")
    load.add_argument("--from", dest="date_from", type=_date, default=None, metavar="YYYY-MM-DD",
                      help="the audit's first date (default: the earliest case date)")
    load.add_argument("--to", dest="date_to", type=_date, default=None, metavar="YYYY-MM-DD",
                      help="the audit's last date (default: the latest case date)")
    load.add_argument("--replace", action="store_true", help="replace these results if they are already loaded")
    load.add_argument("--db", default=None, help="database URL (default $SCRIBE_DB_URL)")
    load.set_defaults(func=cmd_audit_load)


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str):
    """``90d``, ``12h``, ``30m``, ``45s`` (a plain number is days) as a timedelta."""
    from datetime import timedelta

    value, unit = (text[:-1], text[-1]) if text and text[-1] in UNITS else (text, "d")
    try:
        seconds = float(value) * UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90d, 12h, 30m, 45s)") from None
    if seconds < 0 or seconds != seconds:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative: {text!r}")
    return timedelta(seconds=seconds)


def _store(db: str | None, **overrides):
    from scribe.errors import InputError

    from .config import Settings
    from .db import safe_url
    from .store import Store

    try:
        settings = Settings.load(db_url=db, **overrides)
    except ValueError as exc:
        raise InputError(f"invalid settings: {exc}", code="BAD_SETTINGS") from None
    store = Store(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        store.migrate()
    except Exception as exc:  # noqa: BLE001 - one readable line instead of a traceback
        raise InputError(f"cannot open the database {safe_url(settings.database_url)}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}", code="DB_UNAVAILABLE") from None
    return settings, store


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD)") from None


def cmd_audit_load(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scribe.audit import AuditError, audit_rows, read_manifest
    from scribe.errors import InputError

    from .store import AuditExists

    results = Path(args.results)
    manifest = read_manifest(results)
    summary_path = results / "summary.json"
    if manifest is None or not summary_path.exists():
        raise AuditError(f"{results} holds no finished audit (no manifest.json or summary.json): run `scribe audit` "
                         "to the end first", code="BAD_RESULTS")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    source = manifest["input"]["path"]
    _settings, store = _store(args.db)
    try:
        audit = store.load_audit(run_id=manifest["run_id"], name=args.name or Path(source).name, source=source,
                                 loaded_by="cli", date_from=args.date_from, date_to=args.date_to,
                                 errors=int(summary["errors"]), partitions=audit_rows(results),
                                 replace=args.replace)
    except AuditExists as exc:
        raise InputError(f"these results are already loaded as audit {exc.args[0]}; --replace loads them again",
                         code="AUDIT_LOADED") from None
    finally:
        store.dispose()
    share = f"{100 * audit['share']:.1f}%" if audit["share"] is not None else "n/a"
    print(f"loaded audit {audit['id']} '{audit['name']}': {audit['cases']:,} cases ({audit['errors']:,} rows not "
          f"checked), {audit['date_from'] or '?'} to {audit['date_to'] or '?'}, completeness {share}")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from scribe.errors import InputError

    settings, store = _store(args.db)
    try:
        token, row = store.create_token(name=args.name, role=args.role, created_by="cli",
                                        lifetime=args.expires or settings.token_lifetime(args.role))
    except ValueError as exc:
        raise InputError(str(exc), code="BAD_TOKEN_REQUEST") from None
    finally:
        store.dispose()
    print(f"token {row['id']} for {row['name']} ({row['role']}), expires {row['expires_at']}; it is shown only now",
          file=sys.stderr)
    print(token)
    return 0


def cmd_token_rotate(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from scribe.errors import InputError

    settings, store = _store(args.db)
    grace = args.grace if args.grace is not None else timedelta(hours=settings.token_rotate_grace_hours)
    try:
        old = next((r for r in store.list_tokens() if r["id"] == args.id), None)
        if old is None:
            raise InputError(f"no token {args.id}", code="NOT_FOUND")
        done = store.rotate_token(args.id, grace=grace, created_by="cli",
                                  lifetime=args.expires or settings.token_lifetime(old["role"]))
    except ValueError as exc:
        raise InputError(str(exc), code="TOKEN_REVOKED") from None
    finally:
        store.dispose()
    if done is None:
        raise InputError(f"no token {args.id}", code="NOT_FOUND")
    token, new, old = done
    print(f"token {new['id']} for {new['name']} ({new['role']}), expires {new['expires_at']}, replaces token "
          f"{old['id']}, which works until {old['expires_at']}; it is shown only now", file=sys.stderr)
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    _, store = _store(args.db)
    rows = store.list_tokens()
    store.dispose()
    print(f"{'id':>4}  {'role':<10} {'name':<24} {'prefix':<13} {'created':<25} {'expires':<25} status")
    for r in rows:
        if r["revoked_at"]:
            status = f"revoked {r['revoked_at']}"
        elif not r["active"]:
            status = "expired"
        else:
            status = "active"
        if r.get("rotated_to"):
            status += f" (rotated to {r['rotated_to']})"
        print(f"{r['id']:>4}  {r['role']:<10} {r['name']:<24} {r['prefix']:<13} {r['created_at']:<25} "
              f"{r['expires_at'] or 'never':<25} {status}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from scribe.errors import InputError

    _, store = _store(args.db)
    if args.account is not None:
        rows = store.revoke_account(args.account)
        known = rows or any(r["name"] == args.account for r in store.list_tokens())
        store.dispose()
        if not known:
            raise InputError(f"no account {args.account}", code="NOT_FOUND")
        print(f"account {args.account}: {len(rows)} token(s) revoked" +
              (f" ({', '.join(str(r['id']) for r in rows)})" if rows else ""))
        return 0
    row = store.revoke_token(args.id)
    store.dispose()
    if row is None:
        raise InputError(f"no token {args.id}", code="NOT_FOUND")
    print(f"token {row['id']} ({row['role']}, {row['name']}) revoked at {row['revoked_at']}")
    return 0


ROLE_PAGES = {"physician": "sidebar", "scribe": "review", "manager": "dashboard"}


def base_url(settings) -> str:
    """The address a browser on this machine opens (a wildcard listen address means loopback)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}"


def page_link(base: str, role: str, token: str) -> str:
    """One line naming the page of ``role`` and its link (the first start's format)."""
    if role == "admin":
        return f"  admin token (manage tokens: {base}/docs or `scribe token`): {token}"
    page = ROLE_PAGES[role]
    return f"  {page:<9} ({role}): {base}/{page}?access_token={token}"


def cmd_urls(args: argparse.Namespace) -> int:
    from scribe.errors import InputError

    settings, store = _store(args.db, host=args.host, port=args.port)
    base, account = base_url(settings), args.account.strip()
    try:
        if args.new_token:
            token, row = store.create_token(name=account, role=args.role, created_by="scribe urls",
                                            lifetime=settings.token_lifetime(args.role))
            print(f"scribe: created token {row['id']} for {account} ({args.role}); it is shown only now "
                  f"(revoke: `scribe token revoke {row['id']}`)", file=sys.stderr)
        elif args.token:
            token = args.token.strip()
            who = store.principal_for(token)
            if who is None:
                raise InputError("the token given with --token is unknown or revoked", code="BAD_TOKEN")
            if (who.name, who.role) != (account, args.role):
                raise InputError(f"the token given with --token belongs to {who.name} ({who.role}), not to "
                                 f"{account} ({args.role})", code="TOKEN_MISMATCH")
        else:
            mine = [r for r in store.list_tokens() if r["active"] and r["name"] == account and r["role"] == args.role]
            if not mine:
                raise InputError(f"the account {account!r} has no active {args.role} token; add --new-token to "
                                 "create one and print working links", code="NO_TOKEN")
            listed = ", ".join(f"{r['id']} ({r['prefix']}...)" for r in mine)
            print(f"scribe: tokens are stored only as hashes and cannot be shown again; put yours in place of TOKEN, "
                  f"or add --new-token to create one (active {args.role} tokens of {account}: {listed})",
                  file=sys.stderr)
            token = "TOKEN"
    finally:
        store.dispose()
    print(f"{ROLE_PAGES.get(args.role, 'API')} links for {account} ({args.role}), while `scribe serve` runs on {base}:")
    print(page_link(base, args.role, token))
    return 0


def first_run_tokens(store, base_url: str, settings=None) -> list[str]:
    """On an empty database: a local admin token, and a token per page role so that each
    page's URL works at once (like Jupyter's). Returns the lines to print."""
    if store.count_tokens():
        return []
    def life(role: str):
        return settings.token_lifetime(role) if settings is not None else None

    admin, _ = store.create_token(name="local", role="admin", created_by="first start", lifetime=life("admin"))
    lines = ["scribe: first start with an empty database; created tokens for the account 'local':"]
    for _page, role in FIRST_RUN_PAGES:
        token, _ = store.create_token(name="local", role=role, created_by="first start", lifetime=life(role))
        lines.append(page_link(base_url, role, token))
    lines.append(page_link(base_url, "admin", admin))
    return lines


RESTART_HINT = ("scribe: page links are printed only when their token is created; for new ones: "
                "`scribe urls --role physician|scribe|manager [--account NAME] --new-token`")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from scribe.errors import InputError

    from .app import create_app
    from .logsafe import configure_logging

    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1", code="BAD_SETTINGS")
    settings, store = _store(args.db, host=args.host, port=args.port, log_level=args.log_level, workers=args.workers)
    if settings.workers > 1 and not store.shared:
        store.dispose()
        raise InputError(f"--workers {settings.workers} needs PostgreSQL (--db postgresql://user@host/db): the "
                         "workers share the database, and a SQLite file has one writer", code="BAD_SETTINGS")
    configure_logging(settings.log_level)
    base = base_url(settings)
    lines = first_run_tokens(store, base, settings) or [RESTART_HINT]
    for line in lines:
        print(line, flush=True)
    engine = None
    if getattr(args, "demo", False):
        from scribe import build_engine

        from .demo import load_demo

        print("scribe: --demo: building the engine and dictating the example notes...", flush=True)
        engine = build_engine()
        for line in load_demo(store, engine):
            print(line, flush=True)
    store.dispose()
    options: dict = {"host": settings.host, "port": settings.port, "ws_max_size": settings.frame_cap,
                     "ws_per_message_deflate": settings.ws_compression, "access_log": False, "log_config": None,
                     "log_level": settings.log_level.lower()}
    if settings.workers > 1:
        import os

        # each worker is a new process that reads its settings from the environment (Settings.load)
        os.environ.update({"SCRIBE_DB_URL": settings.database_url, "SCRIBE_HOST": settings.host,
                           "SCRIBE_PORT": str(settings.port), "SCRIBE_LOG_LEVEL": settings.log_level,
                           "SCRIBE_WORKERS": str(settings.workers)})
        print(f"scribe: serving on {base} with {settings.workers} worker processes (API docs {base}/docs); "
              "each builds the engine...", flush=True)
        uvicorn.run("scribe_server.app:worker_app", factory=True, workers=settings.workers, **options)
        return 0
    print(f"scribe: serving on {base} (API docs {base}/docs)" + ("; building the engine..." if engine is None else ""),
          flush=True)
    uvicorn.run(create_app(settings, engine=engine), **options)
    return 0
