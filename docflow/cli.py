"""The `docflow` command: serve, worker, db, org, user, audit, demo."""

from __future__ import annotations

import gc
import getpass
import logging
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import workflows as workflows_engine
from docflow.config import ConfigError, Settings
from docflow.domain.audit import Origin
from docflow.domain.errors import DomainError, Invalid
from docflow.domain.org import Role
from docflow.services.identity import generate_password

if TYPE_CHECKING:
    from docflow.bootstrap import Services

CLI = Origin(via="cli")


def _services(ctx: click.Context, *, upgrade_embedded: bool = False) -> Services:
    # The whole service is imported here, not with the command: `docflow verify` and
    # `docflow token-agent` need none of it (1.4 s of imports).
    from docflow.bootstrap import bootstrap

    try:
        settings = Settings.from_env(os.environ)
        # Bad organisation workflows, holiday years or mail settings stop the start here.
        services = bootstrap(settings, upgrade_embedded=upgrade_embedded)
    except (ConfigError, workflows_engine.DefinitionError) as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    except Invalid as exc:
        raise click.ClickException("configuration: " + _fail(exc).message) from exc
    ctx.call_on_close(services.close)
    return services


def _fail(exc: DomainError) -> click.ClickException:
    lines = [exc.message]
    if isinstance(exc, Invalid):
        lines += [f"  - {e}" for e in exc.errors]
    return click.ClickException("\n".join(lines))


def _password(option: str | None) -> tuple[str, bool]:
    """The password from --password: '-' generates one, nothing asks for it."""
    if option == "-":
        return generate_password(), True
    if option is None:
        return getpass.getpass("password: "), False
    return option, False


@click.group()
@click.version_option(package_name="docflow")
def main() -> None:
    """docflow: paperless administration across the levels of an organisation."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int,
              help="Web processes (the embedded default keeps one; its jobs run inside it).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the web UI and the API (gunicorn). Applies pending migrations on the embedded
    default; a server database is migrated with `docflow db upgrade`."""
    from gunicorn.app.base import BaseApplication

    from storage.db import migrate

    services = _services(ctx, upgrade_embedded=True)
    if not services.settings.embedded_database and (pending := migrate.pending(services.engine)):
        raise click.ClickException(f"migrations pending ({', '.join(pending)}): run "
                                   "`docflow db upgrade` first")
    if services.settings.redis_url is None and workers != 1:
        raise click.ClickException("the in-process job runner needs exactly one web process; "
                                   "configure DOCFLOW_REDIS_URL to run more")
    services.close()  # each gunicorn worker builds its own after the fork
    from docflow.signing.validation import start_isolation

    start_isolation()  # before gunicorn forks: its web processes share the zygote

    class App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", 8)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 120)

        def load(self):  # type: ignore[no-untyped-def]
            from datetime import timedelta

            from docflow.bootstrap import bootstrap
            from docflow.web import create_app

            built = bootstrap(Settings.from_env(os.environ))
            if built.settings.redis_url is None:
                # In-process jobs die with the process: pick up dispatches a restart cut off,
                # and run the recurring upkeep here (no worker runs it).
                built.documents.requeue_stalled(timedelta(0))
                built.maintenance.start()
            return create_app(built)

    click.echo(f"docflow on http://{host}:{port}/ (data: {services.settings.data_dir})")
    App().run()


@main.command()
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then exit.")
@click.option("--no-fork", is_flag=True,
              help="Run each job in this process (an HSM session then lasts across jobs).")
