"""The `tem` command."""

from __future__ import annotations

import base64
import json
import logging
import sys
import urllib.request
from pathlib import Path
from typing import Any

import click

from tem.core.errors import TemError
from tem.core.settings import Settings

log = logging.getLogger("tem")


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def _fail(message: str, code: int = 1) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


class OneLineUsageError(click.UsageError):
    """A usage error said in one line, like every other error of the command (exit status 2)."""

    def show(self, file: Any = None) -> None:
        hint = f" (see `{self.ctx.command_path} --help`)" if self.ctx is not None else ""
        click.secho(f"error: {self.format_message()}{hint}", fg="red", err=True)


class Cli(click.Group):
    """User errors end the command with a one-line message and exit status 2, never a traceback: domain errors
    (`TemError`), files that cannot be read or written, and click's own usage errors."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message(), exc.ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message(), exc.ctx) from None
        except TemError as exc:
            _fail(exc.message, 2)


@click.group(cls=Cli)
@click.version_option(package_name="tem", message="tem %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Tem: signed traceability stamps for Vietnam's farm exports."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        ctx.obj = Settings()
    except ValueError as exc:
        _fail(f"bad TEM_ setting: {exc}", 2)
    from tem.core import logs

    # Commands say only what goes wrong; `tem serve` and `tem worker` log at TEM_LOG_LEVEL.
    logs.configure(ctx.obj.log_format, "WARNING")
    if ctx.obj.detection_config is not None:
        from detection.engine import ConfigError, load_config

        try:  # a missing or bad thresholds file stops every command at once, with the file's own error
            load_config(ctx.obj.detection_config)
        except ConfigError as exc:
            _fail(f"bad TEM_ setting: detection_config: {exc}", 2)
    if ctx.invoked_subcommand != "demo":
        ctx.obj = _demo_keys(ctx.obj)


def _demo_keys(settings: Settings) -> Settings:
    """After `tem demo`, the other commands find its development keys in TEM_HOME as it does, and say so as loudly.
    Set TEM_KEK / TEM_KEK_FILE (and TEM_PIN_KEY) and they are never looked for."""
    if not (settings.kek or settings.kek_file) and settings.dev_kek_path.is_file():
        settings = ensure_dev_kek(settings)
    if not settings.pin_key and (settings.home / DEV_PIN_KEY).is_file():
        settings = ensure_dev_pin_key(settings)
    return settings


def _database(settings: Settings) -> Any:
    from tem.core.db import Database

    settings.home.mkdir(parents=True, exist_ok=True)
    return Database(settings.effective_database_url)


def _upgrade(settings: Settings) -> None:
    from sqlalchemy.engine import make_url

    from issuer.chain_events import backfill
    from tem.core.db import Database
    from tem.migrate import grant_app_role, upgrade

    settings.home.mkdir(parents=True, exist_ok=True)
    owner_url = settings.migration_database_url
    if owner_url:  # the migrations run as the tables' owner; the application's role gets only what it needs
        upgrade(owner_url)
        app_role = make_url(settings.effective_database_url).username
        if owner_url.startswith("postgresql") and app_role and app_role != make_url(owner_url).username:
            grant_app_role(owner_url, app_role)
    else:
        upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            recorded = backfill(session)
    finally:
        database.dispose()
    if recorded:
        click.echo(f"recorded {recorded} EPCIS events of earlier stages, activations and revocations", err=True)


# tem db


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every migration to the configured database."""
    _upgrade(_settings(ctx))
    click.echo("database is up to date")


# tem audit


@main.group()
def audit() -> None:
    """The audit log's hash chain."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Check every row of the audit chain: exits 1 naming the first row edited, reordered or removed."""
    from issuer import audit as audit_log

    with _with_session(_settings(ctx)) as session:
        verdict = audit_log.verify(session)
    if not verdict.ok:
        where = f"seq {verdict.bad_seq}" + (f" (id {verdict.bad_id})" if verdict.bad_id is not None else "")
        click.secho(
            f"error: the audit chain is broken at {where}: {verdict.problem}; {verdict.count} rows before it are good",
            fg="red",
            err=True,
        )
        sys.exit(1)
    click.echo(f"audit chain verified: {verdict.count} rows, head {verdict.head}")


