"""The command line, as an administrator uses it on the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from docflow.cli import main

UNITS_CSV = """code,name,abbreviation,level,parent_code,valid_from,successor_code
T01,Hội LHPN tỉnh,HPN,province,,,
T01.X1,Hội LHPN xã Một,HPNX,commune,T01,2025-07-01,
T01.X2,Hội LHPN xã Hai (đã sáp nhập),HPNX,commune,T01,,T01.X1
"""
USERS_CSV = """username,full_name,unit_code,role
lan,Nguyễn Thị Lan,T01,officer
lan,Nguyễn Thị Lan,T01,leader
mai,Lê Thị Mai,T01.X1,clerk
"""
ORG_YAML = """
levels:
  - {code: province, name: Tỉnh, rank: 1}
  - {code: commune, name: Xã, rank: 2}
units:
  - {code: T02, name: Hội LHPN tỉnh Hai, abbreviation: HPN2, level: province}
  - {code: T02.X1, name: Xã Một, abbreviation: X1, level: commune, parent_code: T02}
users:
  - {username: hoa, full_name: Trần Thị Hoa, unit_code: T02.X1, role: clerk}
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("DOCFLOW_DATABASE_URL", "DOCFLOW_REDIS_URL", "DOCFLOW_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DOCFLOW_FAST_PASSWORD_HASHING", "1")
    return CliRunner()


def test_org_import_from_csv_and_yaml_then_accounts(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    (tmp_path / "users.csv").write_text(USERS_CSV, encoding="utf-8")
    (tmp_path / "org.yaml").write_text(ORG_YAML, encoding="utf-8")
    result = cli.invoke(main, ["org", "import", str(tmp_path / "units.csv"),
                               str(tmp_path / "users.csv")])
    assert result.exit_code == 0, result.output
    assert "units: 3 created" in result.output and "users: 2 created" in result.output
    result = cli.invoke(main, ["org", "import", str(tmp_path / "org.yaml")])
    assert result.exit_code == 0 and "units: 2 created" in result.output, result.output

    made = cli.invoke(main, ["user", "add", "thu", "--unit", "T01", "--role", "clerk",
                             "--password", "-"])
    assert made.exit_code == 0 and "with password" in made.output, made.output
    taken = cli.invoke(main, ["user", "add", "thu", "--unit", "T01", "--role", "clerk",
                              "--password", "long-enough-password"])
    assert taken.exit_code == 1 and "taken" in taken.output
    assert cli.invoke(main, ["user", "passwd", "lan", "--password", "-"]).exit_code == 0
    assert cli.invoke(main, ["blobs", "sweep"]).output.startswith("removed 0")


def test_a_bad_import_names_every_bad_row_and_imports_nothing(cli: CliRunner, tmp_path: Path
                                                              ) -> None:
    bad = UNITS_CSV + "T01.X3,,HPNX,commune,T404,31/12/2025,\n"
    (tmp_path / "units.csv").write_text(bad, encoding="utf-8")
    result = cli.invoke(main, ["org", "import", str(tmp_path / "units.csv")])
    assert result.exit_code == 1
    for expected in ("units.csv row 5: the name is empty",
                     "units.csv row 5: unknown parent unit 'T404'",
                     "units.csv row 5: valid_from '31/12/2025' is not a date",
                     "nothing was imported"):
        assert expected in result.output
    good_users = tmp_path / "users.csv"
    good_users.write_text(USERS_CSV, encoding="utf-8")
    # The units were not imported, so the users' units are unknown too.
    again = cli.invoke(main, ["org", "import", str(good_users)])
    assert again.exit_code == 1 and "unknown unit 'T01'" in again.output


def test_an_unreadable_file_is_a_clear_error(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "org.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "org.yaml").write_text("units: [unclosed", encoding="utf-8")
    result = cli.invoke(main, ["org", "import", str(tmp_path / "org.csv"),
                               str(tmp_path / "org.yaml")])
    assert result.exit_code == 1
    assert "org.csv: the header must have" in result.output
    assert "org.yaml" in result.output


def test_workflows_list_and_show(cli: CliRunner, tmp_path: Path) -> None:
    import json

    import workflows

    listed = cli.invoke(main, ["workflows", "list"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.output.splitlines()]
    assert {r[0] for r in rows} >= {"outgoing", "incoming", "cascade", "report-request",
                                    "consultation"}
    assert all(len(r) == 3 and r[1].isdigit() and r[2] for r in rows)
    as_json = json.loads(cli.invoke(main, ["workflows", "list", "--json"]).output)
    assert [(d["name"], d["version"]) for d in as_json] == [(r[0], int(r[1])) for r in rows]

    shown = cli.invoke(main, ["workflows", "show", "outgoing", "--format", "mermaid"])
    assert shown.exit_code == 0
    assert shown.output.startswith("stateDiagram-v2\n") and "```" not in shown.output
    # The newest outgoing flow (v2): the number between the signatures, the seal issues.
    assert "signed --> numbered : Form checked" in shown.output
    assert "numbered --> issued : Seal" in shown.output
    assert "approved --> issued" not in shown.output
    newest = cli.invoke(main, ["workflows", "show", "outgoing", "--version", "2"])
    assert newest.exit_code == 0 and newest.output == shown.output
    # v1, which documents started before v2 still run, is still shown on request.
    old = cli.invoke(main, ["workflows", "show", "outgoing", "--version", "1"])
    assert old.exit_code == 0 and "approved --> issued : Number and issue" in old.output
    # The JSON form is the data form: it loads again, through the same validator.
    data = json.loads(cli.invoke(main, ["workflows", "show", "consultation", "--format",
                                        "json"]).output)
    assert workflows.load(data).transitions[1].quorum_given  # the asker sets the quorum

    for args in (["show", "nope"], ["show", "outgoing", "--version", "99"]):
        failed = cli.invoke(main, ["workflows", *args])
        assert failed.exit_code == 2 and "outgoing" in failed.output


def test_the_token_agent_serves_a_key_file_to_the_site_it_is_started_for(
        tmp_path: Path) -> None:
    """`docflow token-agent`, as a leader starts it on their computer: its certificate for the
    site given with --origin, nothing for another; a usage error when the key is not said."""
    import json
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from datetime import UTC, datetime

    from docflow.signing.pki import init_pki
    from tests.e2e.conftest import free_port

    files = init_pki(tmp_path / "pki", passphrase=b"agent-pass", now=datetime.now(UTC))
    (tmp_path / "pin").write_text("agent-pass\n")
    port = free_port()
    docflow = [sys.executable, "-m", "docflow.cli"]
    refused = subprocess.run([*docflow, "token-agent", "--origin", "https://x.example"],
                             check=False, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--pkcs12" in refused.stderr
    with subprocess.Popen(
            [*docflow, "token-agent", "--origin", "https://docflow.example.gov.vn",
             "--pkcs12", str(files.leader_p12), "--pin-file", str(tmp_path / "pin"),
             "--port", str(port), "--no-confirm"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}) as agent:
        def ask(origin: str) -> tuple[int, dict[str, object]]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/certificate",
                                             headers={"Origin": origin})
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    return answer.status, json.loads(answer.read())
            except urllib.error.HTTPError as error:
                with error:
                    return error.code, json.loads(error.read())

        try:
            for _ in range(100):  # until it listens
                try:
                    status, body = ask("https://docflow.example.gov.vn")
                    break
                except urllib.error.URLError:
                    time.sleep(0.1)
            else:
                pytest.fail("the agent did not start")
            assert status == 200 and "docflow demo leader" in str(body["subject"])
            assert ask("https://evil.example")[0] == 403
        finally:
            agent.terminate()
