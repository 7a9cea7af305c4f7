#!/bin/sh
# Extract the CLI's messages, merge them into the Danish catalog and compile it:
#   engine/locale/fbh.pot -> engine/locale/da/LC_MESSAGES/fbh.po -> fbh.mo
# New messages arrive untranslated: translate them in fbh.po and run this again.
# `scripts/i18n.sh --check` changes nothing and fails on any untranslated message.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" scripts/i18n.py "$@"
