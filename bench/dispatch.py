"""Benchmark: dispatch one directive to 10,000 units on PostgreSQL.

Times `DocumentService.fan_out`, the dispatch job that creates every incoming entry (receipt)
and its audit event in one transaction, against the naive way: one ORM insert of a receipt and
its audit event, and one commit, per recipient.

    .venv/bin/python bench/dispatch.py            # 10,000 units, naive on all of them
    .venv/bin/python bench/dispatch.py --small    # 1,000 units, naive on 300 (extrapolated)

The bench makes its own database `docflow_bench_<random>` on the server, migrates it, seeds a
province and its communes through the org import, issues a fresh directive for every timed
repetition (outgoing v2: the leader's signature, the number and the seal, with keys of a
throwaway internal CA), and drops the database at the end, also when something fails.
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import DeclarativeBase, Session
from support import SERVER, RecordingQueue, scratch_database, services_on

from docflow.bootstrap import Services
from docflow.demo import directive_pdf
from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.documents import DraftSpec, RevisionKind, Urgency
from docflow.domain.org import Actor, Level
from docflow.domain.routing import DispatchTarget
from docflow.domain.signatures import SignatureKind
from docflow.services.documents import FAN_OUT_JOB, RECEIPT
from docflow.services.org import OrgImport, UnitRow, UserRow
from docflow.signing.appearance import demo_seal_png, demo_signature_png
from docflow.signing.keys import PadesKey
from docflow.signing.pki import init_pki
from docflow.signing.signers import load_pkcs12
from storage.db import repositories
from storage.db import tables as t
from storage.db.repositories import SqlAudit

TARGET_SECONDS = 0.5
FULL_UNITS = 10_000
ORIGIN = Origin(via="cli")
PROVINCE = "T48"
PASSPHRASE = b"bench-passphrase"


# --- the naive way: ORM classes mapped onto the very same tables ----------------------------


class NaiveBase(DeclarativeBase):
    pass


class NaiveReceipt(NaiveBase):
    __table__ = t.receipts


# --- plumbing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    officer: Actor
    leader: Actor
    clerk: Actor


@dataclass(frozen=True)
class Keys:
    """The leader's key and the province's seal, under a throwaway internal CA."""

    leader: PadesKey
    seal: PadesKey


def make_keys(folder: Path) -> Keys:
    files = init_pki(folder, passphrase=PASSPHRASE, now=datetime.now(UTC))
    return Keys(PadesKey(load_pkcs12(files.leader_p12, PASSPHRASE),
                         signature_image=demo_signature_png()),
                PadesKey(load_pkcs12(files.seal_p12, PASSPHRASE), seal_image=demo_seal_png()))


@dataclass
class Run:
    """One timed fan_out: its seconds, and the seconds of the repository calls inside it."""

    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


# The repository calls of fan_out worth seeing apart; the rest is service code, the reads of the
# dispatch, document and units, and the commit.
PHASES: tuple[tuple[str, type, str], ...] = (
    ("units_holding", repositories.SqlReceipts, "units_holding"),
    ("receipts add_many", repositories.SqlReceipts, "add_many"),
    ("audit append_many", repositories.SqlAudit, "append_many"),
)


@contextmanager
def timing_phases() -> Iterator[dict[str, float]]:
    """Add up the seconds of the PHASES calls (wrapped on their classes, restored after)."""
    spent: dict[str, float] = {}

    def timed(original: Callable[..., object], label: str) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started
        return wrapper

    originals = [(cls, name, getattr(cls, name)) for _, cls, name in PHASES]
    for (label, _, _), (cls, name, original) in zip(PHASES, originals, strict=True):
        setattr(cls, name, timed(original, label))
    try:
        yield spent
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


@dataclass(frozen=True)
class Pending:
    """An issued directive whose dispatch job has not run yet."""

    document_id: str
    dispatch_id: str


def seed(services: Services, communes: int) -> tuple[Staff, list[str]]:
    """A province with its officer, leader and clerk, and `communes` communes under it."""
    units = [UnitRow("bench", PROVINCE, "Hội LHPN tỉnh (bench)", "HPN", "province", "")]
    units += [UnitRow("bench", f"{PROVINCE}.X{i:05d}", f"Hội LHPN xã {i}", "HPNX", "commune",
                      PROVINCE) for i in range(1, communes + 1)]
    users = [UserRow("bench", "tinh.chuyenvien", "Chuyên viên", PROVINCE, "officer"),
             UserRow("bench", "tinh.lanhdao", "Lãnh đạo", PROVINCE, "leader"),
             UserRow("bench", "tinh.vanthu", "Văn thư", PROVINCE, "clerk")]
    levels = [Level("province", "Tỉnh", 1), Level("commune", "Xã, phường", 2)]
    services.org.import_org(OrgImport(levels=levels, units=units, users=users), ORIGIN)

    def actor(username: str) -> Actor:
        found = services.identity.actor_by_username(username)
        assert found is not None, username
        return found

    staff = Staff(actor("tinh.chuyenvien"), actor("tinh.lanhdao"), actor("tinh.vanthu"))
    return staff, [u.code for u in units[1:]]


def issue_and_dispatch(services: Services, queue: RecordingQueue, staff: Staff, keys: Keys,
                       n: int) -> Pending:
    """Draft, attach, submit, pass the review, approve, sign (leader), number, seal (which
    issues it) and dispatch to every commune; the job is left."""
    docs = services.documents
    abstract = f"Chỉ thị số {n} về triển khai thực hiện (bench)"
    doc = docs.draft(staff.officer, DraftSpec(doc_type="CT", abstract=abstract,
                                              urgency=Urgency.URGENT), ORIGIN)
    pdf = directive_pdf("CHI THI", [abstract])
    docs.attach(staff.officer, doc.id, RevisionKind.MAIN, "chi-thi.pdf", io.BytesIO(pdf),
                ORIGIN)
    docs.submit(staff.officer, doc.id, ORIGIN)
    docs.pass_review(staff.leader, doc.id, ORIGIN)
    docs.approve(staff.leader, doc.id, ORIGIN)
    services.signatures.sign(staff.leader, doc.id, SignatureKind.LEADER, keys.leader, ORIGIN,
                             position="CHỦ TỊCH")
    docs.number(staff.clerk, doc.id, ORIGIN)
    services.signatures.sign(staff.clerk, doc.id, SignatureKind.SEAL, keys.seal, ORIGIN)
    dispatch = docs.dispatch(staff.clerk, doc.id,
                             DispatchTarget(level="commune", under=PROVINCE), ORIGIN)
    assert (FAN_OUT_JOB, (dispatch.id,)) in queue.jobs
    return Pending(doc.id, dispatch.id)


def time_fan_out(services: Services, queue: RecordingQueue, staff: Staff, keys: Keys,
                 units: int, repeat: int) -> list[Run]:
    """One `fan_out` run per repetition, each on a fresh directive; checks what it wrote."""
    runs: list[Run] = []
    for n in range(1, repeat + 1):
        pending = issue_and_dispatch(services, queue, staff, keys, n)
        with timing_phases() as spent:
            started = time.perf_counter()
            created = services.documents.fan_out(pending.dispatch_id)
            elapsed = time.perf_counter() - started
        if created != units:
            raise RuntimeError(f"fan_out created {created} entries, expected {units}")
        counts, rows = services.queries.recipients(staff.clerk, pending.document_id)
        if sum(counts.values()) != units or len(rows) != units:
            raise RuntimeError(f"recipients() reads {len(rows)} entries, expected {units}")
        with services.engine.connect() as conn:
            events = conn.execute(select(func.count()).select_from(t.audit_events).where(
                t.audit_events.c.document_id == pending.document_id,
                t.audit_events.c.action == Action.RECEIPT_DELIVER.value)).scalar_one()
        if events != units:
            raise RuntimeError(f"{events} delivery events written, expected {units}")
        runs.append(Run(elapsed, dict(spent)))
        print(f"  fan_out #{n}: {elapsed:.3f} s for {created:,} entries + {events:,} events")
    return runs


def time_naive(services: Services, queue: RecordingQueue, staff: Staff, keys: Keys,
               codes: Sequence[str]) -> float:
    """Seconds for one ORM insert of a receipt and its audit event, and a commit, per unit."""
    pending = issue_and_dispatch(services, queue, staff, keys, 0)
    with services.engine.connect() as conn:
        symbol = conn.execute(select(t.documents.c.symbol).where(
            t.documents.c.id == pending.document_id)).scalar_one()
    status = RECEIPT.initial
    started = time.perf_counter()
    with Session(services.engine) as session:
        for code in codes:
            now = datetime.now(UTC)
            receipt_id = str(uuid.uuid4())
            session.add(NaiveReceipt(
                id=receipt_id, dispatch_id=pending.dispatch_id, document_id=pending.document_id,
                unit_code=code, status=status, delivered_at=now, updated_at=now))
            session.flush()
            # The event linked into the document's chain as every writer does it, one at a time.
            SqlAudit(session.connection()).append(AuditEvent(
                at=now, action=Action.RECEIPT_DELIVER, object_type="receipt",
                object_id=receipt_id, actor_id=None, unit_code=code,
                document_id=pending.document_id, origin=Origin(via="job"),
                details={"dispatch": pending.dispatch_id, "symbol": symbol}))
            session.commit()
    elapsed = time.perf_counter() - started
    with services.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.receipts).where(
            t.receipts.c.document_id == pending.document_id)).scalar_one()
    if stored != len(codes):
        raise RuntimeError(f"the naive run stored {stored} entries, expected {len(codes)}")
    return elapsed


# --- the run --------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true",
                        help="1,000 units, naive on 300 recipients: a quick check")
    parser.add_argument("--units", type=int, help="communes to dispatch to (default 10,000)")
    parser.add_argument("--naive", type=int,
                        help="recipients for the naive run (default: all; 300 with --small); "
                             "fewer than --units are extrapolated per recipient")
    parser.add_argument("--repeat", type=int, default=5, help="timed fan_out runs (median)")
    parser.add_argument("--server", default=SERVER,
                        help=f"PostgreSQL server, no database (default {SERVER})")
    args = parser.parse_args(argv)
    if args.units is None:
        args.units = 1_000 if args.small else FULL_UNITS
    if args.naive is None:
        args.naive = min(300, args.units) if args.small else args.units
    args.naive = max(0, min(args.naive, args.units))
    if args.units < 1 or args.repeat < 1:
        parser.error("--units and --repeat must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    run_started = time.perf_counter()
    with scratch_database(args.server) as database, \
            tempfile.TemporaryDirectory(prefix="docflow-bench-") as tmp, \
            tempfile.TemporaryDirectory(prefix="docflow-bench-pki-") as pki:
        url = f"{args.server}/{database}"
        print(f"database {database}; {args.units:,} units, {args.repeat} fan_out runs, "
              f"naive on {args.naive:,}")
        keys = make_keys(Path(pki) / "pki")
        queue = RecordingQueue()
        services = services_on(url, Path(tmp), queue)
        try:
            started = time.perf_counter()
            staff, codes = seed(services, args.units)
            print(f"seeded {len(codes):,} communes in {time.perf_counter() - started:.1f} s")
            # `docflow worker` freezes its start-up heap so that full collections during a
            # 10,000-row fan-out do not rescan every long-lived object; measure it the same way.
            gc.freeze()
            runs = time_fan_out(services, queue, staff, keys, args.units, args.repeat)
            naive = (time_naive(services, queue, staff, keys, codes[:args.naive])
                     if args.naive else None)
        finally:
            services.close()
    return report(args, runs, naive, time.perf_counter() - run_started)


def report(args: argparse.Namespace, runs: Sequence[Run], naive: float | None,
           total: float) -> int:
    seconds = [r.seconds for r in runs]
    median = statistics.median(seconds)
    rows = 2 * args.units
    print()
    print(f"fan_out, {args.units:,} recipients ({rows:,} rows: entries + audit events), "
          f"{len(runs)} runs")
    print(f"  median {median:.3f} s   min {min(seconds):.3f} s   max {max(seconds):.3f} s")
    print(f"  {args.units / median:,.0f} recipients/s   {rows / median:,.0f} rows/s")
    parts = {label: statistics.median(r.phases.get(label, 0.0) for r in runs)
             for label, _, _ in PHASES}
    rest = statistics.median(r.seconds - sum(r.phases.values()) for r in runs)
    print("  inside (medians): " + "   ".join(f"{k} {v:.3f} s" for k, v in parts.items())
          + f"   rest {rest:.3f} s")
    if naive is not None:
        per = naive / args.naive
        whole = per * args.units
        how = ("measured" if args.naive == args.units
               else f"extrapolated from {args.naive:,} recipients")
        print(f"naive ORM, one insert + commit per recipient: {naive:.2f} s for "
              f"{args.naive:,} ({per * 1000:.2f} ms/recipient)")
        print(f"  {whole:.2f} s for {args.units:,} ({how})")
        print(f"  ratio naive / fan_out: {whole / median:,.0f}x")
    verdict = "PASS" if median <= TARGET_SECONDS else "FAIL"
    full = args.units >= FULL_UNITS
    print(f"{verdict}: median {median:.3f} s vs target {TARGET_SECONDS} s for "
          f"{FULL_UNITS:,} units" + ("" if full else
                                     f" (this run: {args.units:,} units; informational only)"))
    print(f"total run {total:.1f} s")
    # Only a full-size run fails on time; --small checks that everything works and is correct.
    return 1 if full and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