# tem keys


@main.group()
def keys() -> None:
    """Signing keys: generate, list, rotate, revoke."""


def _with_session(settings: Settings) -> Any:
    return _database(settings).session()


@keys.command("generate")
@click.pass_context
def keys_generate(ctx: click.Context) -> None:
    """Create the first active signing key."""
    from identity.principal import operator
    from issuer import keys as key_service

    settings = _settings(ctx)
    kek = key_service.load_kek(settings)
    with _with_session(settings) as session:
        info = key_service.generate(session, kek, operator())
    click.echo(f"generated signing key {info.kid} (active)")


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Make a new key active; the old one is retired and still verifies."""
    from identity.principal import operator
    from issuer import keys as key_service

    settings = _settings(ctx)
    kek = key_service.load_kek(settings)
    with _with_session(settings) as session:
        info = key_service.rotate(session, kek, operator())
    click.echo(f"signing key {info.kid} is now active")


@keys.command("revoke")
@click.argument("kid")
@click.option("--reason", required=True, help="Why, e.g. 'laptop stolen 2026-07-01' (operators only)")
@click.pass_context
def keys_revoke(ctx: click.Context, kid: str, reason: str) -> None:
    """Revoke a key after a compromise: its stamps resolve as revoked, and consumers are told the fixed
    category key_withdrawn, never the reason."""
    from identity.principal import operator
    from issuer import keys as key_service

    with _with_session(_settings(ctx)) as session:
        info = key_service.revoke(session, kid, reason, operator())
    click.echo(f"signing key {info.kid} is revoked (category key_withdrawn)")


def _kek_option(value: str, option: str) -> bytes:
    """A KEK given on the command line: base64 of 32 bytes, or the path of a file holding it (as TEM_KEK_FILE)."""
    from crypto import KekError, parse_kek

    text = value.strip()
    path = Path(text)
    if text and ("/" in text or path.is_file()):
        try:
            text = path.read_text().strip()
        except OSError as exc:
            _fail(f"the KEK of {option}: cannot read {value}: {exc.strerror}", 2)
    try:
        return parse_kek(text)
    except KekError as exc:
        _fail(f"the KEK of {option}: {str(exc).removeprefix('TEM_KEK ')}", 2)
        raise


@keys.command("rekey")
@click.option("--from-kek", "from_kek", required=True, help="The KEK the keys are sealed with now (base64, or a file)")
@click.option("--to-kek", "to_kek", required=True, help="The new KEK (base64, or a file)")
@click.pass_context
def keys_rekey(ctx: click.Context, from_kek: str, to_kek: str) -> None:
    """Seal every signing key again under a new KEK, all in one transaction. Then set TEM_KEK (or TEM_KEK_FILE) to
    the new KEK everywhere and restart."""
    from identity.principal import operator
    from issuer import keys as key_service

    old, new = _kek_option(from_kek, "--from-kek"), _kek_option(to_kek, "--to-kek")
    with _with_session(_settings(ctx)) as session:
        count = key_service.rekey(session, old, new, operator("cli:keys"))
    click.echo(f"sealed {count} signing keys again under the new KEK; now set TEM_KEK to it everywhere and restart")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List signing keys (never their private parts)."""
    from issuer import keys as key_service

    with _with_session(_settings(ctx)) as session:
        infos = key_service.list_keys(session)
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in infos], indent=2))
        return
    if not infos:
        click.echo("no signing keys; run `tem keys generate`")
    for info in infos:
        when = info.not_before.date().isoformat() if info.not_before else "-"
        until = info.not_after.date().isoformat() if info.not_after else "open"
        extra = f"  ({info.revoked_reason})" if info.revoked_reason else ""
        click.echo(f"{info.kid:<8} {info.status.value:<8} {when} → {until}{extra}")


# tem orgs / tem users


@main.group()
def orgs() -> None:
    """Organisations: packing houses, the ministry, inspection agencies."""


