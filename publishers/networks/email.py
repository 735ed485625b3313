"""Sends a digest as one email through an SMTP server, with the standard library.

``smtplib`` and ``email.message.EmailMessage`` do all of it: the worker already runs every
client in a thread of its own, so aiosmtplib's asyncio would only add an event loop to
drive. One connection per message: a digest is one message, sent once a day or so.

Security (``smtp_security``): ``starttls`` (port 587) upgrades the connection before
anything else is said, and stops if the server does not offer STARTTLS (RFC 3207), rather
than log in and send in clear; ``tls`` (port 465) speaks TLS from the first byte (RFC 8314,
"implicit TLS"); ``none`` speaks in clear, for a relay on the same machine or network.
Certificates are verified against the system's trust store (``ssl.create_default_context``);
tests hand in their own trust anchor as ``tls_context``.

What the server's answers mean (RFC 5321, 4.2.1): a 4yz reply is a transient failure, a
5yz a permanent one. Past the end of the message (``CRLF.CRLF``) only the server's reply
says whether it took the message; a connection lost before that reply leaves it unknown,
the duplicate-message problem of RFC 1047. SMTP cannot look a message up afterwards, so
:meth:`EmailClient.find` says so and a moderator decides. The ``Message-ID`` is the part's
key, the same on every try, so a second copy is recognisable as the same message.
"""

from __future__ import annotations

import base64
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any, Literal, NoReturn
from urllib.parse import quote

from publishers.networks.base import (
    LookupUnsupported,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    Transient,
    UnknownOutcome,
)
from publishers.networks.transport import redact
from publishers.settings import ChannelSettings, SmtpSecurity
from storage.types import utcnow

log = logging.getLogger(__name__)


class _UrlListHeader(UnstructuredHeader, BaseHeader):
    """``List-Unsubscribe``: its ``<URL>`` stays whole on one line. The library folds a
    long unstructured header by turning it into RFC 2047 encoded words, which no mail
    program would read back as a URL."""

    def fold(self, *, policy: Any) -> str:
        """The header as written: ``Name: <url>`` and the policy's line end."""
        return f"{self.name}: {self}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", _UrlListHeader)
POLICY = SMTP_POLICY.clone(cte_type="7bit", header_factory=_HEADERS)
"""CRLF line ends, and every part ASCII-safe (quoted-printable or base64), so the message
needs no 8BITMIME from the server; non-ASCII headers become RFC 2047 encoded words."""
DEFAULT_SUBJECT = "ShortScience digest"
"""A part stored without its rich form (built before email had one) still gets a subject."""
UNDISCLOSED = "undisclosed-recipients:;"
"""RFC 5322's empty group: the To of a message whose readers are all in the envelope only."""
MAX_REPLY_TEXT = 300

Stage = Literal["connect", "login", "envelope", "content", "sent"]


