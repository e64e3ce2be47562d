from __future__ import annotations

from pathlib import Path

import pytest

from docflow.config import ConfigError, Settings


def test_nothing_configured_is_the_embedded_default(tmp_path: Path) -> None:
    s = Settings.from_env({"DOCFLOW_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'docflow.sqlite3'}"
    assert s.s3_endpoint is None and s.redis_url is None
    assert s.max_upload_bytes == 50 << 20
    # The generated session key is kept, so a restart keeps people logged in.
    assert Settings.from_env({"DOCFLOW_DATA_DIR": str(tmp_path)}).secret_key == s.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_plain_postgresql_urls_use_psycopg(tmp_path: Path) -> None:
    s = Settings.from_env({"DOCFLOW_DATA_DIR": str(tmp_path), "DOCFLOW_SECRET_KEY": "k",
                           "DOCFLOW_DATABASE_URL": "postgresql://u@h/db"})
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.secure_cookies


@pytest.mark.parametrize(("env", "message"), [
    ({"DOCFLOW_DATABASE_URL": "postgresql+psycopg://h/db"}, "DOCFLOW_SECRET_KEY is required"),
    ({"DOCFLOW_DATABASE_URL": "mysql://h/db"}, "DOCFLOW_DATABASE_URL"),
    ({"DOCFLOW_S3_ENDPOINT": "http://h:9000"}, "DOCFLOW_S3_ACCESS_KEY"),
    ({"DOCFLOW_MAX_UPLOAD_MB": "lots"}, "DOCFLOW_MAX_UPLOAD_MB"),
    ({"DOCFLOW_MAX_UPLOAD_MB": "0"}, "at least 1"),
    ({"DOCFLOW_TRUSTED_PROXIES": "-1"}, "DOCFLOW_TRUSTED_PROXIES"),
    ({"DOCFLOW_PADES_LEVEL": "B-X"}, "DOCFLOW_PADES_LEVEL must be one of"),
    ({"DOCFLOW_PADES_LEVEL": "B-T"}, "needs DOCFLOW_TSA_URL"),
    ({"DOCFLOW_ALLOW_CLASSIFIED": "maybe"}, "DOCFLOW_ALLOW_CLASSIFIED"),
    ({"DOCFLOW_TIMEZONE": "Mars/Olympus"}, "DOCFLOW_TIMEZONE"),
    ({"DOCFLOW_SITE_URL": "docflow.hoilhpn.vn"}, "DOCFLOW_SITE_URL must be an http"),
    ({"DOCFLOW_LOGIN_ADDRESS_LIMIT": "-1"}, "DOCFLOW_LOGIN_ADDRESS_LIMIT"),
])
def test_bad_settings_name_the_setting(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"DOCFLOW_DATA_DIR": str(tmp_path), **env})


def test_the_production_shape_names_only_settings_docflow_reads() -> None:
    """docker-compose.yml and deploy/env.example keep the names config.py reads."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    read = set(re.findall(r"DOCFLOW_[A-Z0-9_]+", "".join(
        p.read_text("utf-8") for p in [root / "docflow" / "config.py",
                                       *(root / "docflow" / "signing").glob("*.py")])))
    compose_only = {"DOCFLOW_IMAGE"}  # compose's own: which image to run
    for name in ("docker-compose.yml", "deploy/env.example"):
        named = set(re.findall(r"DOCFLOW_[A-Z0-9_]+", (root / name).read_text("utf-8")))
        assert named - read - compose_only == set(), name


def test_a_bad_organisation_file_stops_the_start_with_its_name(tmp_path: Path) -> None:
    """A broken workflow variant or holiday year is named, not a traceback."""
    from click.testing import CliRunner

    from docflow.cli import main

    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "broken.json").write_text('{"name": "x", "version": 1', "utf-8")
    days = tmp_path / "days"
    days.mkdir()
    (days / "VN-2030.json").write_text('{"year": 2030, "holidays": [{"date": "2030-13-01"}]}',
                                       "utf-8")
    for name, folder, expected in (("DOCFLOW_WORKFLOWS_DIR", flows, "broken.json"),
                                   ("DOCFLOW_CALENDAR_DIR", days, "VN-2030.json")):
        result = CliRunner().invoke(main, ["blobs", "sweep"], env={
            "DOCFLOW_DATA_DIR": str(tmp_path / "data"), name: str(folder)})
        assert result.exit_code == 1 and expected in result.output, result.output
        assert "Traceback" not in result.output