@orgs.command("create")
@click.option(
    "--kind",
    type=click.Choice(["packing_house", "ministry", "inspection_agency", "province_authority", "distributor"]),
    required=True,
)
@click.option("--name", required=True)
@click.option("--code", required=True)
@click.option("--province", required=True, help="a Vietnamese province; an importer abroad gives its own region")
@click.option("--gln", default=None, help="its GS1 Global Location Number (13 digits), if it has one")
@click.pass_context
def orgs_create(ctx: click.Context, kind: str, name: str, code: str, province: str, gln: str | None) -> None:
    """Register an organisation."""
    from pydantic import ValidationError

    from identity.principal import operator
    from issuer import schemas, service

    settings = _settings(ctx)
    try:
        data = schemas.OrganisationCreate(kind=kind, name=name, code=code, province=province, gln=gln)
    except ValidationError as exc:
        _fail(_validation_message(exc), 2)
    with _with_session(settings) as session:
        org = service.create_organisation(session, settings, operator(), data)
    click.echo(f"organisation {org.code} created ({org.kind}, {org.province})")


@orgs.command("list")
@click.pass_context
def orgs_list(ctx: click.Context) -> None:
    """List the organisations: code, kind, province and name."""
    from issuer import service

    with _with_session(_settings(ctx)) as session:
        found = [(o.code, o.kind, o.province, o.name) for o in service.list_organisations(session)]
    if not found:
        click.echo("no organisations; add one with `tem orgs create`")
    for code, kind, province, name in found:
        click.echo(f"{code:<16} {kind:<18} {province:<16} {name}")


def _validation_message(exc: Any) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()
    )


@main.group()
def users() -> None:
    """API tokens for people and systems."""


@users.command("create")
@click.option("--org", "org_code", required=True, help="Organisation code")
@click.option(
    "--role", type=click.Choice(["packer", "inspector", "distributor", "ministry", "province"]), required=True
)
@click.option("--name", required=True, help="Who holds this token")
@click.option("--expires-in-days", "expires_in_days", type=int, help="The token stops working after N days (1-3650)")
@click.pass_context
def users_create(ctx: click.Context, org_code: str, role: str, name: str, expires_in_days: int | None) -> None:
    """Create an API token. It is printed once and stored only as a hash."""
    from pydantic import ValidationError

    from identity.principal import operator
    from issuer import schemas, service

    try:
        data = schemas.TokenCreate(organisation=org_code, role=role, name=name, expires_in_days=expires_in_days)
    except ValidationError as exc:
        _fail(_validation_message(exc), 2)
    with _with_session(_settings(ctx)) as session:
        row, token = service.create_token(session, operator(), data)
        expires = row.expires_at
    click.echo(token)
    if expires is not None:
        click.secho(f"It expires at {expires:%Y-%m-%d %H:%M} UTC.", err=True)
    click.secho("This token is shown once. Store it now; Tem keeps only its hash.", fg="yellow", err=True)


@users.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked tokens")
@click.pass_context
def users_list(ctx: click.Context, show_all: bool) -> None:
    """List API tokens: id, organisation, role, holder and state (never the token: only its hash is kept)."""
    from identity.principal import operator
    from issuer import service
    from tem.core.time import utcnow

    with _with_session(_settings(ctx)) as session:
        rows = [
            (t.id, o.code, t.role, t.name, t.created_at, t.revoked_at, t.expires_at)
            for t, o in service.list_tokens(session, operator())
            if show_all or t.revoked_at is None
        ]
    if not rows:
        click.echo("no API tokens; create one with `tem users create`")
    now = utcnow()
    for token_id, org, role, name, created, revoked, expires in rows:
        if revoked:
            state = f"revoked {revoked:%Y-%m-%d}"
        elif expires is not None:
            state = f"{'expired' if expires <= now else 'until'} {expires:%Y-%m-%d}"
        else:
            state = "live"
        click.echo(f"{token_id:>5} {org:<16} {role:<10} {state:<18} {created:%Y-%m-%d}  {name}")


