"""The CLI's side of :mod:`engine.domain.i18n`: translated help texts and click's messages."""

from __future__ import annotations

import gettext
import os

from engine.domain.i18n import (
    DOMAIN,
    LOCALE_DIR,
    N_,
    _,
    choose_language,
    current,
    language,
    ngettext,
    use_language,
)

__all__ = [
    "N_",
    "_",
    "choose_language",
    "current",
    "install_for_click",
    "language",
    "ngettext",
    "translate_help",
    "use_language",
]


def translate_help(command: object) -> None:
    """Translate a click command's help texts in place (they are English in the code)."""
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if isinstance(text, str) and text:
            setattr(command, attribute, _(text.strip()))
    for param in getattr(command, "params", ()):
        text = getattr(param, "help", None)
        if isinstance(text, str) and text:
            param.help = _(text)


# click's own messages that fbh users see (click looks them up with the standard gettext, in
# the domain installed by :func:`install_for_click`).
CLICK_MESSAGES = (
    N_("Usage:"),
    N_("Options"),
    N_("Commands"),
    N_("Arguments"),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("Missing command."),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("No such command {name!r}."),
    N_("No such option: {name}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Invalid value: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Error: {message}"),
    N_("Aborted!"),
    N_("env var: {var}"),
    N_("default: {default}"),
    N_("required"),
)


def install_for_click() -> None:
    """Let click's messages (``Usage:``, ``Options``, its errors) use this catalog too: click
    calls the standard ``gettext.gettext``, which reads the global domain and ``LANGUAGE``."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = language()