@click.pass_context
def worker(ctx: click.Context, burst: bool, no_fork: bool) -> None:
    """Run an RQ worker (with its scheduler, so delayed jobs run) for DOCFLOW_REDIS_URL."""
    from rq import SimpleWorker, Worker

    from docflow.worker import jobs
    from storage.queue.rq import RqQueue

    services = _services(ctx)
    if not isinstance(services.queue, RqQueue):
        raise click.ClickException("set DOCFLOW_REDIS_URL: without it jobs run inside "
                                   "`docflow serve` and no worker is needed")
    jobs.install(services)
    # Everything built so far lives as long as the process: keep it out of the cyclic garbage
    # collector's full passes, which otherwise cost a 10,000-unit fan-out ~0.1 s (forked work
    # horses inherit the frozen heap, and share it copy-on-write).
    gc.freeze()
    requeued = services.documents.requeue_stalled()
    if requeued:
        click.echo(f"requeued {requeued} stalled dispatch(es)")
    services.maintenance.start()  # every 5 minutes, and the blob sweep every 6 hours
    # A forked work horse logs in to an HSM afresh for every job (a PKCS#11 session does not
    # survive fork); without forking, one login serves a whole batch of seals.
    kind = SimpleWorker if no_fork else Worker
    if not no_fork:
        from docflow.signing.validation import start_isolation

        start_isolation()  # each work horse validates through it, not a zygote of its own
    kind([services.queue.queue], connection=services.queue.connection).work(
        burst=burst, with_scheduler=True)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations (SQLite or PostgreSQL)."""
    from storage.db import migrate

    services = _services(ctx)
    pending = migrate.pending(services.engine)
    migrate.upgrade(services.engine)
    click.echo(f"applied {len(pending)} migration(s)" if pending else "already up to date")


@main.group()
def pki() -> None:
    """The internal test PKI."""


@pki.command("init")
@click.option("--force", is_flag=True, help="Replace an existing internal PKI.")
@click.option("--organisation", default="Tổ chức thử nghiệm docflow", show_default=True)
@click.option("--leader", "leader_name", default="Lãnh đạo thử nghiệm", show_default=True)
def pki_init(force: bool, organisation: str, leader_name: str) -> None:
    """Create a clearly labelled internal CA, a leader's and a seal's keys (PKCS#12) and a CRL
    under $DOCFLOW_DATA_DIR/pki/, and add the CA to the trust anchors. For trials only:
    production trusts the Government Cipher Committee's CA and licensed public CAs."""
    from datetime import UTC, datetime

    from docflow.config import data_dir_from, trust_anchor_paths
    from docflow.signing.pki import init_local_pki

    folder = data_dir_from(os.environ) / "pki"
    try:
        made = init_local_pki(folder, trust_anchor_paths(os.environ)[0], force=force,
                              now=datetime.now(UTC), organisation=organisation,
                              leader_name=leader_name)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    if made.trusted_copy is None:
        click.echo(f"not added to the trust anchors (a trust file is configured): add "
                   f"{made.files.ca_cert} yourself")
    else:
        click.echo(f"trusted: {made.trusted_copy}")
    click.echo(f"internal PKI in {folder} (key passphrase in {folder / 'passphrase'}, mode 600):")
    for path in (made.files.ca_cert, made.files.leader_p12, made.files.seal_p12, made.files.crl):
        click.echo(f"  {path.name}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--trust", "trust", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="A trusted CA certificate (PEM/DER) or folder; replaces the configured ones.")
def verify(file: Path, as_json: bool, trust: tuple[Path, ...]) -> None:
    """Validate the signatures of a PDF. Needs no database or server.

    Exit 0 VALID, 1 INVALID, 3 INDETERMINATE, 4 NO_SIGNATURE, 2 usage error.
    """
    import json

    from docflow.config import trust_anchor_paths
    from docflow.signing.trust import TrustAnchorError, load_anchors
    from docflow.signing.validation import validate_pdf

    try:
        anchors = load_anchors(trust or trust_anchor_paths(os.environ))
    except TrustAnchorError as exc:
        raise click.UsageError(str(exc)) from exc
    report = validate_pdf(file.read_bytes(), trust_roots=anchors)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report.to_json(), len(anchors))
    sys.exit(report.exit_code)


@main.command("token-agent")
@click.option("--origin", "origins", multiple=True, required=True,
              help="The docflow site whose pages may use the token, e.g. "
                   "https://docflow.example.gov.vn (repeatable).")