@users.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def users_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke an API token by its id (`tem users list`): it and its browser sessions stop working at once."""
    from identity.principal import operator
    from issuer import service

    with _with_session(_settings(ctx)) as session:
        row = service.revoke_token(session, operator("cli:users"), token_id)
        click.echo(f"API token {row.id} ({row.role}, {row.name}) is revoked")


# tem issue


@main.command()
@click.option("--org", "org_code", required=True, help="Packing-house code")
@click.option("--gtin", required=True)
@click.option("--count", type=int, required=True, help="How many stamps")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@click.option("--template", default="durian-fruit-tag", show_default=True)
@click.pass_context
def issue(ctx: click.Context, org_code: str, gtin: str, count: int, out: Path, template: str) -> None:
    """Allocate and sign COUNT stamps, writing their URIs (one per line) to a CSV file."""
    from pydantic import ValidationError

    from identity.principal import operator
    from issuer import schemas, service
    from issuer.keys import SignerCache

    settings = _settings(ctx)
    try:
        data = schemas.OrderCreate(gtin=gtin, quantity=count, template=template)
    except ValidationError as exc:
        _fail(_validation_message(exc), 2)
    keys = service.Keys(settings, SignerCache())
    actor = operator("cli:issue")
    # The output is opened before the order is made, and the order is committed only once every URI is written:
    # a file that cannot be written leaves no order behind.
    partial = _open_partial(out)
    try:
        with partial.open("w", encoding="ascii", newline="\n") as fh, _with_session(settings) as session:
            org = service.organisation(session, org_code)
            order = service.create_order(session, keys, actor, data, organisation_id=org.id)
            if order.first_serial is None:
                order = service.approve_order(session, keys, actor, order.id)
            stamps = service.order_stamps(session, keys, actor, order.id)
            written = _write_uris(stamps.uris(settings.public_base_url), fh, count)
            fh.flush()  # a full disk is found here, before the order is committed
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        _fail(f"cannot write {out}: {exc.strerror or exc}; no order was made", 2)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    click.echo(
        f"order {order.id}: {written} stamps, serials {stamps.first_serial}–{stamps.last_serial}, "
        f"key {stamps.signer.kid} → {out}",
        err=True,
    )


def _open_partial(out: Path) -> Path:
    """A file next to OUT, created now so that a folder that is missing or read-only is found before any work;
    renamed over OUT at the end, so a failure never leaves a partial file under OUT's name."""
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.open("wb").close()
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}", 2)
    return partial


def _write_uris(uris: Any, fh: Any, count: int) -> int:
    chunk = 10_000
    written = 0
    fh.write("uri\n")  # the header row: one column, a stamp URI per line
    with click.progressbar(length=count, label="signing", file=sys.stderr) as bar:
        batch: list[str] = []
        for uri in uris:
            batch.append(uri)
            if len(batch) == chunk:
                fh.write("\n".join(batch))
                fh.write("\n")
                written += chunk
                bar.update(chunk)
                batch.clear()
        if batch:
            fh.write("\n".join(batch))
            fh.write("\n")
            written += len(batch)
            bar.update(len(batch))
    return written


# tem verify


@main.command()
@click.argument("uri")
@click.option("--keys", "keys_source", help="Keyset JSON file or URL (default: this installation's keys)")
@click.option("--online", is_flag=True, help="Also ask the stamp's resolver for its state (revoked, activated, …)")
@click.option("--timeout", default=10.0, show_default=True, type=float, help="Seconds to wait for the resolver")
@click.pass_context
def verify(ctx: click.Context, uri: str, keys_source: str | None, online: bool, timeout: float) -> None:
    """Verify a stamp URI offline. Exit status 0 means the signature is valid under a non-revoked key.

    Offline, the stamp's own state (revoked, never activated) is not checked: --online asks its resolver."""
    from crypto import KeysetError, StampFormatError, parse_keyset_document, parse_stamp_uri, verify_stamp

    try:
        stamp = parse_stamp_uri(uri)
    except StampFormatError as exc:
        _fail(f"not a Tem stamp: {exc}", 2)
    try:
        keyset = parse_keyset_document(_load_keyset(_settings(ctx), keys_source))
    except (KeysetError, ValueError, OSError) as exc:
        _fail(f"cannot load the keyset: {exc}", 2)
    result = verify_stamp(stamp, keyset)
    verdict = "VALID" if result else result.status.value.upper().replace("_", " ")
    click.secho(f"{verdict}: {result.reason}", fg="green" if result else "red")
    click.echo(f"gtin {stamp.gtin}  serial {stamp.serial}  key {stamp.kid}")
    if not online:
        click.echo("offline check: the stamp's revocation and activation were not checked (use --online)")
        sys.exit(0 if result else 1)
    verdict_online, detail = _resolve_online(uri, timeout)
    click.secho(f"ONLINE {verdict_online.upper()}: {detail}", fg="green" if verdict_online == "genuine" else "red")
    sys.exit(0 if result and verdict_online == "genuine" else 1)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _resolve_online(uri: str, timeout: float) -> tuple[str, str]:
    """The resolver's answer to a HEAD of the stamp URI, not followed: a redirect to the trace page means the stamp
    is active on a lot (not revoked); anything else, that it is not. A HEAD, not a GET: the resolver records no
    scan for it, so checking a stamp from the command line never counts as a consumer's scan in its history."""
    import urllib.error

    request = urllib.request.Request(uri, method="HEAD", headers={"User-Agent": "tem-verify"})  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        if exc.code in (301, 302, 303, 307, 308):
            return (
                "genuine",
                f"active on a lot; the resolver sends it to {exc.headers.get('location', 'its trace page')}",
            )
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        _fail(
            f"cannot reach the resolver for {uri.split('?', maxsplit=1)[0]}: {reason} (the offline check above stands)",
            2,
        )
    return "not active", f"the resolver answered {status}: the stamp is revoked or was never activated on a lot"


