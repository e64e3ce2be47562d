"""Benchmark: the audit log (issue 5) on PostgreSQL.

- append: events written in batches through `SqlAudit.append_many` (each linked into its
  document's hash chain under the chain heads' row locks) and made leaves by the sequencer
  (`AuditService.sequence`: leaf indexes, the tree's new perfect subtrees, the log's head).
  Measured as production runs it, two writer processes appending while the sequencer runs
  (the rate counts an event once it is a leaf), and with one writer then the sequencer.
  Target ≥ 20,000 events/s. Baseline, in the same run: the same rows written as the trail was
  before issue 5 (one COPY of the bare events, no chain, no tree).
- one document's trail among all the events (`records` by document, as the auditor's query
  runs it, in its own transaction): p50/p95 over random documents; target p95 ≤ 5 ms.
- an inclusion proof from the stored subtrees (`AuditService._proof`), p50/p95 over random
  leaves; target ≤ 5 ms. Baseline: the RFC's recursion over the leaf hashes held in memory.

    .venv/bin/python bench/audit.py              # 10,000,000 events (about 15 minutes)
    .venv/bin/python bench/audit.py --small      # 200,000 events, for CI
    .venv/bin/python bench/audit.py --events N

The bench makes its own database `docflow_bench_<random>` and drops it at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.pool import NullPool
from support import SERVER, RecordingQueue, scratch_database, services_on

from docflow.bootstrap import Services
from docflow.domain import merkle
from docflow.domain.audit import Action, AuditEvent, AuditFilter, Origin
from storage.db.engine import make_engine
from storage.db.uow import SqlUnitOfWorkFactory

ORIGIN = Origin(client_addr="10.0.0.7", user_agent="Mozilla/5.0 (bench)", via="web")
TARGET_EVENTS_PER_S = 20_000.0
TARGET_MS = 5.0
BATCH = 2_000
EVENTS_PER_DOCUMENT = 20
ACTIONS = [Action.DOCUMENT_VIEW, Action.DOCUMENT_DOWNLOAD, Action.RECEIPT_REGISTER,
           Action.RECEIPT_ASSIGN, Action.DOCUMENT_SIGN]


def events_for(documents: Sequence[str], actors: Sequence[str], at: datetime) -> list[AuditEvent]:
    """A batch: every document gets its share of events, interleaved as real traffic is."""
    made = []
    for i in range(EVENTS_PER_DOCUMENT):
        for n, doc in enumerate(documents):
            made.append(AuditEvent(
                at=at, action=ACTIONS[(i + n) % len(ACTIONS)], object_type="document",
                object_id=doc, actor_id=actors[(i * 7 + n) % len(actors)],
                unit_code=f"T48.X{n % 100:02d}", document_id=doc, origin=ORIGIN,
                details={"revision": doc, "note": "Xem văn bản đến", "n": i}))
    return made


def append(svc: Services, events: list[AuditEvent]) -> None:
    with SqlUnitOfWorkFactory(svc.engine)() as uow:
        uow.audit.append_many(events)
        uow.commit()


def _writer(url: str, batches: int, seed: int, start: Any) -> None:
    """One writing process (a web worker): its own connection, its own documents."""
    engine = make_engine(url, poolclass=NullPool)
    uow = SqlUnitOfWorkFactory(engine)
    rng = random.Random(seed)
    actors = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(500)]
    made = [events_for([str(uuid.UUID(int=rng.getrandbits(128)))
                        for _ in range(BATCH // EVENTS_PER_DOCUMENT)], actors,
                       datetime.now(UTC)) for _ in range(batches)]
    start.wait()
    for events in made:
        with uow() as work:
            work.audit.append_many(events)
            work.commit()
    engine.dispose()


def concurrent(svc: Services, url: str, events: int, writers: int = 2) -> float:
    """Events/s with `writers` processes appending while the sequencer runs here, as web
    processes and a worker do: the clock stops when every event is a leaf."""
    context = multiprocessing.get_context("fork")
    start = context.Event()
    per_writer = events // BATCH // writers
    procs = [context.Process(target=_writer, args=(url, per_writer, seed, start))
             for seed in range(writers)]
    for proc in procs:
        proc.start()
    svc.audit.sequence()  # the queue starts empty: what follows is the writers' alone
    time.sleep(1.0)  # the writers build their events first; only the writing is timed
    started = time.perf_counter()
    start.set()
    added = 0
    while any(proc.is_alive() for proc in procs):
        added += svc.audit.sequence()
        time.sleep(0.05)
    added += svc.audit.sequence()
    elapsed = time.perf_counter() - started
    assert all(proc.exitcode == 0 for proc in procs)
    assert added == per_writer * BATCH * writers, added
    return added / elapsed


def baseline_append(svc: Services, events: list[AuditEvent]) -> None:
    """The trail as it was written before issue 5: the bare rows, one COPY."""
    from storage.db.repositories import SqlAudit, _utc

    with SqlUnitOfWorkFactory(svc.engine)() as uow:
        repo = uow.audit
        assert isinstance(repo, SqlAudit)
        from storage.db import tables as t

        plain = t.metadata.tables["audit_events_plain"]
        repo._bulk_insert(plain, ({
            "at": _utc(e.at), "action": e.action.value, "object_type": e.object_type,
            "object_id": e.object_id, "actor_id": e.actor_id, "unit_code": e.unit_code,
            "document_id": e.document_id, "via": e.origin.via,
            "client_addr": e.origin.client_addr, "user_agent": e.origin.user_agent,
            "details": e.details} for e in events), len(events))
        uow.commit()


def plain_table(svc: Services) -> None:
    """`audit_events_plain`: audit_events as it was before issue 5, indexes included."""
    from sqlalchemy import Column, Table

    from storage.db import tables as t

    with svc.engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE audit_events_plain (id bigserial PRIMARY KEY, at timestamptz NOT "
            "NULL, action varchar(40) NOT NULL, object_type varchar(32) NOT NULL, object_id "
            "varchar(64) NOT NULL, actor_id uuid, unit_code varchar(13), document_id uuid, "
            "via varchar(8) NOT NULL, client_addr varchar(64), user_agent varchar(300), "
            "details json NOT NULL)"))
        for cols in ("document_id, id", "object_type, object_id, id", "actor_id, id"):
            conn.execute(text(f"CREATE INDEX ON audit_events_plain ({cols})"))
    source = t.audit_events
    Table("audit_events_plain", t.metadata,
          *(Column(c.name, c.type) for c in source.columns
            if c.name not in ("authority", "chain", "seq", "prev", "hash")))


def leaf_hashes(leaves: list[int], svc: Services) -> list[bytes]:
    with SqlUnitOfWorkFactory(svc.engine)() as uow:
        stored = uow.audit_tree.nodes([(0, leaf) for leaf in leaves])
    return [stored[(0, leaf)] for leaf in leaves]


def timed(fn: object, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(svc: Services, url: str, total: int, measured: int, samples: int
        ) -> dict[str, float]:
    rng = random.Random(7)
    actors = [str(uuid.uuid4()) for _ in range(500)]
    per_batch = BATCH // EVENTS_PER_DOCUMENT
    now = datetime.now(UTC)
    plain_table(svc)

    # 1. Append with the tree maintained, and the baseline, on the same batches.
    batches = [events_for([str(uuid.uuid4()) for _ in range(per_batch)], actors, now)
               for _ in range(measured // BATCH)]
    ours_append = sum(timed(append, svc, b) for b in batches)
    ours_sequence = timed(svc.audit.sequence)
    base = sum(timed(baseline_append, svc, b) for b in batches)
    n = len(batches) * BATCH
    figures = {"append_events": n, "append_s": ours_append, "sequence_s": ours_sequence,
               "rate": n / (ours_append + ours_sequence), "baseline_rate": n / base,
               "append_only_rate": n / ours_append,
               "concurrent_rate": concurrent(svc, url, measured)}

    # 2. Fill the log up to `total` events, sequencing as the job would.
    documents: list[str] = []
    started = time.perf_counter()
    written = n * 2
    while written < total:
        docs = [str(uuid.uuid4()) for _ in range(per_batch)]
        documents += docs[:2]
        append(svc, events_for(docs, actors, now))
        written += BATCH
        if written % 100_000 == 0:
            svc.audit.sequence()
            if written % 1_000_000 == 0:
                print(f"  {written:,} events ({time.perf_counter() - started:.0f} s)",
                      flush=True)
    svc.audit.sequence()
    figures["fill_s"] = time.perf_counter() - started
    # What autovacuum does to a table this size in production: statistics, hint bits and the
    # visibility map (else the first read of each page writes it).
    with svc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        size = conn.execute(text("SELECT tree_size FROM audit_log")).scalar_one()
    figures["tree_size"] = size

    # 3. One document's trail, as the auditor's query reads it (own transaction each).
    trail_ms = []
    for doc in rng.sample(documents, min(samples, len(documents))):
        started = time.perf_counter()
        with SqlUnitOfWorkFactory(svc.engine)() as uow:
            found = uow.audit.records(AuditFilter(scope=None, document_id=doc), after=None,
                                      limit=1000)
        trail_ms.append((time.perf_counter() - started) * 1000)
        assert len(found) == EVENTS_PER_DOCUMENT, len(found)
    figures["trail_p50"], figures["trail_p95"] = (percentile(trail_ms, 50),
                                                  percentile(trail_ms, 95))

    # 4. Inclusion proofs from the stored subtrees, checked against the root.
    _, root = svc.audit.size()
    proof_ms = []
    for leaf in rng.sample(range(size), samples):
        started = time.perf_counter()
        path = svc.audit.inclusion_path(leaf, size)
        proof_ms.append((time.perf_counter() - started) * 1000)
        merkle.verify_inclusion(leaf, size, leaf_hashes([leaf], svc)[0], path, root)
    figures["proof_p50"], figures["proof_p95"] = (percentile(proof_ms, 50),
                                                  percentile(proof_ms, 95))

    # Baseline: the RFC's recursion over every leaf hash, once they are in memory.
    with svc.engine.connect() as conn:
        leaves = [r[0] for r in conn.execute(text(
            "SELECT hash FROM audit_leaves ORDER BY leaf_index"))]
    base_ms = [timed(merkle.inclusion_proof, leaves, leaf) * 1000
               for leaf in rng.sample(range(size), 3)]
    figures["proof_baseline_ms"] = statistics.median(base_ms)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="audit log benchmark")
    parser.add_argument("--small", action="store_true", help="a quick run for CI")
    parser.add_argument("--events", type=int, help="events in the log (default 10,000,000)")
    parser.add_argument("--server", default=SERVER)
    args = parser.parse_args(argv)
    total = args.events or (200_000 if args.small else 10_000_000)
    measured = 40_000 if args.small else 200_000
    samples = 200 if args.small else 1000
    print(f"audit log: {total:,} events, append measured over {measured:,} "
          f"(batches of {BATCH:,}, {EVENTS_PER_DOCUMENT} per document)")
    with scratch_database(args.server) as name, tempfile.TemporaryDirectory() as data:
        svc = services_on(f"{args.server}/{name}", Path(data), RecordingQueue())
        try:
            f = run(svc, f"{args.server}/{name}", total, measured, samples)
        finally:
            svc.close()
    ok_rate = f["concurrent_rate"] >= TARGET_EVENTS_PER_S
    ok_trail = f["trail_p95"] <= TARGET_MS
    ok_proof = f["proof_p95"] <= TARGET_MS
    print(f"append {f['append_events']:,.0f} events, two writer processes while the "
          f"sequencer runs: {f['concurrent_rate']:,.0f} events/s in the tree; target ≥ "
          f"{TARGET_EVENTS_PER_S:,.0f}/s: {'PASS' if ok_rate else 'MISS'}")
    print(f"  one writer, then the sequencer: {f['append_s']:.2f} s written + "
          f"{f['sequence_s']:.2f} s sequenced = {f['rate']:,.0f} events/s "
          f"(writing alone {f['append_only_rate']:,.0f}/s)")
    print(f"  baseline, bare rows as before issue 5: {f['baseline_rate']:,.0f} events/s; "
          f"ratio ours/baseline {f['rate'] / f['baseline_rate']:.2f}")
    print(f"fill to {f['tree_size']:,.0f} leaves: {f['fill_s']:.0f} s "
          f"({f['tree_size'] / f['fill_s']:,.0f} events/s, sequenced every 100,000)")
    print(f"one document's trail: p50 {f['trail_p50']:.2f} ms, p95 {f['trail_p95']:.2f} ms; "
          f"target p95 ≤ {TARGET_MS} ms: {'PASS' if ok_trail else 'MISS'}")
    print(f"inclusion proof at {f['tree_size']:,.0f} leaves: p50 {f['proof_p50']:.2f} ms, "
          f"p95 {f['proof_p95']:.2f} ms; target ≤ {TARGET_MS} ms: "
          f"{'PASS' if ok_proof else 'MISS'}")
    ratio = f["proof_baseline_ms"] / f["proof_p50"]
    print(f"  baseline, RFC recursion over the leaves in memory: "
          f"{f['proof_baseline_ms']:,.1f} ms; ratio {ratio:,.0f}x")
    if args.small:
        print("(--small: figures are informational)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
