"""Inbound mail, as untrusted input: parse a raw message within bounds, and classify it
(iTIP REPLY/COUNTER, bounce, auto-reply, request). Pure functions; nothing here touches the
database or a mailbox (engine/services/inbox.py applies what these find)."""

from notifications.inbound.classify import Classified, Kind, classify
from notifications.inbound.message import InboundMail, Limits, Unparseable, parse_mail

__all__ = ["Classified", "InboundMail", "Kind", "Limits", "Unparseable", "classify", "parse_mail"]