@click.option("--pkcs12", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A key file (.p12/.pfx) instead of a token.")
@click.option("--pkcs11-module", help="The token's PKCS#11 library, e.g. "
                                      "/usr/lib/softhsm/libsofthsm2.so.")
@click.option("--token-label", help="The token, by label.")
@click.option("--key-label", help="The key (and its certificate) on the token, by label.")
@click.option("--chain", "chain", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CA certificate (PEM) of the signer's chain, sent with the certificate.")
@click.option("--pin-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file holding the PIN or passphrase; asked for when absent.")
@click.option("--port", default=8765, show_default=True)
@click.option("--confirm/--no-confirm", default=True, show_default=True,
              help="Ask here, before each batch, whether to sign it.")
def token_agent(origins: tuple[str, ...], pkcs12: Path | None, pkcs11_module: str | None,
                token_label: str | None, key_label: str | None, chain: tuple[Path, ...],
                pin_file: Path | None, port: int, confirm: bool) -> None:
    """Lend a USB token (PKCS#11) or key file to docflow's pages on this computer.

    Listens on 127.0.0.1 only and answers only the sites given with --origin. The token is
    opened once, with one PIN, until the agent stops (Ctrl-C); each batch is signed once the
    person here says yes (--no-confirm: without asking).
    """
    from contextlib import ExitStack

    from cryptography import x509 as pyca_x509
    from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1 as to_asn1

    from docflow.signing.agent import TokenAgent, serve
    from docflow.signing.signers import load_pkcs12, open_pkcs11_signer

    if (pkcs12 is None) == (pkcs11_module is None):
        raise click.UsageError("give either --pkcs12 FILE or --pkcs11-module LIB")
    if pkcs11_module and not (token_label and key_label):
        raise click.UsageError("a token needs --token-label and --key-label")
    secret = (pin_file.read_text(encoding="utf-8").strip() if pin_file
              else click.prompt("PIN" if pkcs11_module else "Passphrase", hide_input=True))
    extra = [to_asn1(pyca_x509.load_pem_x509_certificate(p.read_bytes())) for p in chain]
    with ExitStack() as stack:
        if pkcs12 is not None:
            signer: Any = load_pkcs12(pkcs12, secret.encode(), extra_certs=extra)
        else:
            assert pkcs11_module and token_label and key_label
            signer = stack.enter_context(open_pkcs11_signer(
                pkcs11_module, token_label, secret, key_label, ca_chain=extra))
        def ask(count: int, site: str) -> bool:
            # The page cannot sign behind the person's back: they answer here, at the keyboard.
            return click.confirm(f"Sign {count} document(s) for {site}?", default=False)

        agent = TokenAgent(signer, log=click.echo, confirm=ask if confirm else None)
        server = serve(agent, origins, port=port)
        click.echo(f"token agent for {agent.certificate()['subject']} on "
                   f"http://127.0.0.1:{port}, serving {', '.join(origins)}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped")
        finally:
            server.server_close()


def _print_report(report: dict[str, Any], anchors: int) -> None:
    click.echo(f"{report['verdict']}  ({anchors} trust anchor(s))")
    for reason in report["reasons"]:
        click.echo(f"  {reason['code']}: {reason['message']}")
    for warning in report["warnings"]:
        click.echo(f"  warning {warning['code']}: {warning['message']}")
    for sig in report["signatures"]:
        click.echo(f"- {sig['field']} ({sig['kind']}): {sig['verdict']}; signer {sig['signer']}; "
                   f"signed {sig['signing_time']}; {sig['pades_level'] or 'not PAdES'}; "
                   f"coverage {sig['coverage']}; changes after: {sig['modifications']}")
        for reason in sig["reasons"]:
            click.echo(f"    {reason['code']}: {reason['message']}")


@main.group()
def audit() -> None:
    """The audit log: its key, signed tree heads, exports and their offline check."""


@audit.command("keygen")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def audit_keygen(file: Path) -> None:
    """Make a new log-signing key in FILE (Ed25519, PKCS#8 PEM, mode 600); prints its
    fingerprint, which auditors pin. Never overwrites a key."""
    from docflow.signing.logkey import LogKey

    try:
        key = LogKey.generate(file)
    except FileExistsError as exc:
        raise click.ClickException(f"{file} exists: a log key is never overwritten") from exc
    click.echo(f"log key written to {file}; fingerprint (SHA-256 of the public key): "
               f"{key.key_id.hex()}")


@audit.command("key")
@click.pass_context
def audit_key(ctx: click.Context) -> None:
    """Print the log's public key (PEM) and its fingerprint."""
    services = _services(ctx)
    pem = services.audit.public_key_pem
    from docflow.signing.logkey import key_id_of

    click.echo(pem.decode(), nl=False)
    click.echo(f"fingerprint: {key_id_of(pem).hex()}")


@audit.command("tree-head")
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the head (JSON) to this file, to hold and check exports by.")
@click.pass_context
def audit_tree_head(ctx: click.Context, output: Path | None) -> None:
    """Sequence what is committed and sign a tree head now."""
    import json

    services = _services(ctx)
    head = services.audit.issue_tree_head(force=True)
    text = json.dumps(head.as_json(), indent=2)
    if output is not None:
        output.write_text(text + "\n")
    click.echo(text)


def _day(value: datetime | None, timezone: str, *, end: bool) -> datetime | None:
    """A date or time given on the command line, in the organisation's time zone; a bare
    --to date counts its whole day."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    if value is None:
        return None
    bare = value.hour == value.minute == value.second == 0
    local = value.replace(tzinfo=ZoneInfo(timezone))
    return local + timedelta(days=1) if end and bare else local


def _held_heads(files: tuple[Path, ...]) -> list[Any]:
    import json

    from docflow.domain.audit import TreeHead

    heads = []
    for file in files:
        try:
            value = json.loads(file.read_text())
            for item in value if isinstance(value, list) else [value]:
                heads.append(TreeHead.from_json(item))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise click.UsageError(f"{file} is not a tree head (JSON): {exc}") from exc
    return heads


DATES = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"])


@audit.command("export")
@click.option("--document", "document_id", help="One document's whole trail.")
@click.option("--unit", "unit_code", help="The events of a unit and the units below it.")
@click.option("--from", "since", type=DATES, help="Start of a time range (with --to).")
@click.option("--to", "until", type=DATES, help="End of the range; a bare date is inclusive.")
@click.option("--known-sth", "known", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A tree head you hold (JSON): the bundle proves the log extends it.")
@click.option("-o", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The bundle to write (.zip).")
@click.pass_context
def audit_export(ctx: click.Context, document_id: str | None, unit_code: str | None,
                 since: datetime | None, until: datetime | None, known: tuple[Path, ...],
                 output: Path) -> None:
    """Write an audit bundle: events, signed tree heads, proofs and the log's public key,
    for `docflow audit verify` to check with no access to docflow."""
    from docflow import auditbundle
    from docflow.services.audit import Selection

    services = _services(ctx)
    tz = services.settings.timezone
    selection = Selection(document_id=document_id, unit_code=unit_code,
                          since=_day(since, tz, end=False), until=_day(until, tz, end=True))
    try:
        selection.check()
    except Invalid as exc:
        raise click.UsageError(exc.message) from exc
    try:
        bundle = services.audit.export(selection, known=_held_heads(known), origin=CLI)
    except DomainError as exc:
        raise _fail(exc) from exc
    auditbundle.write(bundle, output)
    click.echo(f"{len(bundle.records)} event(s), tree of {bundle.head.tree_size} leaves, "
               f"written to {output}")


@audit.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--key", "key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The log's public key (PEM) you trust.")
@click.option("--fingerprint", "fingerprints", multiple=True,
              help="A pinned SHA-256 fingerprint of the log's key (hex), instead of --key.")
@click.option("--known-sth", "known", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A tree head you hold (JSON): the log must extend it.")
@click.option("--tsa-trust", "tsa_trust", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="A CA certificate (PEM/DER) or folder whose timestamp authorities you "
                   "trust for the heads' times.")
def audit_verify(bundle: Path, as_json: bool, key: Path | None, fingerprints: tuple[str, ...],
                 known: tuple[Path, ...], tsa_trust: tuple[Path, ...]) -> None:
    """Check an audit bundle offline: every event in the signed log, chains unbroken, heads
    signed by the trusted key, the log consistent with the heads you hold, the heads'
    timestamps signed by their TSA (one you trust, with --tsa-trust).

    Exit 0 clean, 1 problems found, 2 usage error (or not a bundle).
    """
    import json

    from cryptography.hazmat.primitives.serialization import Encoding

    from docflow import auditbundle
    from docflow.signing.trust import TrustAnchorError, load_anchors

    key_pem = key.read_bytes() if key is not None else None
    try:
        tsa_anchors = [c.public_bytes(Encoding.DER) for c in load_anchors(tsa_trust)]
    except TrustAnchorError as exc:
        raise click.UsageError(str(exc)) from exc
    if tsa_trust and not tsa_anchors:
        raise click.UsageError("no certificate found in the --tsa-trust paths")
    try:
        report = auditbundle.verify_bundle(bundle, key_pem=key_pem, fingerprints=fingerprints,
                                           known=_held_heads(known), tsa_anchors=tsa_anchors)
    except (auditbundle.BundleError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        verdict = "CLEAN" if report.clean else f"{len(report.problems)} PROBLEM(S)"
        click.echo(f"{verdict}: {report.events} event(s), tree of {report.tree_size} leaves, "
                   f"key {report.key_fingerprint} "
                   f"({report.trusted_by or 'NOT TRUSTED: only the key inside the bundle'})")
        for stamp in report.timestamps:
            trust = {True: "trusted", False: "NOT TRUSTED",
                     None: "its CA not checked: give --tsa-trust"}[stamp["trusted"]]
            click.echo(f"  head of size {stamp['tree_size']} timestamped {stamp['time']} by "
                       f"{stamp['tsa']} ({trust})")
        for problem in report.problems:
            where = f" at leaf {problem.leaf}" if problem.leaf is not None else ""
            click.echo(f"  {problem.code}{where}: {problem.detail}")
    sys.exit(0 if report.clean else 1)


@audit.group("witness")
def audit_witness() -> None:
    """Keep child units' tree heads here; send ours to the parent's docflow."""


@audit_witness.command("add")
@click.argument("unit_code")
@click.argument("key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def audit_witness_add(ctx: click.Context, unit_code: str, key: Path) -> None:
    """Witness the log of UNIT_CODE's own docflow, whose public key (PEM) is KEY (from its
    `docflow audit key`, brought over by hand: the key is what the heads are trusted by)."""
    services = _services(ctx)
    try:
        log_id = services.witness.add_log(unit_code, key.read_bytes(), CLI)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"witnessing the log {log_id.hex()} of {unit_code}")


@audit_witness.command("send")
@click.pass_context
def audit_witness_send(ctx: click.Context) -> None:
    """Hand the parent's witness (DOCFLOW_AUDIT_WITNESS_URL) our newest head now."""
    from docflow.witness import WitnessError

    services = _services(ctx)
    if not services.witness.sends:
        raise click.ClickException("set DOCFLOW_AUDIT_WITNESS_URL to the parent unit's "
                                   "docflow audit API")
    try:
        verdict = services.witness.send()
    except WitnessError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"the witness holds our head: {verdict}")


