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


class Cli(click.Group):
    """Domain errors end the command with their message, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TemError as exc:
            _fail(exc.message)


@click.group(cls=Cli)
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


def _database(settings: Settings) -> Any:
    from tem.core.db import Database

    settings.home.mkdir(parents=True, exist_ok=True)
    return Database(settings.effective_database_url)


def _upgrade(settings: Settings) -> None:
    from tem.migrate import upgrade

    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


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
@click.option("--kind", type=click.Choice(["packing_house", "ministry", "inspection_agency"]), required=True)
@click.option("--name", required=True)
@click.option("--code", required=True)
@click.option("--province", required=True)
@click.pass_context
def orgs_create(ctx: click.Context, kind: str, name: str, code: str, province: str) -> None:
    """Register an organisation."""
    from pydantic import ValidationError

    from identity.principal import operator
    from issuer import schemas, service

    settings = _settings(ctx)
    try:
        data = schemas.OrganisationCreate(kind=kind, name=name, code=code, province=province)
    except ValidationError as exc:
        _fail(_validation_message(exc), 2)
    with _with_session(settings) as session:
        org = service.create_organisation(session, settings, operator(), data)
    click.echo(f"organisation {org.code} created ({org.kind}, {org.province})")


def _validation_message(exc: Any) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()
    )


@main.group()
def users() -> None:
    """API tokens for people and systems."""


@users.command("create")
@click.option("--org", "org_code", required=True, help="Organisation code")
@click.option("--role", type=click.Choice(["packer", "inspector", "ministry"]), required=True)
@click.option("--name", required=True, help="Who holds this token")
@click.pass_context
def users_create(ctx: click.Context, org_code: str, role: str, name: str) -> None:
    """Create an API token. It is printed once and stored only as a hash."""
    from pydantic import ValidationError

    from identity.principal import operator
    from issuer import schemas, service

    try:
        data = schemas.TokenCreate(organisation=org_code, role=role, name=name)
    except ValidationError as exc:
        _fail(_validation_message(exc), 2)
    with _with_session(_settings(ctx)) as session:
        _row, token = service.create_token(session, operator(), data)
    click.echo(token)
    click.secho("This token is shown once. Store it now; Tem keeps only its hash.", fg="yellow", err=True)


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
    with _with_session(settings) as session:
        org = service.organisation(session, org_code)
        order = service.create_order(session, keys, actor, data, organisation_id=org.id)
        if order.first_serial is None:
            order = service.approve_order(session, keys, actor, order.id)
        stamps = service.order_stamps(session, keys, actor, order.id)
    written = _write_uris(stamps.uris(settings.public_base_url), out, count)
    click.echo(
        f"order {order.id}: {written} stamps, serials {stamps.first_serial}–{stamps.last_serial}, "
        f"key {stamps.signer.kid} → {out}",
        err=True,
    )


def _write_uris(uris: Any, out: Path, count: int) -> int:
    chunk = 10_000
    written = 0
    with (
        out.open("w", encoding="ascii", newline="\n") as fh,
        click.progressbar(length=count, label="signing", file=sys.stderr) as bar,
    ):
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
@click.pass_context
def verify(ctx: click.Context, uri: str, keys_source: str | None) -> None:
    """Verify a stamp URI offline. Exit status 0 means the signature is valid under a non-revoked key."""
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
    sys.exit(0 if result else 1)


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
    """Move scans from the Redis Stream into the database, in batches, idempotently by scan id."""
    import asyncio
    import os
    import signal
    import socket

    from alerts.service import AlertService
    from detection.engine import load_config
    from resolver.store import make_store
    from resolver.worker import PUBLISH_SECONDS, drain
    from tem.core import logs
    from tem.runtime import scan_writer

    settings = _settings(ctx)
    logs.configure(settings.log_format, settings.log_level)
    if not settings.redis_url:
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
        # Alert webhooks are sent alongside (every TEM_WEBHOOK_POLL_SECONDS; once with --once).
        alerts = AlertService(settings)
        webhooks = asyncio.create_task(alerts.run_webhooks(database, stop)) if not once else None
        try:
            writer = scan_writer(database, load_config(settings.detection_config), alerts)
            # Its figures go to the store for /metrics of `tem serve` (docs/operations.md).
            written = await drain(
                store, writer, consumer, batch=batch, stop=stop, once=once, publish_every=PUBLISH_SECONDS
            )
            if once:
                await asyncio.to_thread(alerts.deliver_due, database)
            return written
        finally:
            stop.set()
            if webhooks is not None:
                await webhooks
            await store.close()
            database.dispose()

    written = asyncio.run(run())
    click.echo(f"worker {consumer}: wrote {written} scans", err=True)


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


def ensure_dev_pin_key(settings: Settings) -> Settings:
    """The demo's scratch-off PIN key, beside the development KEK and as loudly announced."""
    if settings.pin_key:
        return settings
    path = settings.home / "dev-pin-key.b64"
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
    with _with_session(settings) as session:
        download = printing_service.prepare_print(session, keys, operator("cli:print"), order_id, template_name, kind)
    # Written next to the target and renamed at the end, so a failure never leaves a partial file.
    partial = out.with_name(f".{out.name}.partial")
    try:
        with (
            partial.open("wb") as fh,
            click.progressbar(length=download.count, label=f"printing {download.template}", file=sys.stderr) as bar,
        ):
            for chunk in download.chunks(on_labels=bar.update):
                fh.write(chunk)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    click.echo(
        f"order {order_id}: {download.count} labels, serials {download.first_serial}–{download.last_serial}, "
        f"template {download.template} → {out}",
        err=True,
    )
