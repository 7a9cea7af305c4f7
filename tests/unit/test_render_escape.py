"""fbh's templates escape output as Jinja does, without a Markup object per value
(notifications.digest_filters.escape_output and the environment's code generator)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup, escape

from notifications.render import Context, environment, escape_output

VALUES = st.one_of(
    st.text(),
    st.text(alphabet="&<>'\"ab æ"),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(alphabet="&<>'\"ab").map(Markup),
)

SOURCE = """\
{% macro cell(value) %}<td title="{{ value }}">{{ value }}</td>{% endmacro %}
{% macro box() %}<div>{{ caller() }}</div>{% endmacro %}
<p>{{ v }}</p>{{ cell(v) }}{{ cell(n) }}{{ d.key }}
{% call box() %}{{ v }} {{ n }}{% endcall %}
{% set block %}<i>{{ v }}</i>{% endset %}{{ block }}
{{ v ~ "<&>" }}{{ v | upper }}{{ "<b>" | safe }}{% for x in [v, n] %}{{ x }}{% endfor %}
"""


@given(VALUES)
def test_escape_output_writes_the_text_markupsafe_escape_gives(value: Any) -> None:
    assert escape_output(value) == str(escape(value))
    assert type(escape_output(value)) in (str, Markup)


@given(VALUES, st.integers())
def test_an_autoescaped_template_renders_as_with_jinjas_own_escaping(value: Any, n: int) -> None:
    ours = environment().overlay(autoescape=True).from_string(SOURCE)
    stock = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    ).from_string(SOURCE)
    for mapping in (Context(key=value), {"key": value}):
        context = {"v": value, "n": n, "d": mapping}
        assert ours.render(context) == stock.render(context)


def test_a_plain_dict_and_a_context_read_the_same_keys_and_methods() -> None:
    template = (
        environment()
        .overlay(autoescape=True)
        .from_string("{{ d.title }}|{{ d.items() | list | length }}|{{ d.missing is defined }}")
    )
    for mapping in ({"title": "<T>"}, Context(title="<T>")):
        assert template.render(d=mapping) == "&lt;T&gt;|1|False"
