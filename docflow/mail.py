"""Mail over SMTP (the standard library's smtplib): the adapter behind the `Mailer` port.

DOCFLOW_SMTP_URL is ``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers
it, required with ``?starttls=require``) or ``smtps://…`` (TLS from the start); a password
may come from a file instead: ``DOCFLOW_SMTP_PASSWORD_FILE``.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class MailConfigError(ValueError):
    """DOCFLOW_SMTP_URL cannot be used as it is."""


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    implicit_tls: bool = False
    starttls: str = "auto"
    """``auto`` (when offered), ``require`` or ``never``."""
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0

    @classmethod
    def from_url(cls, url: str, sender: str, password_file: Path | None = None
                 ) -> SmtpMailer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailConfigError("DOCFLOW_SMTP_URL is smtp://host[:port] or smtps://host[:port]")
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["auto"])[0]
        if starttls not in ("auto", "require", "never"):
            raise MailConfigError("starttls is auto, require or never")
        if not sender or "@" not in sender:
            raise MailConfigError("DOCFLOW_MAIL_FROM is the sender's address")
        password = unquote(parts.password) if parts.password else None
        if password_file is not None:
            password = password_file.read_text("utf-8").strip()
        return cls(host=parts.hostname, port=parts.port or (465 if parts.scheme == "smtps"
                                                             else 25),
                   sender=sender, implicit_tls=parts.scheme == "smtps", starttls=starttls,
                   username=unquote(parts.username) if parts.username else None,
                   password=password)

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"] = self.sender, to
        message["Subject"] = subject.replace("\n", " ")[:200]
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[-1])
        message.set_content(body)  # UTF-8, so Vietnamese arrives as written
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if not self.implicit_tls and self.starttls != "never":
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif self.starttls == "require":
                    raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