@main.group()
def blobs() -> None:
    """The blob store."""


@blobs.command("sweep")
@click.option("--grace-minutes", default=60, show_default=True, type=click.IntRange(0),
              help="Spare blobs younger than this: an upload writes its blob before its row.")
@click.pass_context
def blobs_sweep(ctx: click.Context, grace_minutes: int) -> None:
    """Delete stored files that no revision points to."""
    from datetime import timedelta

    removed = _services(ctx).documents.sweep_orphan_blobs(timedelta(minutes=grace_minutes))
    click.echo(f"removed {len(removed)} orphan blob(s)")


@main.group()
def workflows() -> None:
    """The workflow definitions (data in workflows/definitions, checked when loaded)."""


@workflows.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead.")
def workflows_list(as_json: bool) -> None:
    """One line per definition, newest version: NAME<TAB>VERSION<TAB>title."""
    import json

    registry = _flows()
    newest = registry.newest()
    if as_json:
        click.echo(json.dumps([{"name": d.name, "version": d.version, "title": d.title,
                                "versions": registry.versions(d.name),
                                **({"variant_of": d.variant_of,
                                    "applies_to": {"units": sorted(d.applies_to_units),
                                                   "levels": sorted(d.applies_to_levels)}}
                                   if d.variant_of else {})} for d in newest],
                              ensure_ascii=False, indent=2))
        return
    for d in newest:
        click.echo(f"{d.name}\t{d.version}\t{d.title}")


