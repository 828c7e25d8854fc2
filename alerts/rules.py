"""Alert rules: the five preconfigured ones (defined here, in code) and the CEL layer of custom rules.

A rule answers three questions about the events of one organization and region:
which events match (`candidates` narrows by SQL, `matches` decides per event), how many of them
must fall within `window` to fire (`occurrences`), and how long it then stays quiet (`cooldown`).
`occurrences == 1` is a per-event rule: it fires once for each matching event.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import cel
from django.db.models import Q


class Severity:
    """Scaleway's CustomAlertRuleSeverity, least to most severe."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"
    CHOICES = [(INFO, "Info"), (WARNING, "Warning"), (ERROR, "Error"), (CRITICAL, "Critical")]
    LABELS = dict(CHOICES)


# Stable ids for the preconfigured rules (the API names them by id, reference §3.8).
RULE_ID_NAMESPACE = uuid.UUID("5b0b7a52-7a3e-4f4c-9d3e-6a1d2c1f0a11")
IAM_SERVICE = "scaleway.iam.v1alpha1.Api"


@dataclass(frozen=True)
class PreconfiguredRule:
    name: str  # Scaleway's "technical identifier", also our rule key
    description: str  # Scaleway's words, shown on the tab
    behaviour: str  # what the e-mail says was detected
    severity: str
    recommended_actions: tuple[str, ...]
    filter: Q  # which events match, as SQL (index-friendly)
    link_params: dict[str, str] = field(default_factory=dict)  # Events page filters (same meaning)
    occurrences: int = 1
    window: timedelta = timedelta(0)
    cooldown: timedelta = timedelta(0)

    @property
    def key(self) -> str:
        return self.name

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(RULE_ID_NAMESPACE, self.name)

    @property
    def is_threshold(self) -> bool:
        return self.occurrences > 1

    def matches(self, event: dict[str, Any]) -> bool:
        return True  # `filter` already selected exactly the matching events


PRECONFIGURED: tuple[PreconfiguredRule, ...] = (
    PreconfiguredRule(
        name="ApiKeyCreated",
        description="Triggered when a new API key is created within the Project.",
        behaviour="A new API key was created.",
        severity=Severity.WARNING,
        recommended_actions=(
            "Check that the principal who created the key meant to, and that the key's bearer and "
            "default Project are the expected ones.",
            "If you do not recognise this key, delete it in IAM > API keys and review the creator's "
            "other recent actions.",
            "Prefer keys bound to IAM applications with the least privileges, and set an expiry date.",
        ),
        filter=Q(service_name=IAM_SERVICE, method_name="CreateAPIKey", status_code=200),
        link_params={"product": "iam", "method": "CreateAPIKey", "status": "200"},
    ),
    PreconfiguredRule(
        name="ApiKeyCreationUnauthorized",
        description="Triggered when an unauthorized attempt to create an API key is detected.",
        behaviour="An attempt to create an API key was refused for lack of permission.",
        severity=Severity.ERROR,
        recommended_actions=(
            "Identify the principal and source IP of the attempt and check whether it was expected.",
            "If not, revoke that principal's credentials (API keys, sessions) and review its policies.",
            "Look for other refused requests from the same principal or IP around the same time.",
        ),
        filter=Q(service_name=IAM_SERVICE, method_name="CreateAPIKey", status_code=403),
        link_params={"product": "iam", "method": "CreateAPIKey", "status": "403"},
    ),
    PreconfiguredRule(
        name="ApiKeyDeleted",
        description="Triggered when an existing API key is deleted.",
        behaviour="An API key was deleted.",
        severity=Severity.WARNING,
        recommended_actions=(
            "Check that the deletion was planned: applications using this key now fail to authenticate.",
            "If it was not, review the principal who deleted it and its other recent actions.",
        ),
        filter=Q(service_name=IAM_SERVICE, method_name="DeleteAPIKey", status_code=200),
        link_params={"product": "iam", "method": "DeleteAPIKey", "status": "200"},
    ),
    PreconfiguredRule(
        name="ApiKeyDeletionUnauthorized",
        description="Triggered when an unauthorized attempt to delete an API key is detected.",
        behaviour="An attempt to delete an API key was refused for lack of permission.",
        severity=Severity.ERROR,
        recommended_actions=(
            "Identify the principal and source IP of the attempt and check whether it was expected.",
            "If not, revoke that principal's credentials and review its policies.",
            "Check that the targeted key is still needed, and rotate it if it may be exposed.",
        ),
        filter=Q(service_name=IAM_SERVICE, method_name="DeleteAPIKey", status_code=403),
        link_params={"product": "iam", "method": "DeleteAPIKey", "status": "403"},
    ),
    PreconfiguredRule(
        name="HttpForbiddenErrorRateHigh",
        description=(
            "Triggered when a high volume (>20) of HTTP 403 Forbidden errors is detected within the "
            "last 5 minutes, which may indicate a brute-force attempt or misconfiguration."
        ),
        behaviour="More than 20 requests were refused with HTTP 403 Forbidden within 5 minutes.",
        severity=Severity.CRITICAL,
        recommended_actions=(
            "Open the linked events and group them by principal and source IP: one source points to a "
            "misconfigured client or a brute-force attempt.",
            "If a principal is probing resources it should not reach, revoke its API keys and sessions.",
            "If a legitimate workload is refused, grant it the permission set it needs, no more.",
        ),
        filter=Q(status_code=403),
        link_params={"status": "403"},
        occurrences=21,
        window=timedelta(minutes=5),
        # One burst, one alert: the rule stays quiet this long after it fires.
        cooldown=timedelta(minutes=15),
    ),
)
PRECONFIGURED_BY_NAME = {rule.name: rule for rule in PRECONFIGURED}
PRECONFIGURED_BY_ID = {str(rule.id): rule for rule in PRECONFIGURED}


