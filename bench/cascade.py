"""Benchmark: a directive cascaded over three levels, the issuer's roll-up, number allocation.

A province sends a directive to its communes; each commune registers it and forwards it to its
branches (10,090 entries in all; every tenth commune keeps it), through
`DocumentService.dispatch`, `register_receipt`, `forward` and the fan-out job. Then:

- the issuer's roll-up (`QueryService.cascade`: counts per level, and the first level of the
  tree with the counts of each subtree), and a drill-down into one commune, timed over
  several runs; target ≤ 100 ms;
- number allocation (`sequences.next`, one transaction per number, as the clerk's `number`
  takes it) from two processes at once; target ≥ 1,000 numbers/s with no duplicate and no gap.

    .venv/bin/python bench/cascade.py            # 100 communes x 111 branches, 2 x 1,000 numbers
    .venv/bin/python bench/cascade.py --small    # 10 communes x 19 branches, 2 x 200 numbers

The directive goes through outgoing v2 (the leader's signature, the number, the seal), signed
with keys of a throwaway internal CA. The bench makes its own database `docflow_bench_<random>`
and drops it at the end.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from support import SERVER, RecordingQueue, scratch_database, services_on

from docflow.bootstrap import Services
from docflow.demo import directive_pdf
from docflow.domain.audit import Origin
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.org import Level
from docflow.domain.routing import DispatchTarget
from docflow.domain.signatures import SignatureKind
from docflow.services.documents import FAN_OUT_JOB
from docflow.services.org import OrgImport, UnitRow, UserRow
from docflow.signing.appearance import demo_seal_png, demo_signature_png
from docflow.signing.keys import PadesKey
from docflow.signing.pki import init_pki
from docflow.signing.signers import load_pkcs12
from storage.db.engine import make_engine
from storage.db.uow import SqlUnitOfWorkFactory

ORIGIN = Origin(via="cli")
PROVINCE = "T48"
TARGET_ROLLUP_MS = 100.0
TARGET_NUMBERS_PER_S = 1_000.0
PASSPHRASE = b"bench-passphrase"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

def make_keys(folder: Path) -> tuple[PadesKey, PadesKey]:
    """The leader's key and the province's seal, under a throwaway internal CA."""
    files = init_pki(folder, passphrase=PASSPHRASE, now=datetime.now(UTC))
    return (PadesKey(load_pkcs12(files.leader_p12, PASSPHRASE),
                     signature_image=demo_signature_png()),
            PadesKey(load_pkcs12(files.seal_p12, PASSPHRASE), seal_image=demo_seal_png()))


def seed(services: Services, communes: int, branches: int) -> None:
    units = [UnitRow("bench", PROVINCE, "Hội LHPN tỉnh", "HPN", "province", "")]
    users = [UserRow("bench", "officer", "Nguyễn Thị Lan", PROVINCE, "officer"),
             UserRow("bench", "leader", "Trần Thị Hoa", PROVINCE, "leader"),
             UserRow("bench", "clerk", "Lê Thị Mai", PROVINCE, "clerk")]
    for c in range(1, communes + 1):
        code = f"{PROVINCE}.X{c:03d}"
        units.append(UnitRow("bench", code, f"Xã {c}", "HPNX", "commune", PROVINCE))
        users.append(UserRow("bench", f"x{c:03d}", f"Văn thư xã {c}", code, "clerk"))
        units += [UnitRow("bench", f"{code}.B{b:03d}", f"Chi hội {c}.{b}", "CH", "branch", code)
                  for b in range(1, branches + 1)]
    services.org.import_org(OrgImport(
        levels=[Level("province", "Tỉnh", 1), Level("commune", "Xã", 2),
                Level("branch", "Chi hội", 3)], units=units, users=users), ORIGIN)


def run_jobs(services: Services, queue: RecordingQueue) -> None:
    while queue.jobs:
        job, args = queue.jobs.pop(0)
        if job == FAN_OUT_JOB:
            services.documents.fan_out(*args)


def cascade(services: Services, queue: RecordingQueue, communes: int, keys_folder: Path
            ) -> str:
    def actor(username: str):  # type: ignore[no-untyped-def]
        found = services.identity.actor_by_username(username)
        assert found is not None
        return found

    officer, leader, clerk = actor("officer"), actor("leader"), actor("clerk")
    docs = services.documents
    doc = docs.draft(officer, DraftSpec("CT", "Về việc triển khai chỉ thị",
                                        # today as the service counts days: in Vietnam
                                        reply_due=datetime.now(VIETNAM).date()), ORIGIN)
    docs.attach(officer, doc.id, RevisionKind.MAIN, "ct.pdf",
                io.BytesIO(directive_pdf("CHI THI", ["Trien khai."])), ORIGIN)
    leader_key, seal_key = make_keys(keys_folder)
    docs.submit(officer, doc.id, ORIGIN)
    docs.pass_review(leader, doc.id, ORIGIN)
    docs.approve(leader, doc.id, ORIGIN)
    services.signatures.sign(leader, doc.id, SignatureKind.LEADER, leader_key, ORIGIN,
                             position="CHỦ TỊCH")
    docs.number(clerk, doc.id, ORIGIN)
    services.signatures.sign(clerk, doc.id, SignatureKind.SEAL, seal_key, ORIGIN)
    docs.dispatch(clerk, doc.id, DispatchTarget(level="commune", under=PROVINCE), ORIGIN)
    run_jobs(services, queue)
    for c in range(1, communes + 1):
        commune_clerk = actor(f"x{c:03d}")
        entry = next(e for e in services.queries.inbox(commune_clerk)
                     if e.document_id == doc.id)
        docs.register_receipt(commune_clerk, entry.receipt_id, ORIGIN)
        if c % 10 == 0:
            docs.complete_receipt(commune_clerk, entry.receipt_id, ORIGIN)
            continue  # a commune that handled it itself
        docs.forward(commune_clerk, entry.receipt_id,
                     DispatchTarget(level="branch", under=f"{PROVINCE}.X{c:03d}"), ORIGIN)
        run_jobs(services, queue)
    # Branches at every stage; set in bulk, as registering 10,000 entries one by one through
    # the service would take the bench minutes and measure nothing new.
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE receipts SET status = CASE "
                          "WHEN ascii(right(unit_code, 1)) % 3 = 0 THEN 'done' "
                          "WHEN ascii(right(unit_code, 1)) % 3 = 1 THEN 'registered' "
                          "ELSE status END WHERE document_id = :d AND unit_code LIKE '%.B%'"),
                     {"d": doc.id})
        # What autovacuum does within a minute of 10,000 new rows on a live system: without
        # fresh statistics the planner expects 45 entries and joins them one by one.
        conn.execute(text("ANALYZE receipts; ANALYZE units; ANALYZE dispatches"))
    return doc.id


def _allocate(url: str, count: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = make_engine(url)  # pooled: one connection, reused, as a web or worker process
    uow = SqlUnitOfWorkFactory(engine)
    numbers = []
    started = time.perf_counter()
    for _ in range(count):
        with uow() as u:
            numbers.append(u.sequences.next(PROVINCE, "outgoing-bench", "2026"))
            u.commit()
    results.put((numbers, time.perf_counter() - started))
    engine.dispose()


def allocation(url: str, per_process: int) -> tuple[float, int, bool]:
    """Numbers per second over two processes, how many numbers, and whether they are exactly
    1..N."""
    spawn = multiprocessing.get_context("spawn")  # fresh processes: no inherited connections
    results = spawn.Queue()
    workers = [spawn.Process(target=_allocate, args=(url, per_process, results))
               for _ in range(2)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    got = [results.get(timeout=300) for _ in workers]
    elapsed = time.perf_counter() - started
    for w in workers:
        w.join()
    numbers = sorted(n for batch, _ in got for n in batch)
    busiest = max(seconds for _, seconds in got)
    del elapsed  # process start-up is not allocation: rate over the slower worker's loop
    return len(numbers) / busiest, len(numbers), numbers == list(range(1, len(numbers) + 1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cascade, roll-up and numbering benchmark")
    parser.add_argument("--small", action="store_true", help="a quick run for CI")
    parser.add_argument("--server", default=SERVER)
    args = parser.parse_args(argv)
    # Every tenth commune handles the directive itself; the others pass it to all branches.
    communes, branches, numbers = (10, 19, 200) if args.small else (100, 111, 1_000)
    failures = []
    with scratch_database(args.server) as database, \
            tempfile.TemporaryDirectory(prefix="docflow-bench-") as tmp:
        url = f"{args.server}/{database}"
        queue = RecordingQueue()
        services = services_on(url, Path(tmp) / "data", queue)
        try:
            started = time.perf_counter()
            seed(services, communes, branches)
            doc_id = cascade(services, queue, communes, Path(tmp) / "pki")
            units = communes + (communes - communes // 10) * branches
            print(f"cascade set up: {units:,} entries over 3 levels in "
                  f"{time.perf_counter() - started:.1f} s")
            clerk = services.identity.actor_by_username("clerk")
            assert clerk is not None
            view = services.queries.cascade(clerk, doc_id)
            assert sum(c.arrived for _, c in view.levels) == units, view.levels
            assert sum(e.subtree.arrived for e in view.children) == units
            for label, unit in (("issuer's roll-up", None), ("drill-down", f"{PROVINCE}.X001")):
                times = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    services.queries.cascade(clerk, doc_id, unit)
                    times.append((time.perf_counter() - t0) * 1000)
                median = statistics.median(times)
                print(f"{label} over {units:,} entries: median {median:.1f} ms (min "
                      f"{min(times):.1f}, max {max(times):.1f}); target ≤ "
                      f"{TARGET_ROLLUP_MS:.0f} ms")
                if median > TARGET_ROLLUP_MS:
                    failures.append(f"{label} {median:.1f} ms > {TARGET_ROLLUP_MS:.0f} ms")
            for level, c in view.levels:
                print(f"  {level:<8} arrived {c.arrived:>6,} registered {c.registered:>6,} "
                      f"assigned {c.assigned:>6,} "
                      f"done {c.done:>6,} returned {c.returned:>4,} overdue {c.overdue:>6,}")
        finally:
            services.close()
        rate, count, exact = allocation(url, numbers)
        print(f"number allocation, 2 processes x {numbers:,}: {rate:,.0f} numbers/s; "
              f"{count:,} numbers, exactly 1..{count:,}: {exact}; target ≥ "
              f"{TARGET_NUMBERS_PER_S:,.0f}/s")
        if not exact:
            failures.append("numbers are not exactly 1..N")
        if rate < TARGET_NUMBERS_PER_S:
            failures.append(f"allocation {rate:,.0f}/s < {TARGET_NUMBERS_PER_S:,.0f}/s")
    for failure in failures:
        print(f"MISSED: {failure}")
    if args.small:
        print("(--small: figures are informational)")
        return 1 if any("exactly" in f for f in failures) else 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