def _load_keyset(settings: Settings, source: str | None) -> Any:
    if source is None:
        from crypto import keyset_document
        from issuer import keys as key_service

        with _with_session(settings) as session:
            return keyset_document(key_service.public_keys(session))
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=10) as response:  # noqa: S310  # scheme checked above
            return json.load(response)
    return json.loads(Path(source).read_text())


# tem worker


@main.command()
@click.option("--name", default=None, help="Consumer name in the stream group (default: host and pid)")
@click.option("--batch", default=500, show_default=True, type=int, help="Scans per database write")
@click.option("--once", is_flag=True, help="Write what is waiting, then exit")
@click.pass_context
def worker(ctx: click.Context, name: str | None, batch: int, once: bool) -> None:
    """Move scans from the Redis Stream into the database, in batches, idempotently by scan id, and send the
    outboxes (alert webhooks, the national portal). Without TEM_REDIS_URL, only the outboxes (needs TEM_PORTAL_URL)."""
    import asyncio
    import os
    import signal
    import socket

    from alerts.service import AlertService
    from detection.engine import load_config
    from epcis import outbox as portal_outbox
    from resolver.store import make_store
    from resolver.worker import PUBLISH_SECONDS, drain
    from tem.core import logs
    from tem.runtime import scan_writer

    settings = _settings(ctx)
    logs.configure(settings.log_format, settings.log_level)
    if not settings.redis_url and not settings.portal_url:
        _fail("tem worker reads the Redis Stream: set TEM_REDIS_URL. The embedded default runs it in-process.", 2)
    consumer = name or f"{socket.gethostname()}-{os.getpid()}"
    if settings.worker_nice:
        # Batched database writes are background work: under CPU contention they yield to the scan path
        # instead of stalling it (docs/performance.md, resolver section).
        os.nice(settings.worker_nice)

    async def run() -> int:
        store, _client = make_store(settings)
        database = _database(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Alert webhooks and the national portal's outbox are sent alongside (every TEM_WEBHOOK_POLL_SECONDS and
        # TEM_PORTAL_POLL_SECONDS; once with --once). The portal's does nothing without TEM_PORTAL_URL.
        alerts = AlertService(settings)
        webhooks = asyncio.create_task(alerts.run_webhooks(database, stop)) if not once else None
        portal = asyncio.create_task(portal_outbox.run_portal_outbox(database, settings, stop)) if not once else None
        try:
            writer = scan_writer(database, load_config(settings.detection_config), alerts)
            # Its figures go to the store for /metrics of `tem serve` (docs/operations.md).
            written = await drain(
                store, writer, consumer, batch=batch, stop=stop, once=once, publish_every=PUBLISH_SECONDS
            )
            if once:
                await asyncio.to_thread(alerts.deliver_due, database)
                await asyncio.to_thread(portal_outbox.deliver_due, database, settings)
            return written
        finally:
            stop.set()
            if webhooks is not None:
                await webhooks
            if portal is not None:
                await portal
            await store.close()
            database.dispose()

    if not settings.redis_url:
        _send_outboxes(settings, once=once)
        click.echo(f"worker {consumer}: sent the outboxes (no TEM_REDIS_URL: no scan stream to read)", err=True)
        return
    written = asyncio.run(run())
    click.echo(f"worker {consumer}: wrote {written} scans", err=True)


def _send_outboxes(settings: Settings, *, once: bool) -> None:
    """`tem worker` without Redis (the embedded default): no scan stream to read, only the outboxes to send."""
    import asyncio
    import signal

    from alerts.service import AlertService
    from epcis import outbox as portal_outbox

    async def run() -> None:
        database = _database(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        alerts = AlertService(settings)
        try:
            if once:
                await asyncio.to_thread(alerts.deliver_due, database)
                await asyncio.to_thread(portal_outbox.deliver_due, database, settings)
            else:
                await asyncio.gather(
                    alerts.run_webhooks(database, stop), portal_outbox.run_portal_outbox(database, settings, stop)
                )
        finally:
            database.dispose()

    asyncio.run(run())


# tem outbox


@main.group()
def outbox() -> None:
    """The national portal's outbox: send what waits, see how it stands, replay dead letters."""


@outbox.command("drain")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=0), help="Seconds at most")
@click.pass_context
def outbox_drain(ctx: click.Context, timeout: float) -> None:
    """Send every pending event to the portal, waiting out backoffs, until none is pending or the timeout.
    Exit 0 when nothing is pending (dead letters may remain), 1 when events are still pending."""
    from epcis import outbox as portal_outbox

    settings = _settings(ctx)
    if not settings.portal_url:
        _fail("tem outbox drain sends to the national portal: set TEM_PORTAL_URL (and TEM_PORTAL_TOKEN)", 2)
    database = _database(settings)
    try:
        before = portal_outbox.status(database)
        with click.progressbar(length=before.pending, label="sending to the portal", file=sys.stderr) as bar:

            def advance(batch: portal_outbox.OutboxReport) -> None:
                bar.update(batch.delivered + batch.dead)

            result = portal_outbox.drain(database, settings, timeout=timeout, on_batch=advance)
    finally:
        database.dispose()
    after = result.figures or before
    click.echo(
        f"portal outbox: {result.report.delivered} delivered, {result.report.dead} dead letters this run; "
        f"{after.pending} pending, {after.dead} dead in all",
        err=True,
    )
    if after.pending:
        click.echo(
            f"{after.pending} events are still pending after {timeout:g} seconds (the portal is slow or away; "
            "they stay queued): run `tem outbox drain` again or leave it to `tem worker`",
            err=True,
        )
        sys.exit(1)


@outbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object")
@click.pass_context
def outbox_status(ctx: click.Context, as_json: bool) -> None:
    """Pending, delivered and dead events, and the age of the oldest pending one."""
    from epcis import outbox as portal_outbox

    settings = _settings(ctx)
    database = _database(settings)
    try:
        figures = portal_outbox.status(database)
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps(figures.as_dict()))
        return
    click.echo(f"pending    {figures.pending}")
    click.echo(f"delivered  {figures.delivered}")
    click.echo(f"dead       {figures.dead}")
    click.echo(f"oldest pending: {figures.oldest_pending_age_seconds:.0f} s")
    if not settings.portal_url:
        click.echo("TEM_PORTAL_URL is not set: events wait here until it is", err=True)


@outbox.command("replay")
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter")
@click.argument("ids", nargs=-1, type=click.IntRange(min=1))
@click.pass_context
def outbox_replay(ctx: click.Context, replay_all: bool, ids: tuple[int, ...]) -> None:
    """Put dead letters (by outbox id, see GET /api/v1/portal-outbox) back in the queue."""
    from epcis import outbox as portal_outbox

    if replay_all == bool(ids):
        _fail("give the dead letters' ids, or --all (not both)", 2)
    settings = _settings(ctx)
    database = _database(settings)
    try:
        with database.session() as session:
            replayed = portal_outbox.replay_dead(session, None if replay_all else list(ids))
    finally:
        database.dispose()
    missing = sorted(set(ids) - set(replayed))
    if missing:  # the others (if any) are back in the queue all the same
        _fail(f"not dead letters: {', '.join(map(str, missing))} ({len(replayed)} others back in the queue)", 2)
    click.echo(f"{len(replayed)} dead letters back in the queue")


