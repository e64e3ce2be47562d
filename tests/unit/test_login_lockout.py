"""Login rate limiting: five failed logins to an account within 15 minutes close it to every
attempt, a right password included, until the oldest failure is 15 minutes old; thirty from one
address close that address to every account the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from docflow.bootstrap import Services, bootstrap
from docflow.domain.errors import TooManyAttempts, Unauthenticated
from tests.clock import Clock
from tests.conftest import ORIGIN, PASSWORD, Org, embedded_settings, seed_org


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Org, Clock]]:
    clock = Clock()
    svc = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True)
    yield svc, seed_org(svc), clock
    svc.close()


def test_five_failures_close_the_account_for_fifteen_minutes(
        world: tuple[Services, Org, Clock]) -> None:
    svc, org, clock = world
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            svc.identity.login("officer", "wrong password", ORIGIN)
        clock.at += timedelta(minutes=1)
    with pytest.raises(TooManyAttempts, match="11 minutes"):
        svc.identity.login("officer", PASSWORD, ORIGIN)
    # Hammering it meanwhile does not keep it closed longer.
    for _ in range(3):
        with pytest.raises(TooManyAttempts):
            svc.identity.login("officer", "wrong password", ORIGIN)
    clock.at += timedelta(minutes=11)
    assert svc.identity.login("officer", PASSWORD, ORIGIN).user.username == "officer"
    # Other accounts were never affected.
    assert svc.identity.login("clerk", PASSWORD, ORIGIN).user.username == "clerk"
    with svc.engine.connect() as conn:
        actions = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_events WHERE chain = :c ORDER BY seq"),
            {"c": f"user:{org.officer.id}"})]
    assert actions.count("user.login_failed") == 5
    assert actions.count("user.login_locked") == 4
    assert actions[-1] == "user.login"


def test_an_unknown_name_is_limited_too(world: tuple[Services, Org, Clock]) -> None:
    svc, _org, _clock = world
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            svc.identity.login("nobody", "guess", ORIGIN)
    with pytest.raises(TooManyAttempts):
        svc.identity.login("nobody", "guess", ORIGIN)


def test_thirty_failures_from_one_address_close_it_to_every_account(
        world: tuple[Services, Org, Clock]) -> None:
    """One password tried across many accounts stays under each account's limit; the
    address's limit catches it. Other addresses, and the same accounts from them, go on."""
    svc, _org, clock = world
    there = dataclasses.replace(ORIGIN, client_addr="203.0.113.7")
    elsewhere = dataclasses.replace(ORIGIN, client_addr="198.51.100.20")
    for n in range(30):
        with pytest.raises(Unauthenticated):
            svc.identity.login(f"guess{n % 10}", "Matkhau@2026", there)  # 3 each: no account lock
        clock.at += timedelta(seconds=20)
    with pytest.raises(TooManyAttempts, match="from this address: try again in 6 minutes"):
        svc.identity.login("officer", PASSWORD, there)  # a right password too
    assert svc.identity.login("officer", PASSWORD, elsewhere).user.username == "officer"
    clock.at += timedelta(minutes=6)
    assert svc.identity.login("officer", PASSWORD, there).user.username == "officer"
    with svc.engine.connect() as conn:
        details = conn.execute(text(
            "SELECT details FROM audit_events WHERE action = 'user.login_locked'")).scalar_one()
    assert "address" in str(details)


def test_the_address_limit_can_be_turned_off(tmp_path: Path) -> None:
    svc = bootstrap(embedded_settings(tmp_path, DOCFLOW_LOGIN_ADDRESS_LIMIT="0"),
                    clock=Clock(), upgrade_embedded=True)
    try:
        seed_org(svc)
        for n in range(40):
            with pytest.raises(Unauthenticated):
                svc.identity.login(f"guess{n % 10}", "wrong", ORIGIN)
        assert svc.identity.login("officer", PASSWORD, ORIGIN).user.username == "officer"
    finally:
        svc.close()

