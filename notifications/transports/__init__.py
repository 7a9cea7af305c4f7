"""Mail transports: Maildir (embedded default), SMTP, null (staging, dry runs) and in-memory
(tests)."""

from notifications.transports.base import DeliveryResult, Envelope, Transport
from notifications.transports.maildir import MaildirTransport
from notifications.transports.memory import InMemoryTransport
from notifications.transports.null import NullTransport
from notifications.transports.smtp import SmtpTransport, is_local_host

__all__ = [
    "DeliveryResult",
    "Envelope",
    "InMemoryTransport",
    "MaildirTransport",
    "NullTransport",
    "SmtpTransport",
    "Transport",
    "is_local_host",
]
