"""The Events filters' form renderer: Django's, except that drop-downs print in Python.

Django renders each `<option>` through two template includes, ~40 µs apiece: the filters' 236
methods and 113 resource types cost ~15 ms a page. The widget still builds its context
(attributes, choices, the selected option); only the printing of `select.html` changes, to the
same markup.
"""

from __future__ import annotations

from typing import Any

from django.forms import Select
from django.forms.renderers import DjangoTemplates
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def _attrs_html(attrs: dict[str, Any]) -> SafeString:
    """Django's `django/forms/widgets/attrs.html`: True is a bare attribute, False none at all."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value),)
            for name, value in attrs.items()
            if value is not False
        ),
    )


def select_html(widget: dict[str, Any]) -> SafeString:
    """`django/forms/widgets/select.html` for a widget context (`get_context()["widget"]`)."""
    parts = [format_html('<select name="{}"{}>', widget["name"], _attrs_html(widget["attrs"]))]
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(format_html('\n  <optgroup label="{}">', group_name))
        parts.extend(
            format_html(
                '\n  <option value="{}"{}>{}</option>',
                str(option["value"]),
                _attrs_html(option["attrs"]) if option["attrs"] else "",  # most have none
                option["label"],
            )
            for option in options
        )
        if group_name:
            parts.append(mark_safe("\n  </optgroup>"))  # noqa: S308 (a constant)
    parts.append(mark_safe("\n</select>"))  # noqa: S308 (a constant)
    return mark_safe("".join(parts))  # noqa: S308 (format_html escaped every value)


class SelectsInPython(DjangoTemplates):
    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if template_name == Select.template_name:
            return select_html(context["widget"])
        return super().render(template_name, context, request=request)


# One instance, as Django keeps its default renderer: the template engine is built once.
SELECTS_IN_PYTHON = SelectsInPython()
