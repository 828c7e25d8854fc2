from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.evaluation import Match, sweep
from alerts.rules import ExpressionError, compile_expression


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "Enter a CEL expression"),
        ("status_code == 403)", "Syntax error at column 19: extraneous input ')'."),
        ("methodName == 'x'", "Unknown field methodName."),
        ("nosuch(method_name)", "Unknown function nosuch()."),
        ("method_name", "must be true or false"),
    ],
)
def test_bad_expressions_are_refused_with_a_clear_message(expression, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(expression)


@pytest.mark.parametrize(
    "expression",
    [
        'resources.exists(r, r.type == "iam_api_key")',
        'has(request_body.description) && request_body.description == "ci"',
        'principal.type == "user" && !source_ip.startsWith("10.")',
        "request_body.only_some_events_have_this == 1",  # a missing key is "no match", not an error
    ],
)
def test_good_expressions_compile(expression):
    assert compile_expression(expression) is not None


def test_the_sweep_counts_a_sliding_window_and_keeps_a_symmetric_cool_down():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    matches = [Match(t0 + timedelta(seconds=i), i) for i in range(30)]
    # Arriving in any order, one burst gives one firing at the 21st event.
    [firing] = sweep(matches, occurrences=21, window=timedelta(minutes=5), cooldown=timedelta(minutes=15))
    assert (firing.trigger.id, firing.matched_count, firing.window_start) == (20, 21, t0)
    # An earlier firing just after this burst (late events arrived) keeps it quiet.
    assert (
        sweep(
            matches,
            occurrences=21,
            window=timedelta(minutes=5),
            cooldown=timedelta(minutes=15),
            fired_at=[t0 + timedelta(minutes=10)],
        )
        == []
    )