def _flows(folder: Path | None = None) -> workflows_engine.Registry:
    """The shipped definitions and the organisation's (DOCFLOW_WORKFLOWS_DIR, or `folder`);
    a bad file is a usage error naming it and every fault."""
    from docflow.bootstrap import organisation_flows

    try:
        settings = Settings.from_env(os.environ)
        if folder is not None:
            settings = replace(settings, workflows_dir=folder)
        return organisation_flows(settings)
    except (workflows_engine.DefinitionError, ConfigError) as exc:
        raise click.UsageError(str(exc)) from exc
    except Invalid as exc:
        raise click.UsageError(f"{exc}: {'; '.join(map(str, exc.errors))}") from exc


@workflows.command("check")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def workflows_check(folder: Path) -> None:
    """Validate an organisation's definitions (a folder of JSON files, as DOCFLOW_WORKFLOWS_DIR
    would hold) against the shipped ones, without installing them; exit 2 on a fault."""
    registry = _flows(folder)
    for d in registry.newest():
        if d.variant_of:
            applies = sorted(d.applies_to_units) + sorted(d.applies_to_levels)
            click.echo(f"{d.name}\t{d.version}\tvariant of {d.variant_of} for "
                       f"{', '.join(applies)}")
    click.echo("ok")


@workflows.command("show")
@click.argument("name")
@click.option("--version", "version", type=click.IntRange(1), default=None,
              help="A version other than the newest.")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "json"]), default="mermaid",
              show_default=True)
