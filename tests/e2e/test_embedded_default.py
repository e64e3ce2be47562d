"""The first command of the README on a fresh data folder: demo, then serve, then a browser-like
login and the demo's directive on the page. No servers."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.e2e.conftest import DOCFLOW, free_port


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCFLOW, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_demo_then_serve_shows_the_demo_data(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFLOW_")}
    env["DOCFLOW_DATA_DIR"] = str(tmp_path / "var")
    first = run(["demo", "--communes", "12"], env)
    assert first.returncode == 0, first.stderr
    assert "Directive 01/CT-HPN sent to 12 communes" in first.stdout
    again = run(["demo", "--communes", "12"], env)  # runs twice: a second directive
    assert again.returncode == 0 and "02/CT-HPN" in again.stdout, again.stderr
    fresh = run(["demo", "--communes", "12", "--reset"], env)
    assert fresh.returncode == 0 and "01/CT-HPN" in fresh.stdout, fresh.stderr
    password = re.search(r"tinh\.vanthu\s+(\S+)", fresh.stdout)
    assert password is not None
    # The demo signs and seals its directive with the internal PKI it made: with the same
    # settings the issued PDF verifies; with none, it cannot be VALID.
    issued = str(tmp_path / "var" / "demo-issued.pdf")
    assert run(["verify", issued], env).returncode == 0
    elsewhere = {**env, "DOCFLOW_DATA_DIR": str(tmp_path / "elsewhere")}
    assert run(["verify", issued], elsewhere).returncode == 3

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([DOCFLOW, "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPCookieProcessor(jar))
        deadline = time.monotonic() + 30
        while True:
            try:
                with opener.open(f"{base}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        with opener.open(f"{base}/login") as r:
            page = r.read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        form = urllib.parse.urlencode({"csrf_token": csrf.group(1), "username": "tinh.vanthu",
                                       "password": password.group(1)}).encode()
        with opener.open(f"{base}/login", data=form) as r:
            home = r.read().decode()
        assert "01/CT-HPN" in home and "Lê Thị Mai" in home
    finally:
        server.terminate()
        server.wait(20)
        log.close()
