"""Settings, parsed once from the environment. Nothing else in docflow reads the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Every setting of a docflow process. With none given, the embedded default runs."""

    data_dir: Path
    """DOCFLOW_DATA_DIR: SQLite file, blob folder, spool and keys of the embedded default."""
    database_url: str
    """DOCFLOW_DATABASE_URL: ``postgresql+psycopg://…`` in production; SQLite file otherwise."""
    s3_endpoint: str | None
    """DOCFLOW_S3_ENDPOINT: ``http(s)://host:port`` of MinIO/S3; unset: the blob folder."""
    s3_access_key: str | None
    s3_secret_key: str | None
    s3_bucket: str
    s3_region: str | None
    s3_public_endpoint: str | None
    """DOCFLOW_S3_PUBLIC_ENDPOINT: where browsers reach S3, for presigned downloads."""
    redis_url: str | None
    """DOCFLOW_REDIS_URL: RQ's Redis; unset: the in-process job runner."""
    queue_name: str
    secret_key: str
    """DOCFLOW_SECRET_KEY: signs session cookies; the same on every web process."""
    max_upload_bytes: int
    """DOCFLOW_MAX_UPLOAD_MB, in MiB."""
    allow_classified: bool
    """DOCFLOW_ALLOW_CLASSIFIED: only for an isolated deployment under the state-secret law."""
    timezone: str
    secure_cookies: bool
    fast_password_hashing: bool
    """DOCFLOW_FAST_PASSWORD_HASHING: cheap argon2 parameters, for test suites only."""
    trust_anchors: tuple[Path, ...] = ()
    """DOCFLOW_TRUST_ANCHORS: CA certificate files or folders (separated by ':') that signature
    validation trusts; default: the data folder's ``trust`` folder."""
    pades_level: str = "B-B"
    """DOCFLOW_PADES_LEVEL: B-B, B-T (signature timestamp), B-LT (plus the chain's revocation
    data), B-LTA (plus a document timestamp)."""
    tsa_url: str | None = None
    """DOCFLOW_TSA_URL: the RFC 3161 timestamp authority, needed from B-T up."""
    trusted_proxies: int = 0
    """DOCFLOW_TRUSTED_PROXIES: reverse proxies in front whose X-Forwarded-For/-Proto to
    believe, so the audit trail records the client's address rather than the proxy's."""
    login_address_limit: int = 30
    """DOCFLOW_LOGIN_ADDRESS_LIMIT: failed logins from one address within 15 minutes that
    close it to every account; 0: no such limit. Counted by the client's address, so only as
    right as DOCFLOW_TRUSTED_PROXIES: behind an unnamed proxy everyone shares its address."""
    seal_keys: Path | None = None
    """DOCFLOW_SEAL_KEYS: the TOML file naming the organisation seals the server holds
    (PKCS#12 files or HSM keys, by unit; docflow/signing/seals.py); default: the data
    folder's ``pki/seals.toml`` when it exists (`docflow demo` writes one), else none."""
    smtp_url: str | None = None
    """DOCFLOW_SMTP_URL: where notifications are mailed (``smtp://host:587``, ``smtps://…``;
    docflow/mail.py); without it, notifications stay in the app."""
    mail_from: str = "docflow@localhost"
    """DOCFLOW_MAIL_FROM: the sender address of those mails."""
    smtp_password_file: Path | None = None
    """DOCFLOW_SMTP_PASSWORD_FILE: the SMTP password, kept out of the environment."""
    remind_before_days: int = 2
    """DOCFLOW_REMIND_BEFORE_DAYS: working days before a deadline when the lead is reminded."""
    escalate_after_days: int = 1
    """DOCFLOW_ESCALATE_AFTER_DAYS: working days past a deadline when the assigning leader
    is told."""
    party_numbers_per_type: bool = True
    """DOCFLOW_PARTY_NUMBERS_PER_TYPE: Party committees number each document type separately
    within a term (Guideline 36-HD/VPTW); false: one sequence per term for every type."""
    calendar_dir: Path | None = None
    """DOCFLOW_CALENDAR_DIR: public-holiday years (``VN-2027.json``) that add to or correct
    the shipped ones (docflow/calendars)."""
    workflows_dir: Path | None = None
    """DOCFLOW_WORKFLOWS_DIR: the organisation's own workflow definitions and variants (JSON,
    as in workflows/definitions; a variant names ``variant_of`` and ``applies_to``)."""

    audit_log_key: Path | None = None
    """DOCFLOW_AUDIT_LOG_KEY: the Ed25519 key (PKCS#8 PEM) that signs the audit log's tree
    heads, the same file for every process (`docflow audit keygen` makes one); unset: the
    data folder's ``keys/audit-log.pem``, made on first use."""

    audit_witness_url: str | None = None
    """DOCFLOW_AUDIT_WITNESS_URL: the audit API of the parent unit's docflow
    (``https://…/api/v1/audit``), which keeps this log's signed tree heads; unset: none."""

    site_url: str | None = None
    """DOCFLOW_SITE_URL: the web UI's public address (``https://docflow.example.gov.vn``),
    for the links in notification mail; unset: mails give the page's path only."""

    token_agent_url: str = "http://127.0.0.1:8765"
    """DOCFLOW_TOKEN_AGENT_URL: where a leader's browser reaches the token agent on their own
    computer (``docflow token-agent``); the pages may connect there and nowhere else."""

    @property
    def audit_log_key_path(self) -> Path:
        return self.audit_log_key or self.data_dir / "keys" / "audit-log.pem"

    @property
    def embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse and check every setting; raise ConfigError naming the first bad one."""
        env = {k: v.strip() for k, v in environ.items() if k.startswith("DOCFLOW_") and v.strip()}
        data_dir = data_dir_from(env)
        embedded_url = f"sqlite:///{data_dir / 'docflow.sqlite3'}"
        database_url = env.get("DOCFLOW_DATABASE_URL") or embedded_url
        if not database_url.startswith(("sqlite", "postgresql")):
            raise ConfigError("DOCFLOW_DATABASE_URL must be postgresql+psycopg://… or sqlite:///…")
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        s3_endpoint = env.get("DOCFLOW_S3_ENDPOINT")
        if s3_endpoint and not (env.get("DOCFLOW_S3_ACCESS_KEY")
                                and env.get("DOCFLOW_S3_SECRET_KEY")):
            raise ConfigError("DOCFLOW_S3_ENDPOINT needs DOCFLOW_S3_ACCESS_KEY and "
                              "DOCFLOW_S3_SECRET_KEY")
        embedded = database_url.startswith("sqlite")
        secret_key = env.get("DOCFLOW_SECRET_KEY")
        if not secret_key:
            if not embedded:
                raise ConfigError("DOCFLOW_SECRET_KEY is required with a server database: every "
                                  "web process must sign sessions with the same key")
            secret_key = _local_secret(data_dir)
        timezone = env.get("DOCFLOW_TIMEZONE", "Asia/Ho_Chi_Minh")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"DOCFLOW_TIMEZONE: unknown time zone {timezone!r}") from exc
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            s3_endpoint=s3_endpoint,
            s3_access_key=env.get("DOCFLOW_S3_ACCESS_KEY"),
            s3_secret_key=env.get("DOCFLOW_S3_SECRET_KEY"),
            s3_bucket=env.get("DOCFLOW_S3_BUCKET", "docflow"),
            s3_region=env.get("DOCFLOW_S3_REGION"),
            s3_public_endpoint=env.get("DOCFLOW_S3_PUBLIC_ENDPOINT"),
            redis_url=env.get("DOCFLOW_REDIS_URL"),
            queue_name=env.get("DOCFLOW_QUEUE", "docflow"),
            secret_key=secret_key,
            max_upload_bytes=_positive_int(env, "DOCFLOW_MAX_UPLOAD_MB", 50) << 20,
            allow_classified=_flag(env, "DOCFLOW_ALLOW_CLASSIFIED", False),
            timezone=timezone,
            secure_cookies=_flag(env, "DOCFLOW_SECURE_COOKIES", not embedded),
            fast_password_hashing=_flag(env, "DOCFLOW_FAST_PASSWORD_HASHING", False),
            trust_anchors=trust_anchor_paths(environ),
            pades_level=_pades_level(env),
            tsa_url=env.get("DOCFLOW_TSA_URL"),
            trusted_proxies=_positive_int(env, "DOCFLOW_TRUSTED_PROXIES", 0, minimum=0),
            login_address_limit=_positive_int(env, "DOCFLOW_LOGIN_ADDRESS_LIMIT", 30,
                                              minimum=0),
            seal_keys=_seal_keys(env, data_dir),
            workflows_dir=_folder(env, "DOCFLOW_WORKFLOWS_DIR"),
            calendar_dir=_folder(env, "DOCFLOW_CALENDAR_DIR"),
            party_numbers_per_type=_flag(env, "DOCFLOW_PARTY_NUMBERS_PER_TYPE", True),
            smtp_url=env.get("DOCFLOW_SMTP_URL") or None,
            mail_from=env.get("DOCFLOW_MAIL_FROM", "docflow@localhost"),
            smtp_password_file=_file(env, "DOCFLOW_SMTP_PASSWORD_FILE"),
            audit_log_key=_file(env, "DOCFLOW_AUDIT_LOG_KEY"),
            audit_witness_url=_url(env, "DOCFLOW_AUDIT_WITNESS_URL"),
            token_agent_url=_url(env, "DOCFLOW_TOKEN_AGENT_URL") or "http://127.0.0.1:8765",
            site_url=_url(env, "DOCFLOW_SITE_URL"),
            remind_before_days=_positive_int(env, "DOCFLOW_REMIND_BEFORE_DAYS", 2, minimum=0),
            escalate_after_days=_positive_int(env, "DOCFLOW_ESCALATE_AFTER_DAYS", 1,
                                              minimum=0),
        )


PADES_LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def _file(env: Mapping[str, str], name: str) -> Path | None:
    configured = env.get(name)
    if not configured:
        return None
    path = Path(configured).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{name}: no such file {path}")
    return path


def _url(env: Mapping[str, str], name: str) -> str | None:
    configured = env.get(name)
    if not configured:
        return None
    if not configured.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s):// URL")
    return configured.rstrip("/")


def _folder(env: Mapping[str, str], name: str) -> Path | None:
    configured = env.get(name)
    if not configured:
        return None
    path = Path(configured).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"{name}: no such folder {path}")
    return path


def _seal_keys(env: Mapping[str, str], data_dir: Path) -> Path | None:
    configured = env.get("DOCFLOW_SEAL_KEYS")
    if configured:
        path = Path(configured).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"DOCFLOW_SEAL_KEYS: no such file {path}")
        return path
    default = data_dir / "pki" / "seals.toml"
    return default if default.is_file() else None


def _pades_level(env: Mapping[str, str]) -> str:
    level = env.get("DOCFLOW_PADES_LEVEL", "B-B").upper()
    if level not in PADES_LEVELS:
        raise ConfigError(f"DOCFLOW_PADES_LEVEL must be one of {', '.join(PADES_LEVELS)}")
    if level != "B-B" and not env.get("DOCFLOW_TSA_URL"):
        raise ConfigError(f"DOCFLOW_PADES_LEVEL={level} needs DOCFLOW_TSA_URL (a timestamp "
                          "authority)")
    return level


def data_dir_from(environ: Mapping[str, str]) -> Path:
    """DOCFLOW_DATA_DIR, resolved (default ./var)."""
    return Path(environ.get("DOCFLOW_DATA_DIR", "").strip() or "./var").expanduser().resolve()


def trust_anchor_paths(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """DOCFLOW_TRUST_ANCHORS, or the data folder's ``trust`` folder. Read alone by commands
    that need no database (``docflow verify``), so they leave nothing behind."""
    raw = environ.get("DOCFLOW_TRUST_ANCHORS", "").strip()
    paths = tuple(Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip())
    return paths or (data_dir_from(environ) / "trust",)


def _positive_int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _local_secret(data_dir: Path) -> str:
    """The embedded default keeps a generated key in its data folder, readable only by us."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