def workflows_show(name: str, version: int | None, fmt: str) -> None:
    """A definition as a Mermaid state diagram (stateDiagram-v2 source only), or as JSON."""
    import json

    import workflows as engine

    registry = _flows()
    try:
        definition = registry.get(name, version)
    except engine.DefinitionError as exc:
        raise click.UsageError(f"{exc}; known: {', '.join(registry.names())}") from exc
    if fmt == "mermaid":
        click.echo(engine.to_mermaid(definition), nl=False)
        return
    click.echo(json.dumps({
        "name": definition.name, "version": definition.version, "title": definition.title,
        "initial": definition.initial, "states": list(definition.states),
        "terminal": sorted(definition.terminal),
        "transitions": [{"trigger": t.trigger, "from": t.source, "to": t.target,
                         "relation": t.guard.relation, "roles": sorted(t.guard.roles),
                         **({"levels": sorted(t.guard.levels)} if t.guard.levels else {}),
                         **({"mode": t.mode} if t.mode != "single" else {}),
                         **({"quorum": t.quorum} if t.quorum is not None else {}),
                         **({"quorum": "given"} if t.quorum_given else {}),
                         **({"needs_reason": True} if t.needs_reason else {}),
                         "title": t.title} for t in definition.transitions]},
        ensure_ascii=False, indent=2))


@main.group()
def org() -> None:
    """The organisation tree."""


@org.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False,
                                                                   path_type=Path))
