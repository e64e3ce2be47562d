"""Validator processes forked from a warm zygote, one request at a time in each, its limits
in force: one per request (``reuse=1``) or several one after another; what a request that runs
out of memory, CPU time or wall-clock time, or crashes, comes back as, and which process the
next one goes to."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest

from docflow.signing.isolation import Zygote

LIMITS = {"memory_bytes": 1 << 30, "cpu_seconds": 20}


def zygote(case: str) -> Zygote:
    return Zygote(f"tests.isolation_cases:{case}")


def test_each_request_gets_a_process_of_its_own_and_its_answer() -> None:
    z = zygote("echo")
    answers = [z.run({**LIMITS, "tag": n}, b"x" * n, 20) for n in range(3)]
    assert [a[1]["tag"] for a in answers] == [0, 1, 2]
    assert [a[1]["size"] for a in answers] == [0, 1, 2]
    pids = {a[1]["pid"] for a in answers}
    assert len(pids) == 3 and os.getpid() not in pids


def test_every_child_is_forked_from_the_one_zygote() -> None:
    z = zygote("echo")
    answers = [z.run(LIMITS, b"%PDF" * 1000, 20)[1] for _ in range(5)]
    assert z._process is not None
    assert {a["parent"] for a in answers} == {z._process.pid}  # not a new interpreter each


def test_threads_share_a_zygote() -> None:
    z = zygote("echo")
    answers: dict[int, object] = {}

    def ask(n: int) -> None:
        answers[n] = z.run({**LIMITS, "tag": n}, b"y" * n, 20)[1]["tag"]  # type: ignore[index]

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert answers == {n: n for n in range(8)}


def test_running_out_of_memory_is_said() -> None:
    assert zygote("hog_memory").run({**LIMITS, "memory_bytes": 512 << 20}, b"", 20) == (
        "memory", "")


def test_running_out_of_cpu_time_is_said() -> None:
    kind, words = zygote("spin").run({**LIMITS, "cpu_seconds": 1}, b"", 20)
    assert kind == "cpu" and "1 s" in words


def test_running_out_of_wall_clock_time_kills_the_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    kind, _words = zygote("sleep").run({**LIMITS, "pidfile": str(pidfile)}, b"", 1.0)
    assert kind == "timeout" and time.monotonic() - started < 5
    assert_gone(int(pidfile.read_text()))


def assert_gone(pid: int) -> None:
    for _ in range(100):  # the zygote reaps it a moment after the kill
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} still alive")


@pytest.mark.parametrize("warm_up", [None, "tests.isolation_cases:warm"])
@pytest.mark.parametrize(("case", "words"), [
    ("crash", "without an answer"), ("fail", "ValueError: no such thing")])
def test_a_child_that_crashes_or_raises_is_a_failure(case: str, words: str,
                                                     warm_up: str | None) -> None:
    """Said at once, not at the timeout: no other process holds the request's socket (the
    spare forked beside it must not have inherited it)."""
    started = time.monotonic()
    for reuse in (1, 5):
        z = Zygote(f"tests.isolation_cases:{case}", warm_up=warm_up, reuse=reuse)
        kind, said = z.run(LIMITS, b"", 20)
        assert kind == "failed" and words in said
    assert time.monotonic() - started < 5


def test_a_dead_zygote_is_started_again() -> None:
    z = zygote("echo")
    first = z.run(LIMITS, b"", 20)
    assert z._process is not None
    z._process.kill()
    z._process.wait()
    again = z.run(LIMITS, b"", 20)
    assert again[0] == "report" and again[1]["parent"] != first[1]["parent"]


def test_a_forked_process_uses_its_parents_zygote() -> None:
    """RQ's work horse is a fork per job: it must not pay for a zygote of its own."""
    z = zygote("echo")
    z.start()
    assert z._process is not None
    zygote_pid = z._process.pid
    pid = os.fork()
    if pid == 0:
        answer = z.run({**LIMITS, "tag": "fork"}, b"", 20)[1]
        os._exit(0 if answer["tag"] == "fork" and answer["parent"] == zygote_pid else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    answer = z.run({**LIMITS, "tag": "parent"}, b"", 20)[1]
    assert answer["tag"] == "parent" and answer["parent"] == zygote_pid  # still running


def test_a_fork_whose_zygote_died_starts_its_own() -> None:
    z = zygote("echo")
    z.start()
    assert z._process is not None
    first = z._process.pid
    z._process.kill()
    z._process.wait()
    pid = os.fork()
    if pid == 0:
        answer = z.run({**LIMITS, "tag": "fork"}, b"", 20)
        ok = answer[0] == "report" and answer[1]["parent"] not in (first, os.getppid())
        os._exit(0 if ok else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert z.run(LIMITS, b"", 20)[1]["parent"] != first  # the parent starts another too


def test_with_a_warm_up_each_request_goes_to_a_spare_that_ran_it() -> None:
    """The spare forked ahead has run the warm-up in its own process before its request came;
    one that died is replaced by a fork on the spot."""
    z = Zygote("tests.isolation_cases:echo", warm_up="tests.isolation_cases:warm")
    answers = [z.run({**LIMITS, "tag": n}, b"", 20)[1] for n in range(3)]
    assert [a["tag"] for a in answers] == [0, 1, 2]
    assert all(a["warmed_here"] for a in answers)
    assert len({a["pid"] for a in answers}) == 3
    assert z._process is not None
    zygote_pid = z._process.pid
    assert {a["parent"] for a in answers} == {zygote_pid}
    spares = Path(f"/proc/{zygote_pid}/task/{zygote_pid}/children").read_text().split()
    assert spares  # the next one, waiting
    for pid in spares:
        with contextlib.suppress(ProcessLookupError):  # the last one, exiting after its answer
            os.kill(int(pid), 9)
    time.sleep(0.2)
    kind, body = z.run({**LIMITS, "tag": "after"}, b"", 20)
    assert kind == "report" and body["tag"] == "after" and body["parent"] == zygote_pid


# --- validators that take several documents, one after another ------------------------------


def reusing(reuse: int) -> Zygote:
    return Zygote("tests.isolation_cases:mixed", reuse=reuse)


def ask(z: Zygote, **header: object) -> tuple[str, object]:
    return z.run({**LIMITS, **header}, b"%PDF-1.7", 20)


def pid_of(answer: tuple[str, object]) -> int:
    assert answer[0] == "report", answer
    return answer[1]["pid"]  # type: ignore[index,no-any-return]


def children_of(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def test_a_validator_takes_documents_one_after_another_up_to_its_reuse() -> None:
    z = reusing(3)
    pids = [pid_of(ask(z, tag=n)) for n in range(7)]
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4] == pids[5] != pids[6]


def test_a_validator_that_answered_anything_but_a_report_takes_no_more() -> None:
    z = reusing(10)
    first = pid_of(ask(z))
    kind, words = ask(z, do="fail")
    assert (kind, words) == ("failed", f"ValueError: failed in {first}")
    assert pid_of(ask(z)) != first


def test_each_document_has_the_whole_cpu_time_limit() -> None:
    """Counted from what the validator spent before it: three documents of 0.7 CPU seconds
    each, in one process, all within a limit of one second."""
    z = reusing(10)
    answers = [ask(z, do="burn", cpu_seconds=1) for _ in range(3)]
    assert len({pid_of(a) for a in answers}) == 1
    kind, words = ask(z, do="spin", cpu_seconds=1)  # and a fourth that spins is stopped
    assert kind == "cpu" and "1 s" in words


def test_a_validator_that_served_others_still_has_its_memory_limit() -> None:
    z = reusing(10)
    first = pid_of(ask(z))
    assert ask(z, do="hog", memory_bytes=512 << 20) == ("memory", "")
    assert pid_of(ask(z)) != first


def test_a_validator_whose_memory_grew_takes_no_more() -> None:
    z = reusing(10)
    grown = pid_of(ask(z, do="grow"))
    assert pid_of(ask(z)) != grown


def test_a_validator_out_of_time_is_killed_and_the_next_document_goes_to_another() -> None:
    z = reusing(10)
    first = pid_of(ask(z))
    started = time.monotonic()
    assert z.run({**LIMITS, "do": "sleep"}, b"", 1.0)[0] == "timeout"
    assert time.monotonic() - started < 5
    assert_gone(first)
    assert pid_of(ask(z)) != first


def test_an_answer_over_the_limit_is_a_failure() -> None:
    kind, words = reusing(10).run({**LIMITS, "do": "big"}, b"", 20)
    assert kind == "failed" and "over" in words


def test_threads_share_reused_validators() -> None:
    z = reusing(2)
    answers: dict[int, object] = {}

    def one(n: int) -> None:
        for k in range(3):
            kind, body = z.run({**LIMITS, "tag": n * 10 + k}, b"z" * n, 20)
            answers[n * 10 + k] = (kind, body["tag"], body["size"])  # type: ignore[index]

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert answers == {n * 10 + k: ("report", n * 10 + k, n) for n in range(6) for k in range(3)}


def test_with_a_warm_up_a_reused_validator_waits_warm_for_the_next() -> None:
    z = Zygote("tests.isolation_cases:echo", warm_up="tests.isolation_cases:warm", reuse=5)
    answers = [z.run({**LIMITS, "tag": n}, b"", 20)[1] for n in range(4)]
    assert [a["tag"] for a in answers] == [0, 1, 2, 3] and all(a["warmed_here"] for a in answers)
    # The spare took them all: it told the zygote it was free before its parent's call
    # returned, so the next request could not find it busy.
    served = {a["pid"] for a in answers}
    assert len(served) == 1
    assert z._process is not None
    waiting = set(map(int, children_of(z._process.pid)))
    assert served < waiting and len(waiting) == 2  # it, and the spare forked when it was taken


def test_a_docflow_in_the_working_directory_is_not_the_one_the_zygote_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m` puts the working directory first on the path: another `docflow` there
    (an old checkout, a writable folder) must not be what validates."""
    signing = tmp_path / "docflow" / "signing"
    signing.mkdir(parents=True)
    (tmp_path / "docflow" / "__init__.py").write_text("raise SystemExit('the wrong docflow')\n")
    (signing / "__init__.py").write_text("")
    (signing / "isolation.py").write_text("raise SystemExit('the wrong docflow')\n")
    monkeypatch.chdir(tmp_path)
    kind, body = zygote("echo").run(LIMITS, b"ours", 20)
    assert kind == "report" and body["size"] == 4