# --- CEL (custom rules) ----------------------------------------------------------------------------

# The variables a custom rule's expression can use: the event's fields (reference §3.1).
CEL_VARIABLES: dict[str, str] = {
    "id": "string",
    "recorded_at": "timestamp",
    "organization_id": "string",
    "project_id": "string or null",
    "locality": "string",
    "region": "string",
    "principal": "map: id, type (user, application, system, anonymous), name",
    "source_ip": "string",
    "user_agent": "string",
    "product_name": "string",
    "service_name": "string",
    "method_name": "string",
    "resources": "list of maps: type, id, name, …",
    "request_id": "string",
    "request_body": "map",
    "status_code": "int",
}
# The CEL standard library (spec "List of Standard Definitions") plus the string extensions.
CEL_FUNCTIONS = frozenset(
    [
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "exists",
        "all",
        "exists_one",
        "map",
        "filter",
        "has",
        "in",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "timestamp",
        "duration",
        "dyn",
        "type",
        "getFullYear",
        "getMonth",
        "getDayOfYear",
        "getDayOfMonth",
        "getDate",
        "getDayOfWeek",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
        "lowerAscii",
        "upperAscii",
        "trim",
        "split",
        "join",
        "replace",
        "substring",
        "indexOf",
        "lastIndexOf",
        "charAt",
        "max",
        "min",
    ]
)
EVENT_FIELDS = (
    "id",
    "recorded_at",
    "organization_id",
    "project_id",
    "locality",
    "region",
    "principal_id",
    "principal_type",
    "principal_name",
    "source_ip",
    "user_agent",
    "product_name",
    "service_name",
    "method_name",
    "resources",
    "request_id",
    "request_body",
    "status_code",
)
_COMPREHENSION_VAR = re.compile(r"\.\s*(?:exists_one|exists|all|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


class ExpressionError(ValueError):
    """A CEL expression that cannot be a rule, with a message for the person who wrote it."""


class RuleNameError(ValueError):
    """A name that a custom rule cannot have, with a message for the person who typed it."""


NAME_MAX_LENGTH = 100
# Control characters (line breaks, tabs, NUL, DEL, C1) and Unicode's line and paragraph
# separators: a rule's name goes into alert e-mails' Subject header, on one line.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_rule_name(name: str) -> str:
    """The name a custom rule is saved with (stripped), or RuleNameError. The console's form, the
    API and the services all call this one check."""
    name = (name or "").strip()
    if not name:
        raise RuleNameError("Enter a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise RuleNameError(f"The name is at most {NAME_MAX_LENGTH} characters.")
    if _CONTROL_CHARACTERS.search(name):
        raise RuleNameError("The name cannot contain line breaks, tabs or other control characters.")
    return name


# --- what an expression costs ------------------------------------------------------------------------
# A rule runs on every new event, in the one task queue that every organization shares, and the CEL
# library evaluates in native code without releasing the GIL: a running evaluation cannot be
# interrupted. So a rule's cost is bounded when it is saved. The library gives no cost estimate, so
# we make one from the tokens: each token is one step, and a comprehension (all, exists, exists_one,
# map, filter) repeats its body once per element of the list it walks. A list literal has its own
# length; a list read from the event (resources, a request_body field, a split string) is assumed
# to hold ASSUMED_LIST_SIZE elements. A request body holds at most 64 KiB, so one comprehension over
# event data stays cheap, while two nested ones could take minutes on a hostile event: the estimate
# refuses those, as it refuses four nested loops over 60-element literals (13 million steps).
MAX_EXPRESSION_LENGTH = 4000
MAX_COMPREHENSIONS = 10
MAX_COMPREHENSION_DEPTH = 3
ASSUMED_LIST_SIZE = 1000
# About 10 ms of CEL per event at most (tests/alerts/test_rules.py measures it).
MAX_COST = 100_000
COMPREHENSIONS = frozenset(["all", "exists", "exists_one", "map", "filter"])
_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
    | (?P<string>(?:[rR][bB]?|[bB][rR]?)?
        (?:"{3}(?:\\.|[^\\])*?"{3} | '{3}(?:\\.|[^\\])*?'{3} | "(?:\\.|[^"\\\n])*" | '(?:\\.|[^'\\\n])*'))
    | (?P<number>0[xX][0-9a-fA-F]+[uU]? | (?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[uU]?)
    | (?P<ident>[A-Za-z_]\w*)
    | (?P<op>==|!=|<=|>=|&&|\|\||.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class _Open:
    """An open bracket met while estimating: what it opened, and how often its content runs."""

    kind: str  # "list", "map", "index", "group", "call" or "comprehension"
    repeat: int  # how many times each token inside runs, per event
    size: int = 1  # a comprehension: the length of the list it walks
    name: str = ""  # a comprehension: its macro
    commas: int = 0
    empty: bool = True


@dataclass(frozen=True)
class Cost:
    steps: int
    comprehensions: int
    depth: int


def expression_cost(expression: str) -> Cost:
    """Estimate the steps of one evaluation of a CEL expression that compiles. One linear pass."""
    tokens = [(m.lastgroup or "op", m.group()) for m in _TOKEN.finditer(expression)]
    tokens = [token for token in tokens if token[0] != "space"]
    steps = comprehensions = depth = 0
    stack: list[_Open] = []
    previous = ("", "")  # the last token: (kind, text)
    operand = 1  # the length of the last complete operand, were it a list
    receiver = 1  # the operand before the last ".": what a comprehension walks
    for index, (kind, text) in enumerate(tokens):
        repeat = stack[-1].repeat if stack else 1
        steps += repeat
        if stack and text not in (")", "]", "}"):
            stack[-1].empty = False
        if kind == "op" and text in ("(", "[", "{"):
            after_operand = previous[0] in ("ident", "string", "number") or previous[1] in (")", "]", "}")
            is_member = index >= 2 and tokens[index - 2] == ("op", ".")
            if text == "(" and previous[0] == "ident" and previous[1] in COMPREHENSIONS and is_member:
                comprehensions += 1
                size = max(receiver, 1)
                stack.append(_Open("comprehension", repeat * size, size=size, name=previous[1]))
                depth = max(depth, sum(1 for frame in stack if frame.kind == "comprehension"))
            elif text == "(":
                stack.append(_Open("call" if previous[0] == "ident" else "group", repeat))
            elif text == "[":
                stack.append(_Open("index" if after_operand else "list", repeat))
            else:
                stack.append(_Open("map", repeat))
        elif kind == "op" and text in (")", "]", "}") and stack:
            frame = stack.pop()
            if frame.kind in ("list", "map"):
                operand = 0 if frame.empty else frame.commas + 1
            elif frame.kind == "comprehension":
                operand = frame.size if frame.name in ("map", "filter") else 1
            else:  # a call, a group or an index: unknown, maybe event data
                operand = ASSUMED_LIST_SIZE
        elif text == "," and stack:
            stack[-1].commas += 1
        elif text == ".":
            receiver = operand
        elif kind in ("ident", "string"):
            operand = ASSUMED_LIST_SIZE  # event data, or a string that split() makes a list
        elif kind == "number":
            operand = 1
        previous = (kind, text)
    return Cost(steps=steps, comprehensions=comprehensions, depth=depth)


def check_cost(expression: str) -> None:
    """Refuse an expression too costly to run on every event (ExpressionError)."""
    cost = expression_cost(expression)
    loops = "comprehensions (all, exists, exists_one, map, filter)"
    if cost.comprehensions > MAX_COMPREHENSIONS:
        raise ExpressionError(
            f"The expression uses {cost.comprehensions} {loops}; at most {MAX_COMPREHENSIONS} are allowed."
        )
    if cost.depth > MAX_COMPREHENSION_DEPTH:
        raise ExpressionError(
            f"The expression nests {loops} {cost.depth} deep; at most {MAX_COMPREHENSION_DEPTH} are allowed."
        )
    if cost.steps > MAX_COST:
        raise ExpressionError(
            f"The expression is too costly to run on every event: about {cost.steps:,} steps, at most "
            f"{MAX_COST:,}. Nest fewer comprehensions, or walk shorter lists (a list from the event "
            f"counts as {ASSUMED_LIST_SIZE:,} elements)."
        )


# Each CEL variable, built from the columns it needs (a rule only fetches what its expression reads).
_CONTEXT: dict[str, tuple[tuple[str, ...], Any]] = {
    "id": (("id",), lambda e: str(e["id"])),
    "recorded_at": (("recorded_at",), lambda e: e["recorded_at"].astimezone(UTC)),
    "organization_id": (("organization_id",), lambda e: str(e["organization_id"])),
    "project_id": (("project_id",), lambda e: str(e["project_id"]) if e["project_id"] else None),
    "locality": (("locality",), lambda e: e["locality"]),
    "region": (("region",), lambda e: e["region"]),
    "principal": (
        ("principal_id", "principal_type", "principal_name"),
        lambda e: {
            "id": str(e["principal_id"]) if e["principal_id"] else "",
            "type": e["principal_type"],
            "name": e["principal_name"],
        },
    ),
    "source_ip": (("source_ip",), lambda e: e["source_ip"] or ""),
    "user_agent": (("user_agent",), lambda e: e["user_agent"]),
    "product_name": (("product_name",), lambda e: e["product_name"]),
    "service_name": (("service_name",), lambda e: e["service_name"]),
    "method_name": (("method_name",), lambda e: e["method_name"]),
    "resources": (("resources",), lambda e: e["resources"] or []),
    "request_id": (("request_id",), lambda e: e["request_id"]),
    "request_body": (("request_body",), lambda e: e["request_body"] or {}),
    "status_code": (("status_code",), lambda e: e["status_code"]),
}


def event_context(event: dict[str, Any], variables: Iterable[str] = CEL_VARIABLES) -> dict[str, Any]:
    """An event row (from `event_rows`) as CEL variables: all of them, or only `variables`."""
    return {name: _CONTEXT[name][1](event) for name in variables if name in _CONTEXT}


def columns_for(variables: Iterable[str]) -> tuple[str, ...]:
    """The Event columns a set of CEL variables needs, plus the (recorded_at, id) every match keeps."""
    needed = {"id", "recorded_at"}
    for name in variables:
        if name in _CONTEXT:
            needed.update(_CONTEXT[name][0])
    return tuple(f for f in EVENT_FIELDS if f in needed)


def _sample_events() -> list[dict[str, Any]]:
    """Two realistic events (a success and a refusal) to try an expression on before saving it."""
    now = datetime.now(UTC)
    base = {
        "id": uuid.uuid4(),
        "recorded_at": now,
        "organization_id": uuid.uuid4(),
        "project_id": uuid.uuid4(),
        "locality": "global",
        "region": "fr-par",
        "principal_id": uuid.uuid4(),
        "principal_type": "user",
        "principal_name": "someone@example.com",
        "source_ip": "192.0.2.10",
        "user_agent": "scaleway-sdk-go/v1.0.0",
        "product_name": "iam",
        "service_name": IAM_SERVICE,
        "method_name": "CreateAPIKey",
        "resources": [{"type": "iam_api_key", "id": "SCWABCDEFGHIJ0123456", "name": "ci"}],
        "request_id": str(uuid.uuid4()),
        "request_body": {"description": "ci"},
        "status_code": 200,
    }
    return [base, {**base, "project_id": None, "status_code": 403, "resources": [], "request_body": {}}]


_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): Syntax error: ([^\n]*)")


def _syntax_error(raw: str) -> str:
    """CEL's first parse error, said plainly: "Syntax error at column 15: the expression ends too early." """
    found = _CEL_ERROR.search(raw)
    if not found:
        return f"Syntax error: {raw.splitlines()[0]}"
    line, column, detail = found.groups()
    if detail.startswith("mismatched input '<EOF>'"):
        detail = "the expression ends too early"
    else:
        detail = detail.split(" expecting ")[0]
    where = f"column {column}" if line == "1" else f"line {line}, column {column}"
    return f"Syntax error at {where}: {detail}."


def compile_expression(expression: str) -> cel.Program:
    """Compile and check a rule's expression. Raises ExpressionError with a readable message.

    Checks, in order: its length; syntax; that every variable is an event field; that every
    function is in CEL's standard library; that its cost is bounded (`check_cost`); and that it
    yields true or false on sample events. The console's form, its backtest, the API and the
    services all call this one check.
    """
    expression = (expression or "").strip()
    if not expression:
        raise ExpressionError("Enter a CEL expression, for example: status_code == 403")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"The expression is too long: {len(expression):,} characters, at most {MAX_EXPRESSION_LENGTH:,}."
        )
    try:
        program = cel.compile(expression)
    except ValueError as exc:
        raise ExpressionError(_syntax_error(str(exc))) from exc
    local = set(_COMPREHENSION_VAR.findall(expression))
    unknown = sorted(set(program.variables()) - set(CEL_VARIABLES) - local)
    if unknown:
        raise ExpressionError(
            f"Unknown field {', '.join(unknown)}. Available fields: {', '.join(CEL_VARIABLES)}."
        )
    unknown_functions = sorted(
        name
        for name in program.functions()
        if not name.startswith(("_", "!", "-", "@")) and name not in CEL_FUNCTIONS
    )
    if unknown_functions:
        raise ExpressionError(f"Unknown function {', '.join(f + '()' for f in unknown_functions)}.")
    check_cost(expression)  # before running it on the samples, which could take that long
    for sample in _sample_events():
        try:
            result = program.execute(event_context(sample))
        except (KeyError, IndexError):
            continue  # a map key or list item that this sample lacks: real events may have it
        except Exception as exc:  # the user's CEL may fail any way (1 / 0, overflow...)
            raise ExpressionError(f"The expression fails on an event: {exc}") from exc
        if not isinstance(result, bool):
            raise ExpressionError(
                f"The expression must be true or false for an event, but it gives a "
                f'{type(result).__name__} ({result!r}). Compare it, for example: method_name == "CreateAPIKey".'
            )
    return program


@dataclass(frozen=True)
class CelRule:
    """A custom rule, ready to evaluate: a compiled expression plus the firing parameters."""

    key: str
    name: str
    description: str
    severity: str
    program: cel.Program
    occurrences: int
    window: timedelta
    filter: Q = field(default_factory=Q)
    link_params: dict[str, str] = field(default_factory=dict)
    recommended_actions: tuple[str, ...] = (
        "Open the linked events and check who did what, from where.",
        "If the activity was not expected, revoke the principal's credentials and review its policies.",
    )

    @property
    def is_threshold(self) -> bool:
        return self.occurrences > 1

    @property
    def cooldown(self) -> timedelta:
        # A custom threshold rule fires at most once per evaluation window.
        return self.window

    @property
    def behaviour(self) -> str:
        if self.is_threshold:
            return (
                f"{self.occurrences} or more events matched the custom rule {self.name} "
                f"within {humanize_duration(self.window)}."
            )
        return f"An event matched the custom rule {self.name}."

    @cached_property
    def variables(self) -> tuple[str, ...]:
        return tuple(v for v in self.program.variables() if v in CEL_VARIABLES)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return columns_for(self.variables)

    def matches(self, event: dict[str, Any]) -> bool:
        try:
            return self.program.execute(event_context(event, self.variables)) is True
        except Exception:  # the user's CEL may fail any way on one event
            return False  # CEL: an error is not a match (e.g. a request_body key this event lacks)


Rule = PreconfiguredRule | CelRule


def event_rows(qs: Any, columns: Iterable[str] = EVENT_FIELDS) -> Any:
    """Event rows as dicts of `columns`, without building model instances."""
    return qs.values(*columns)


def humanize_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