@click.pass_context
def org_import(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Load units and users from YAML or CSV files, all or nothing.

    Units CSV: code,name,abbreviation,level,parent_code,valid_from,successor_code,family.
    Users CSV: username,full_name,unit_code,role[,email]. YAML: lists under levels, units,
    users, terms.
    Imported accounts have no password until `docflow user passwd` sets one.
    """
    from docflow.orgfile import read_org_files

    services = _services(ctx, upgrade_embedded=True)
    try:
        data = read_org_files(list(files))
        total = len(data.units) + len(data.users)
        with click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
            last = [0]

            def progress(done: int, _total: int) -> None:
                bar.update(done - last[0])
                last[0] = done

            report = services.org.import_org(data, CLI, progress)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"units: {report.units_created} created, {report.units_updated} updated; "
               f"levels: {report.levels_created} created; users: {report.users_created} "
               f"created; roles: {report.roles_granted}")


@org.command("merge")
@click.argument("codes", nargs=-1, required=True)
@click.option("--into", "into", required=True, help="The successor unit's code.")
@click.option("--on", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day the merger takes effect (default: today).")
@click.pass_context
def org_merge(ctx: click.Context, codes: tuple[str, ...], into: str,
              on: datetime | None) -> None:
    """Merge units into a successor (as in the 2025 reform), in one transaction: the merged
    units keep their history under their own names, the successor takes over their people,
    sub-units, open entries, unsigned drafts and owed reports."""
    from zoneinfo import ZoneInfo

    services = _services(ctx, upgrade_embedded=True)
    day = on.date() if on else datetime.now(ZoneInfo(services.settings.timezone)).date()
    try:
        report = services.mergers.merge(list(codes), into, day, CLI)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"merged {', '.join(report.merged)} into {report.into} from {day.isoformat()}: "
               f"{len(report.children_moved)} sub-unit(s) moved, {report.roles_copied} "
               f"role(s) carried over, {len(report.drafts_moved)} draft(s) and "
               f"{report.reports_moved} owed report(s) taken over")


@main.group()
def user() -> None:
    """Accounts."""


@user.command("add")
@click.argument("username")
@click.option("--full-name", default="", help="Defaults to the username.")
@click.option("--unit", "unit_code", required=True, help="Unit code.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password", default=None, help="Prompted for when omitted; '-' generates one.")
@click.pass_context
def user_add(ctx: click.Context, username: str, full_name: str, unit_code: str, role: str,
             password: str | None) -> None:
    """Create an account with one role in one unit."""
    services = _services(ctx, upgrade_embedded=True)
    password, generated = _password(password)
    try:
        services.identity.add_user(username, full_name, password, [(unit_code, Role(role))], CLI)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"created {username}" + (f" with password {password}" if generated else ""))


@user.command("grant")
@click.argument("username")
@click.option("--unit", "unit_code", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.pass_context
def user_grant(ctx: click.Context, username: str, unit_code: str, role: str) -> None:
    """Give an account a role in a unit."""
    try:
        _services(ctx).identity.grant(username, unit_code, Role(role), CLI)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"{username} is {role} in {unit_code}")


@user.command("passwd")
@click.argument("username")
@click.option("--password", default=None, help="Prompted for when omitted; '-' generates one.")
@click.pass_context
def user_passwd(ctx: click.Context, username: str, password: str | None) -> None:
    """Set an account's password."""
    password, generated = _password(password)
    try:
        _services(ctx).identity.set_password(username, password, CLI)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo("password set" + (f": {password}" if generated else ""))


@main.command()
@click.option("--communes", default=100, show_default=True, type=click.IntRange(1, 999))
@click.option("--reset", is_flag=True, help="Drop all data in the configured store first.")
@click.pass_context
def demo(ctx: click.Context, communes: int, reset: bool) -> None:
    """Create a province with its communes and run one directive's round trip."""
    from docflow import demo as demo_module
    from storage.db import migrate

    services = _services(ctx, upgrade_embedded=True)
    if reset:
        demo_module.reset(services)
        click.echo("reset: all data dropped")
    if pending := migrate.pending(services.engine):
        raise click.ClickException(f"migrations pending ({', '.join(pending)}): run "
                                   "`docflow db upgrade` first")
    result = demo_module.run_demo(services, communes=communes, say=click.echo)
    click.echo("")
    click.echo(f"Directive {result.symbol} sent to {result.recipients} communes "
               f"in {result.seconds:.1f} s")
    for status in ("delivered", "registered", "done", "returned"):
        click.echo(f"  {status:<11} {result.counts.get(status, 0):>4}")
    click.echo("")
    click.echo("Logins (every account's password is in "
               f"{result.logins_file}, readable only by you):")
    for username, password, what in result.logins:
        click.echo(f"  {username:<16} {password}   {what}")
    click.echo("")
    click.echo(f"The issued, signed and sealed PDF: {result.issued_pdf}")
    click.echo(f"  check it: docflow verify {result.issued_pdf}")
    click.echo("Then: docflow serve, and open http://127.0.0.1:8000/")


if __name__ == "__main__":
    main()
