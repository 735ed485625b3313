"""A local SMTP server for the email channel's tests: aiosmtpd on 127.0.0.1.

It speaks in clear, offers STARTTLS (RFC 3207) or speaks TLS from the first byte (RFC 8314)
with a self-signed certificate made when the tests run, may require a login (AUTH PLAIN
or LOGIN, checked against its ``users``), keeps every message it takes (envelope and
bytes, parsed as a mail program would) and plays scripted faults: a 4yz or 5yz reply to
the message, a message taken and its answer lost (the connection dropped, or no answer
for a while).

Faults count messages: ``skip=2`` lets two messages through and hits the third.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from enum import Enum
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Security = Literal["none", "starttls", "tls"]
HOSTNAME = "smtp.test"
"""The name the server gives itself in its greeting; its certificate names localhost and
127.0.0.1, where the tests connect."""


@dataclass(frozen=True)
class Received:
    """A message the server took: its envelope and its bytes, as sent."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    raw: bytes
    login: str | None
    """Who had logged in on the connection it came over, if anyone."""
    tls: bool

    @property
    def message(self) -> EmailMessage:
        """Parsed as a mail program reads it (``email.policy.default``)."""
        parsed = message_from_bytes(self.raw, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def part(self, content_type: str) -> EmailMessage:
        """The message's part of that type (``text/plain``, ``text/html``)."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and isinstance(part, EmailMessage):
                return part
        raise AssertionError(f"no {content_type} part")

    def text(self, content_type: str = "text/plain") -> str:
        """A part's content, decoded, with the line ends the sender wrote (LF) and without
        the final line end that MIME adds."""
        content = str(self.part(content_type).get_content())
        return content.replace("\r\n", "\n").removesuffix("\n")


class FaultKind(Enum):
    REPLY = "reply"
    """Answer the message (after its closing dot) with ``reply`` and keep nothing."""
    DROP_AFTER = "drop after"
    """Keep the message, then drop the connection before answering."""
    HANG_AFTER = "hang after"
    """Keep the message, then say nothing for ``seconds``, then 250."""
    DROP_BEFORE = "drop before"
    """At MAIL FROM, before any message: drop the connection."""
    HANG_BEFORE = "hang before"
    """At MAIL FROM, before any message: say nothing for ``seconds``."""


@dataclass
class Fault:
    kind: FaultKind
    skip: int = 0
    reply: str = "451 4.3.0 Local error in processing"
    seconds: float = 0.0


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for localhost and 127.0.0.1, in PEM files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client's context that trusts this certificate, and only it."""
        context = ssl.create_default_context(cafile=str(self.cert_file))
        return context


@cache
def certificate() -> Certificate:
    """One certificate per test run, made with ``cryptography`` (an EC key is quick)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="smtp-cert-"))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


class _Handler:
    """aiosmtpd's hooks: the login rule, the record of messages, the faults."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.server.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        fault = self.server._envelope_fault()
        if fault is not None and fault.kind is FaultKind.DROP_BEFORE:
            assert isinstance(smtp.transport, asyncio.Transport)
            smtp.transport.abort()
            return "250 OK"
        if fault is not None and fault.kind is FaultKind.HANG_BEFORE:
            await asyncio.sleep(fault.seconds)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.server.refused_readers.get(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.server._next_fault()
        if fault is not None and fault.kind is FaultKind.REPLY:
            return fault.reply
        data = session.auth_data
        login = data.login.decode() if isinstance(data, LoginPassword) else None
        content = envelope.original_content or b""
        self.server._keep(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                mail_options=tuple(envelope.mail_options),
                raw=content,
                login=login,
                tls=session.ssl is not None or self.server.security == "tls",
            )
        )
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            assert isinstance(smtp.transport, asyncio.Transport)
            smtp.transport.abort()  # at once: a close() would still send the 250 below
            return "250 OK"
        if fault is not None and fault.kind is FaultKind.HANG_AFTER:
            await asyncio.sleep(fault.seconds)
        return "250 OK"

    def authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        server = self.server
        if not isinstance(data, LoginPassword) or server.revoked:
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        server.logins.append(login)
        if server.users.get(login) != password:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=data)


class _Controller(Controller):
    """aiosmtpd's controller on a free port the system picks (``port=0``)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """The server, started by ``with SmtpServer(...) as server``."""

    def __init__(
        self,
        *,
        security: Security = "none",
        users: Mapping[str, str] | None = None,
        size_limit: int = 33_554_432,
    ) -> None:
        self.security = security
        self.users = dict(users or {})
        self.revoked = False
        self.refused_readers: dict[str, str] = {}
        """Readers whose RCPT TO gets this reply instead of 250."""
        self._envelope_faults: list[Fault] = []
        self.logins: list[str] = []
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._faults: list[Fault] = []
        handler = _Handler(self)
        context = certificate().server_context() if security != "none" else None
        options: dict[str, Any] = {
            "server_hostname": HOSTNAME,
            "data_size_limit": size_limit,
            "authenticator": handler.authenticate,
            # STARTTLS: AUTH only once TLS is up. Implicit TLS is not seen by aiosmtpd's
            # own check, and in clear a test relay may take a login (none + users). A
            # server without users offers no AUTH at all.
            "auth_require_tls": security == "starttls" or not users,
        }
        if security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        self._controller = _Controller(
            handler,
            hostname="127.0.0.1",
            port=0,
            ssl_context=context if security == "tls" else None,
            **options,
        )

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[Received]:
        """Every message taken, in order."""
        with self._lock:
            return list(self._messages)

    def client_context(self) -> ssl.SSLContext:
        """A client's context that trusts the server's certificate."""
        return certificate().client_context()

    # -- faults -------------------------------------------------------------------------

    def reply_to_data(self, reply: str, *, skip: int = 0) -> None:
        """The message after ``skip`` more is answered with ``reply`` and not kept."""
        self._add(Fault(FaultKind.REPLY, skip=skip, reply=reply))

    def drop_after_data(self, *, skip: int = 0) -> None:
        """The message is kept, then the connection drops before the server answers."""
        self._add(Fault(FaultKind.DROP_AFTER, skip=skip))

    def hang_after_data(self, seconds: float, *, skip: int = 0) -> None:
        """The message is kept, then no answer comes for ``seconds``."""
        self._add(Fault(FaultKind.HANG_AFTER, skip=skip, seconds=seconds))

    def drop_at_mail(self) -> None:
        """The next MAIL FROM drops the connection: nothing of the message was sent."""
        with self._lock:
            self._envelope_faults.append(Fault(FaultKind.DROP_BEFORE))

    def hang_at_mail(self, seconds: float) -> None:
        """The next MAIL FROM gets no answer for ``seconds``."""
        with self._lock:
            self._envelope_faults.append(Fault(FaultKind.HANG_BEFORE, seconds=seconds))

    def refuse_reader(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """RCPT TO ``address`` is answered with ``reply`` from now on."""
        self.refused_readers[address] = reply

    def revoke(self) -> None:
        """From now on every login is refused: 535 5.7.8."""
        self.revoked = True

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _next_fault(self) -> Fault | None:
        """The fault for this message, if one is due; counts down the others' ``skip``."""
        with self._lock:
            due = next((fault for fault in self._faults if fault.skip == 0), None)
            for fault in self._faults:
                if fault is not due and fault.skip > 0:
                    fault.skip -= 1
            if due is not None:
                self._faults.remove(due)
            return due

    def _envelope_fault(self) -> Fault | None:
        with self._lock:
            return self._envelope_faults.pop(0) if self._envelope_faults else None

    def _keep(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)
