"""Where alerts go: a webhook (Slack/Teams-compatible JSON), email over SMTP, the log.

Every channel sends a :class:`Message` and raises :class:`DeliveryError` when it could not;
temporary failures (connection refused, timeouts, HTTP 429/5xx, SMTP 4xx) are retried with
exponential backoff by tenacity first. Error texts pass through :func:`redact`, so a webhook URL
(whose path is the secret) or an SMTP password never reaches a log line, the state file or the
page.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

import requests
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

log = logging.getLogger("dashboard.alerts")

SMTP_TIMEOUT = 20.0
WEBHOOK_TIMEOUT = (5.0, 15.0)
"""(connect, read) seconds."""


class DeliveryError(Exception):
    """Delivery failed; ``temporary`` says whether trying again may help."""

    def __init__(self, message: str, temporary: bool = True):
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a channel retries one message."""

    attempts: int = 4
    wait_initial: float = 2.0
    wait_max: float = 30.0

    def retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.wait_initial, max=self.wait_max),
            retry=retry_if_exception(lambda exc: isinstance(exc, DeliveryError) and exc.temporary),
            reraise=True,
        )


@dataclass
class Message:
    subject: str
    text: str
    html: str | None = None
    attachments: list[tuple[str, str, str]] = field(default_factory=list)
    """(file name, content, MIME subtype under text/), e.g. ("report.html", "...", "html")."""
    data: dict = field(default_factory=dict)
    """Extra JSON fields for the webhook body (next to ``text``)."""


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``[redacted]``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def webhook_secrets(url: str) -> list[str]:
    """The parts of a webhook URL that give access: all of it, its path and its query."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [url, parts.path + (f"?{parts.query}" if parts.query else "")]
    if parts.query:
        found.append(parts.query)
    if len(parts.path) > 1:
        found.append(parts.path)
    if parts.password:
        found.append(parts.password)
    return found


class _RedactingFilter(logging.Filter):
    """Removes webhook secrets from another library's log lines (urllib3 logs request paths at
    DEBUG level, and a Slack/Teams webhook's path is its secret)."""

    def __init__(self):
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            clean = redact(text, list(self.secrets))
            if clean != text:
                record.msg, record.args = clean, ()
        return True


_url_filter = _RedactingFilter()
logging.getLogger("urllib3.connectionpool").addFilter(_url_filter)


class Channel:
    name = "channel"

    def __init__(self, retry: RetryPolicy | None = None):
        self.retry = retry or RetryPolicy()

    @property
    def secrets(self) -> list[str]:
        return []

    def describe(self) -> str:
        return self.name

    def deliver(self, message: Message) -> None:
        """Send with retries; raises :class:`DeliveryError` with a redacted text."""
        try:
            for attempt in self.retry.retrying():
                with attempt:
                    self._send_once(message)
        except DeliveryError as exc:
            raise DeliveryError(redact(str(exc), self.secrets), exc.temporary) from None

    def _send_once(self, message: Message) -> None:
        raise NotImplementedError


class WebhookChannel(Channel):
    """POST ``{"text": ..., **message.data}`` as JSON. ``text`` is what Slack incoming
    webhooks and Microsoft Teams (Workflows / legacy connectors) display."""

    name = "webhook"

    def __init__(self, url: str, retry: RetryPolicy | None = None, timeout=WEBHOOK_TIMEOUT):
        super().__init__(retry)
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        _url_filter.secrets.update(webhook_secrets(url))

    @property
    def secrets(self) -> list[str]:
        return webhook_secrets(self.url)

    def describe(self) -> str:
        return f"webhook ({urlsplit(self.url).hostname})"

    def _send_once(self, message: Message) -> None:
        body = {"text": message.text, **message.data}
        try:
            response = self.session.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            # the exception text names the URL: keep only the kind of failure
            raise DeliveryError(f"webhook unreachable ({type(exc).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")
        if response.status_code >= 300:
            raise DeliveryError(
                f"webhook refused the message: HTTP {response.status_code}", temporary=False
            )


class EmailChannel(Channel):
    """SMTP with STARTTLS (unless turned off) and login when a user is set."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        to: tuple[str, ...],
        user: str = "",
        password: str = "",
        starttls: bool = True,
        retry: RetryPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = SMTP_TIMEOUT,
    ):
        super().__init__(retry)
        self.host, self.port = host, port
        self.sender, self.to = sender, tuple(to)
        self.user, self.password = user, password
        self.starttls = starttls
        self.ssl_context = ssl_context
        self.timeout = timeout

    @property
    def secrets(self) -> list[str]:
        return [self.password]

    def describe(self) -> str:
        return f"email ({', '.join(self.to)} via {self.host}:{self.port})"

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        for name, content, subtype in message.attachments:
            mail.add_attachment(content, subtype=subtype, filename=name)
        return mail

    def _send_once(self, message: Message) -> None:
        mail = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused ({exc.smtp_code})", temporary=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP server: {exc}", temporary=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP server answered {exc.smtp_code}", temporary=400 <= exc.smtp_code < 500
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("SMTP server refused every recipient", temporary=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS error
            raise DeliveryError(f"SMTP failed ({type(exc).__name__}: {exc})") from None


class LogChannel(Channel):
    """One WARNING line per message on the ``dashboard.alerts`` logger."""

    name = "log"

    def _send_once(self, message: Message) -> None:
        log.warning("ALERT %s", message.text.replace("\n", " · "))


def configured_channels(
    settings, retry: RetryPolicy | None = None, ssl_context=None
) -> dict[str, Channel]:
    """The channels ``settings`` configures, by name (empty: alerts are off)."""
    alerts = settings.alerts
    channels: dict[str, Channel] = {}
    if alerts.webhook_url:
        channels["webhook"] = WebhookChannel(alerts.webhook_url, retry)
    if alerts.smtp_host and alerts.email_to:
        channels["email"] = EmailChannel(
            alerts.smtp_host,
            alerts.smtp_port,
            alerts.email_from,
            alerts.email_to,
            alerts.smtp_user,
            alerts.smtp_password,
            alerts.smtp_starttls,
            retry,
            ssl_context,
        )
    if alerts.log:
        channels["log"] = LogChannel(retry)
    return channels