# tem replay


@main.command("replay")
@click.argument("events", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Detection thresholds (TOML); only the keys it sets override the defaults",
)
@click.option("--skip-bad", is_flag=True, help="Skip lines that cannot be used, reporting each on stderr")
def replay_command(events: Path, config_path: Path | None, skip_bad: bool) -> None:
    """Run detection over EVENTS (JSON lines, in time order; - for stdin) and print one JSON line per alert,
    when it opens and again when its severity rises."""
    import time

    from detection.engine import ConfigError, load_config
    from detection.replay import BadLine, replay

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        _fail(f"config: {exc}", 2)
        return

    def report(bad: BadLine) -> None:
        click.echo(f"skipped {events} {bad}", err=True)

    start = time.perf_counter()
    try:
        if str(events) == "-":
            stats = replay(sys.stdin.buffer, sys.stdout, config, skip_bad=skip_bad, on_skip=report)
        else:
            with events.open("rb") as source:
                stats = replay(source, sys.stdout, config, skip_bad=skip_bad, on_skip=report)
    except OSError as exc:
        _fail(f"cannot read {events}: {exc.strerror or exc}", 2)
        return
    except BadLine as bad:
        sys.stdout.flush()
        _fail(f"{events} {bad} (--skip-bad skips such lines)", 2)
        return
    sys.stdout.flush()
    seconds = time.perf_counter() - start
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.events.items())) or "no events"
    click.echo(
        f"replayed {stats.lines} lines ({counts}) in {seconds:.1f} s: {stats.alerts} alert lines, "
        f"{stats.skipped} skipped",
        err=True,
    )


# tem serve / tem demo


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the API, the keyset and the pages."""
    settings = _settings(ctx)
    if settings.is_sqlite:
        _upgrade(settings)
    _run_server(settings, host, port, workers)


def _multiproc_dir(settings: Settings) -> Path:
    """Where the serving processes write their figures for /metrics to sum; emptied first, as an earlier run's
    figures would be summed with this one's. Plain file work: prometheus-client is imported only by the
    processes that serve, after PROMETHEUS_MULTIPROC_DIR is set."""
    directory = (settings.home / "metrics").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def _run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    import os

    import uvicorn

    from tem import compiled
    from tem.core import logs

    click.echo(f"detection's per-scan code: {compiled.describe()}", err=True)
    if workers > 1 and settings.metrics:
        # Each worker process counts in files there (prometheus-client's multiprocess mode), and /metrics, answered
        # by any one of them, sums them all. The variable reaches the processes uvicorn starts.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_multiproc_dir(settings))

    # No access log: it would write raw client addresses, which Tem never stores, and it halves scan throughput.
    uvicorn.run(
        "tem.asgi:app",
        host=host,
        port=port,
        workers=workers,
        factory=False,
        log_level="info",
        access_log=False,
        log_config=logs.uvicorn_log_config(settings.log_format, settings.log_level),
        # The client address is the TCP peer, or TEM_EDGE_CLIENT_IP_HEADER when trusted; never uvicorn's reading
        # of X-Forwarded-For, which a client can write itself (/metrics access and per-network limits rely on it).
        proxy_headers=False,
    )


def ensure_dev_kek(settings: Settings) -> Settings:
    """The demo's KEK lives in a file next to the data. Fine for a laptop; never for production."""
    if settings.kek or settings.kek_file:
        return settings
    path = settings.dev_kek_path
    if not path.exists():
        from crypto import generate_kek

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.b64encode(generate_kek()).decode())
        path.chmod(0o600)
    click.secho(
        f"WARNING: using a DEVELOPMENT key-encryption key stored in plain text at {path}. "
        "Production must set TEM_KEK or TEM_KEK_FILE from a secret store.",
        fg="red",
        bold=True,
        err=True,
    )
    return settings.model_copy(update={"kek_file": path})


DEV_PIN_KEY = "dev-pin-key.b64"