class EmailClient(Network):
    """Sends each digest as one message to the channel's readers. Synchronous."""

    kind = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: SmtpSecurity,
        sender: str,
        recipients: Sequence[str],
        list_name: str,
        username: str | None = None,
        password: str | None = None,
        unsubscribe: str | None = None,
        timeout: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if not recipients:
            raise ValueError("an email channel needs at least one reader")
        self.host = host
        self.port = port
        self.security = security
        self.sender = sender
        self.recipients = tuple(recipients)
        self.list_name = list_name
        self.username = username
        self._password = password
        self.unsubscribe = unsubscribe
        self.timeout = timeout
        self._clock = clock
        self._tls = tls_context if tls_context is not None else ssl.create_default_context()
        self.domain = sender.rpartition("@")[2]
        self._secrets = _secret_forms(username, password)

    @classmethod
    def from_settings(
        cls,
        channel: ChannelSettings,
        *,
        timeout: float,
        clock: Callable[[], datetime],
        tls_context: ssl.SSLContext | None = None,
    ) -> EmailClient:
        """The channel's client; its password is ``credentials["password"]`` (SMTP_PASSWORD),
        used only when ``smtp_username`` is set."""
        return cls(
            host=channel.smtp_host or "",
            port=channel.smtp_port_or_default,
            security=channel.smtp_security,
            sender=channel.email_from or "",
            recipients=channel.email_to,
            list_name=channel.name,
            username=channel.smtp_username,
            password=channel.credentials.get("password"),
            unsubscribe=channel.unsubscribe,
            timeout=timeout,
            clock=clock,
            tls_context=tls_context,
        )

    def __repr__(self) -> str:
        return (
            f"EmailClient(host={self.host!r}, port={self.port!r}, security={self.security!r}, "
            f"sender={self.sender!r}, recipients={len(self.recipients)})"
        )

    @property
    def _subject(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    # -- the message ---------------------------------------------------------------------

    def message_id(self, post: OutgoingPost) -> str:
        """``<key@sender's domain>``: the part's key is stored before the first try, so
        every retry of a digest carries the same id (RFC 5322, 3.6.4)."""
        return f"<{post.key}@{self.domain}>"

    def message(self, post: OutgoingPost) -> EmailMessage:
        """The digest as a message: text and HTML as ``multipart/alternative`` (the plain
        text alone when the part has no HTML), with the list headers a mail program needs
        to show an unsubscribe button (RFC 2369, RFC 8058) and to sort it (RFC 2919)."""
        rich: Mapping[str, Any] = post.rich or {}
        message = EmailMessage(policy=POLICY)
        message["From"] = self.sender
        message["To"] = self.recipients[0] if len(self.recipients) == 1 else UNDISCLOSED
        message["Subject"] = " ".join(str(rich.get("subject") or DEFAULT_SUBJECT).split())
        message["Date"] = format_datetime(self._clock())
        message["Message-ID"] = self.message_id(post)
        message["List-Id"] = f"{self.list_name} <{self.list_name}.{self.domain}>"
        message["List-Unsubscribe"] = self._unsubscribe_header()
        if self.unsubscribe is not None and self.unsubscribe.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # RFC 3834: made by a program, so vacation auto-replies do not answer it.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(post.text)
        html = rich.get("html")
        if html:
            message.add_alternative(str(html), subtype="html")
        return message

    def _unsubscribe_header(self) -> str:
        """The channel's ``unsubscribe`` (an https URL or a ``mailto:``), else a mail to the
        sender asking to be taken off, which whoever reads the sender's mailbox acts on."""
        target = self.unsubscribe or f"mailto:{self.sender}?subject={quote('unsubscribe')}"
        return f"<{target}>"

    # -- the Network interface -----------------------------------------------------------

    def post(self, post: OutgoingPost) -> Posted:
        """Send the digest's message to every reader in one SMTP transaction.

        Readers the server refuses while others are taken are logged, and the message goes
        to the rest: sending it again would give everyone else a second copy.
        """
        outside = [a for a in (self.sender, *self.recipients) if not a.isascii()]
        if outside:
            # They need SMTPUTF8 (RFC 6531) all the way to every reader; not supported.
            raise Permanent(
                f"{self._subject}: {', '.join(outside)}: addresses outside ASCII are not "
                "supported; use the ASCII form of the address"
            )
        message = self.message(post)
        message_id = str(message["Message-ID"])
        content = _data_lines(message.as_bytes(policy=POLICY))
        stage: Stage = "connect"
        connection: smtplib.SMTP | None = None
        try:
            connection = self._connect()
            stage = "login"
            self._login(connection)
            stage = "envelope"
            self._envelope(connection, len(content))
            code, reply = connection.docmd("DATA")
            if code != 354:
                self._refused("DATA", code, reply)
            stage = "content"
            connection.send(content + b".\r\n")
            stage = "sent"
            code, reply = connection.getreply()
            if code != 250:
                self._refused("the message", code, reply)
        except PublishError:
            raise
        except ssl.SSLCertVerificationError as error:
            self._certificate_refused(error)
        except smtplib.SMTPNotSupportedError as error:
            self._unsupported(error)
        except smtplib.SMTPResponseException as error:
            self._refused(_command(error, stage), error.smtp_code, error.smtp_error)
        except (smtplib.SMTPException, OSError) as error:
            self._lost(stage, error)
        finally:
            if connection is not None:
                _quit(connection)
        return Posted(remote_id=message_id)

    def find(self, post: OutgoingPost) -> Posted | None:
        """Always LookupUnsupported: SMTP has no way to ask whether a message was taken.

        Sending it again could give every reader a second copy (with the same Message-ID,
        which some mail programs fold into one); a moderator looks in a reader's mailbox
        (or the list's archive) and releases the part or sends it again.
        """
        raise LookupUnsupported(
            f"{self._subject} may have taken digest message {self.message_id(post)} "
            "before the connection was lost; SMTP cannot tell. A moderator should check a "
            "reader's mailbox"
        )

    def close(self) -> None:
        """Nothing to release: each message has its own connection."""

    # -- SMTP ----------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        """A connection ready for MAIL: TLS set up as ``security`` says, EHLO said."""
        if self.security == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            self._secure(connection)
        except BaseException:
            connection.close()  # a refused certificate or STARTTLS leaves no socket open
            raise
        return connection

    def _secure(self, connection: smtplib.SMTP) -> None:
        """EHLO, and with ``starttls`` the upgrade to TLS and EHLO again."""
        connection.ehlo_or_helo_if_needed()
        if self.security == "starttls":
            if not connection.has_extn("starttls"):
                raise Permanent(
                    f"{self._subject} does not offer STARTTLS, so the password and the "
                    'message would cross in clear; set smtp_security = "tls" for a server '
                    'that speaks TLS from the start (port 465), or "none" for a local relay'
                )
            connection.starttls(context=self._tls)
            connection.ehlo()  # RFC 3207: what the server said before TLS no longer counts

    def _login(self, connection: smtplib.SMTP) -> None:
        if self.username is None:
            return
        if self._password is None:
            raise Permanent(f"{self._subject}: smtp_username is set but SMTP_PASSWORD is not")
        if not self._password.isascii():
            # smtplib (3.11) encodes AUTH's answers as ASCII; its error would quote a letter.
            raise Permanent(
                f"{self._subject}: SMTP_PASSWORD holds characters outside ASCII, which "
                "Python's smtplib cannot send in a login"
            )
        try:
            connection.login(self.username, self._password)
        except smtplib.SMTPException as error:
            if type(error) is not smtplib.SMTPException:
                raise
            # "No suitable authentication method found": no retry will change that.
            raise Permanent(
                f"{self._subject} offers no login method smtplib speaks ({error})"
            ) from None

    def _envelope(self, connection: smtplib.SMTP, size: int) -> None:
        """MAIL FROM the sender, RCPT TO each reader: the readers are in the envelope only."""
        options = [f"SIZE={size}"] if connection.has_extn("size") else []
        code, reply = connection.mail(self.sender, options)
        if code != 250:
            self._refused("the sender (MAIL FROM)", code, reply)
        refused: dict[str, tuple[int, bytes]] = {}
        for address in self.recipients:
            code, reply = connection.rcpt(address)
            if code not in (250, 251):
                refused[address] = (code, reply)
        if len(refused) == len(self.recipients):
            # Transient if any reader may be taken later: a full mailbox, a greylist.
            code, reply = min(refused.values(), key=lambda answer: answer[0])
            self._refused(f"every reader (RCPT TO, {len(refused)} addresses)", code, reply)
        for address, (code, reply) in refused.items():
            log.warning(
                "%s refused reader %s (%s %s); the digest goes to the others",
                self._subject,
                address,
                code,
                self._text(reply),
            )

    # -- errors --------------------------------------------------------------------------

    def _refused(self, what: str, code: int, reply: bytes | str) -> NoReturn:
        """The server said no: 4yz is Transient, 5yz Permanent (RFC 5321, 4.2.1)."""
        said = f"{self._subject} refused {what}: {code} {self._text(reply)}".rstrip()
        if code == 535 or (what == "the login" and code >= 500):
            raise Permanent(f"{said}; the SMTP username or password is wrong") from None
        if 400 <= code < 500:
            raise Transient(said) from None
        if code >= 500:
            raise Permanent(said) from None
        # Neither: a reply SMTP does not define here. Before the message nothing was taken.
        raise Transient(said) from None

    def _lost(self, stage: Stage, error: BaseException) -> NoReturn:
        reason = type(error).__name__
        if isinstance(error, TimeoutError) or "timed out" in str(error):
            reason = f"no answer within {self.timeout:g} s"
        elif isinstance(error, smtplib.SMTPServerDisconnected):
            reason = "the connection was closed"
        if stage == "connect" and _misconfigured_tls(error):
            raise Permanent(
                f"{self._subject}: the TLS handshake failed ({error.__class__.__name__}: "
                f"{getattr(error, 'reason', None) or 'refused'}); check smtp_security and "
                'smtp_port ("tls" is port 465, "starttls" port 587)'
            ) from None
        if stage == "sent":
            raise UnknownOutcome(
                f"{self._subject}: the message was sent but no answer came ({reason}); "
                "the server may have taken it"
            ) from None
        if stage == "connect" and isinstance(error, socket.gaierror):
            reason = "the host name could not be looked up"
        raise Transient(
            f"{self._subject}: {reason} before the message was taken ({stage}); nothing was sent"
        ) from None

    def _certificate_refused(self, error: ssl.SSLCertVerificationError) -> NoReturn:
        detail = error.verify_message or error.reason or "verification failed"
        raise Permanent(
            f"{self._subject}: its TLS certificate is not trusted ({detail}); nothing was "
            "sent. Check smtp_host (the certificate must name it) and the server's certificate"
        ) from None

    def _unsupported(self, error: smtplib.SMTPNotSupportedError) -> NoReturn:
        raise Permanent(
            f"{self._subject}: {self._text(str(error))}; check smtp_security and "
            "smtp_username (a server offers AUTH only over TLS, as a rule)"
        ) from None

    def _text(self, reply: bytes | str) -> str:
        """A server reply as one line of text, without credentials, not too long."""
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        return redact(" ".join(text.split()), self._secrets)[:MAX_REPLY_TEXT]


def _secret_forms(username: str | None, password: str | None) -> tuple[str, ...]:
    """The password as it crosses the wire too: AUTH PLAIN and LOGIN send it base64
    encoded, and a server may quote what it was sent."""
    if not password:
        return ()
    plain = f"\0{username or ''}\0{password}".encode()
    return (
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(plain).decode(),
    )


def _misconfigured_tls(error: BaseException) -> bool:
    """A TLS failure no retry mends (TLS spoken to a plain port, no common protocol), as
    opposed to a connection cut during the handshake (``SSLEOFError``)."""
    return isinstance(error, ssl.SSLError) and not isinstance(
        error, ssl.SSLEOFError | ssl.SSLZeroReturnError
    )


def _command(error: smtplib.SMTPResponseException, stage: Stage) -> str:
    if isinstance(error, smtplib.SMTPAuthenticationError) or stage == "login":
        return "the login"
    if stage == "connect":
        return "the connection"
    return "the message"


def _data_lines(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, a line starting with "." doubled
    (RFC 5321, 4.5.2), and a final CRLF before the closing ".\r\n"."""
    lines = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    lines = re.sub(rb"(?m)^\.", b"..", lines)
    return lines if lines.endswith(b"\r\n") else lines + b"\r\n"


def _quit(connection: smtplib.SMTP) -> None:
    """Say goodbye if the server still listens; a failure here changes nothing."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
