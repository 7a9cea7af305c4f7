"""The JSON text bulk inserts store (engine/backends/bulk.py): read back, it is what the
stdlib's json.dumps would have stored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.backends.bulk import _json_text

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
scalars |= st.floats(allow_nan=False, allow_infinity=False)
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(trees)
def test_the_stored_text_reads_back_as_json_dumps_would(value: Any) -> None:
    assert json.loads(_json_text(value)) == json.loads(json.dumps(value))


def test_the_text_is_compact_utf8_and_number_keys_become_strings() -> None:
    text = _json_text({"by": "Helsingør", 7: [1, 2.5]})
    assert text == '{"by":"Helsingør","7":[1,2.5]}'
    assert json.loads(text) == json.loads(json.dumps({"by": "Helsingør", 7: [1, 2.5]}))