def ensure_dev_pin_key(settings: Settings) -> Settings:
    """The demo's scratch-off PIN key, beside the development KEK and as loudly announced."""
    if settings.pin_key:
        return settings
    path = settings.home / DEV_PIN_KEY
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    click.secho(
        f"WARNING: using a DEVELOPMENT scratch-off PIN key stored in plain text at {path}. "
        "Production must set TEM_PIN_KEY from a secret store.",
        fg="red",
        bold=True,
        err=True,
    )
    return settings.model_copy(update={"pin_key": path.read_text().strip()})


@main.command()
@click.option("--serve/--no-serve", default=True, help="Serve after seeding (default) or exit")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the demo data")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
def demo(ctx: click.Context, serve: bool, as_json: bool, host: str, port: int) -> None:
    """Seed a durian pilot dataset and serve it on the embedded default."""
    import os

    from tem.demo import seed

    settings = ensure_dev_pin_key(ensure_dev_kek(_settings(ctx)))
    if "public_base_url" not in settings.model_fields_set:
        # The stamps and the printed addresses point at the port being served, not the default one.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104  # compared, not bound
        settings = settings.model_copy(update={"public_base_url": f"http://{shown}:{port}"})
    _upgrade(settings)
    database = _database(settings)
    try:
        with database.session() as session:
            result = seed(session, settings)
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_demo(result)
    if serve:
        # The server process reads the same settings, including the demo KEK file.
        os.environ.setdefault("TEM_KEK_FILE", str(settings.kek_file))
        os.environ.setdefault("TEM_PIN_KEY", str(settings.pin_key))
        os.environ.setdefault("TEM_PUBLIC_BASE_URL", settings.public_base_url)
        if "log_format" not in settings.model_fields_set:  # a person at a terminal, not a log shipper
            os.environ["TEM_LOG_FORMAT"] = "text"
            settings = settings.model_copy(update={"log_format": "text"})
        _run_server(settings, host, port, 1)


def _print_demo(result: dict[str, Any]) -> None:
    echo = click.echo
    echo("")
    echo(f"Tem demo: packing house {result['packing_house']}, product {result['gtin']}, lot {result['lot']}")
    echo(f"Order {result['order_id']}: {len(result['stamps'])} stamps activated on the lot.")
    echo("")
    echo("A sample stamp (open it, or check it with `tem verify`):")
    echo(f"  {result['stamps'][0]}")
    echo("")
    echo("API tokens (new each run; send as 'Authorization: Bearer <token>'):")
    for role, token in result["tokens"].items():
        echo(f"  {role:<10} {token}")
    echo("")
    echo(f"API docs: {result['base_url']}/docs    keyset: {result['base_url']}/.well-known/tem-keys.json")


# tem print


@main.command("print")
@click.argument("order_id", type=int)
@click.option("--template", "template_name", help="Label template (default: the order's, the fruit tag)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PDF or ZPL file")
@click.option("--format", "fmt", type=click.Choice(["pdf", "zpl"]), help="Default: from the file name")
@click.pass_context
def print_labels(ctx: click.Context, order_id: int, template_name: str | None, out: Path, fmt: str | None) -> None:
    """Write an order's print-ready labels (PDF for roll or sheet printers, ZPL for roll printers)."""
    import os

    from identity.principal import operator
    from issuer import printing_service
    from issuer.keys import SignerCache
    from issuer.service import Keys

    settings = _settings(ctx)
    chosen = fmt or out.suffix.lower().lstrip(".")
    if chosen not in ("pdf", "zpl"):
        _fail(f"cannot tell the format from {out.name!r}: name it .pdf or .zpl, or give --format", 2)
    keys = Keys(settings, SignerCache())
    kind: printing_service.Format = "zpl" if chosen == "zpl" else "pdf"
    partial = _open_partial(out)
    try:
        with _with_session(settings) as session:
            download = printing_service.prepare_print(
                session, keys, operator("cli:print"), order_id, template_name, kind
            )
        with (
            partial.open("wb") as fh,
            click.progressbar(length=download.count, label=f"printing {download.template}", file=sys.stderr) as bar,
        ):
            for chunk in download.chunks(on_labels=bar.update):
                fh.write(chunk)
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        _fail(f"cannot write {out}: {exc.strerror or exc}", 2)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    click.echo(
        f"order {order_id}: {download.count} labels, serials {download.first_serial}–{download.last_serial}, "
        f"template {download.template} → {out}",
        err=True,
    )
