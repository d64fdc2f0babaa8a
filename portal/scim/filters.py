"""SCIM filters compiled to SQL (RFC 7644 §3.4.2.2), never evaluated in Python over the account.

The filter is parsed by scim2-models (`ScimFilter(...).ast`, the parser of the scim2-tester family, kept
up to date with the RFCs and their errata) and its tree is walked here into a SQLAlchemy condition. Each
attribute the portal can search names its column, its type and whether it is case-exact; logins and
emails are stored lower-cased, so `userName eq`, `emails.value eq` and `externalId eq` compare the bare
column and are index seeks ((account_id, login), (account_id, email), (account_id, external_id)). Anything
else — an unknown attribute, an operator the type does not take, a value of the wrong type — is
`invalidFilter`, never a guess.

A filter is compiled in two steps, so that its SQL is built once per shape (CONTRIBUTING: building a statement
costs more Python than running it): the walk of the parsed tree checks everything and gives the filter's
`Shape` (its attributes, operators and what the values decide, such as `active eq false`) and its values in
order; `condition(shape)` builds the SQL of a shape with each value a bindparam (`filter_0`, `filter_1`, …), and
the statements that hold it are kept per shape (portal.scim.queries) and bound per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from scim2_models import ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute

from portal.models import Group, GroupMember, User, UserStatus
from portal.scim.errors import ScimError
from portal.uuids import parse_uuid

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_LENGTH = 2000  # characters of a filter; longer ones are refused before parsing


# A condition's left side: a mapped attribute, or an expression of them (the display name).
Column: TypeAlias = ColumnElement[Any] | InstrumentedAttribute[Any]


def invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


@dataclass(frozen=True)
class Attribute:
    """A searchable attribute: its column (or expression), its type, and how it compares.

    `lowered`: the column is stored lower-cased (compare it bare with the value lower-cased: index seeks).
    `case_exact`: compare as given; otherwise both sides lower-cased.
    """

    column: Column | None  # None: an expression (see _Compiler._column)
    type: str = "string"  # string, boolean, dateTime, reference (a uuid)
    case_exact: bool = False
    lowered: bool = False
    nullable: bool = False


def _display_name() -> ColumnElement[str]:
    return func.trim(User.first_name + literal(" ") + User.last_name)


USER_ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(User.id, "reference", case_exact=True),
    "username": Attribute(User.login, lowered=True),
    "externalid": Attribute(User.external_id, case_exact=True, nullable=True),
    "emails": Attribute(User.email, lowered=True),
    "emails.value": Attribute(User.email, lowered=True),
    "name.givenname": Attribute(User.first_name),
    "name.familyname": Attribute(User.last_name),
    "displayname": Attribute(None),  # an expression, see _column
    "active": Attribute(User.status, "boolean"),
    "meta.created": Attribute(User.created_at, "dateTime"),
    "meta.lastmodified": Attribute(User.updated_at, "dateTime"),
}
# Inside emails[…]: the one address is the primary, work one.
EMAIL_SUBATTRIBUTES = {"value": "emails.value", "type": "work", "primary": True}

GROUP_ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(Group.id, "reference", case_exact=True),
    "displayname": Attribute(Group.name),
    "externalid": Attribute(Group.external_id, case_exact=True, nullable=True),
    "members": Attribute(GroupMember.user_id, "reference", case_exact=True),
    "members.value": Attribute(GroupMember.user_id, "reference", case_exact=True),
    "meta.created": Attribute(Group.created_at, "dateTime"),
    "meta.lastmodified": Attribute(Group.updated_at, "dateTime"),
}


def attribute_key(path: AttrPath, urns: tuple[str, ...]) -> str:
    """The lower-cased dotted name of an attribute path (its URN checked against the resource's)."""
    if path.uri is not None and path.uri.lower() not in {urn.lower() for urn in urns}:
        raise invalid(f"The filter names a schema this resource does not have: {path.uri}.")
    return str(path.attr if path.sub_attr is None else f"{path.attr}.{path.sub_attr}").lower()


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise invalid('A dateTime is compared with a string such as "2026-01-31T12:00:00Z".')
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid(f"Not a dateTime: {value!r}.") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=None)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:  # what some providers send
        return value.lower() == "true"
    raise invalid("A boolean is compared with true or false.")


# A filter's shape: nested tuples naming what its SQL is made of, the values left out (each leaf that compares
# a value holds its index in the values, bound as `filter_<index>`). Leaves:
#   ("true",), ("false",)                   a condition known without the database
#   ("present", key)                        `key pr`
#   ("members_present",)                    the group has a member
#   ("active", wanted)                      `active eq true` (wanted) or `active eq false`
#   ("null", key, eq)                       `key eq null` (eq) or `key ne null`
#   ("cmp", key, op, index)                 an id or a dateTime compared with a value
#   ("str", key, op, folded, index)         a string compared (co, sw and ew bind a LIKE pattern); folded: the
#                                           column is lower-cased in SQL (it is not stored lower-cased)
#   ("member", leaf)                        the leaf on the group's members (EXISTS)
#   ("and", *terms), ("or", *terms), ("not", term)
Shape: TypeAlias = tuple[Any, ...]
_LIKE_ESCAPE = "/"
_LIKE = {
    CompareOperator.co: ("%", "%"),
    CompareOperator.sw: ("", "%"),
    CompareOperator.ew: ("%", ""),
}


def _like_pattern(op: CompareOperator, value: str) -> str:
    """co, sw and ew as a LIKE pattern, its wildcards escaped (what SQLAlchemy's autoescape=True does)."""
    escaped = value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", "/%").replace("_", "/_")
    before, after = _LIKE[op]
    return before + escaped + after


@dataclass(frozen=True)
class Compiled:
    """A filter's shape and its values by bindparam name (`filter_0`, …)."""

    shape: Shape
    params: dict[str, Any]


class _Compiler(FilterVisitor[Shape]):
    """The walk of a filter's tree: every check (invalidFilter), the shape, and the values in order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.attributes = USER_ATTRIBUTES if kind == "User" else GROUP_ATTRIBUTES
        self.urns = (USER_URN, ENTERPRISE_URN) if kind == "User" else (GROUP_URN,)
        self.values: list[Any] = []

    def _value(self, value: Any) -> int:
        self.values.append(value)
        return len(self.values) - 1

    # --- the tree ---
    def visit_logical_expr(self, node: LogicalExpr) -> Shape:
        terms = [self.visit(term) for term in node.terms]
        return ("and" if node.op == LogicalOperator.and_ else "or", *terms)

    def visit_not(self, node: Not) -> Shape:
        return ("not", self.visit(node.expr))

    def visit_present(self, node: Present) -> Shape:
        key = attribute_key(node.attr_path, self.urns)
        self._attribute(key)
        if self._is_member(key):
            return ("members_present",)
        return ("present", key)

    def visit_comparison(self, node: Comparison) -> Shape:
        key = attribute_key(node.attr_path, self.urns)
        return self.compare(key, node.op, node.value)

    def visit_value_path(self, node: ValuePath) -> Shape:
        key = attribute_key(node.attr_path, self.urns)
        if self.kind == "User" and key == "emails":
            return _EmailCompiler(self).visit(node.val_filter)
        if self.kind == "Group" and key == "members":
            return _MemberCompiler(self).visit(node.val_filter)
        raise invalid(f"{node.attr_path} has no values to select with [...].")

    # --- attributes ---
    def _attribute(self, key: str) -> Attribute:
        attribute = self.attributes.get(key)
        if attribute is None:
            raise invalid(f"The portal cannot filter {self.kind} resources on {key!r}.")
        return attribute

    def _is_member(self, key: str) -> bool:
        return self.kind == "Group" and key in {"members", "members.value"}

    def compare(self, key: str, op: CompareOperator, value: Any) -> Shape:
        attribute = self._attribute(key)
        condition = self._condition(key, attribute, op, value)
        if self._is_member(key):
            return ("member", condition)
        return condition

    def _condition(self, key: str, attribute: Attribute, op: CompareOperator, value: Any) -> Shape:
        if attribute.type == "boolean":  # active: status is not 'disabled'
            if op not in (CompareOperator.eq, CompareOperator.ne):
                raise invalid(f"{key} is a boolean: only eq and ne compare it.")
            return ("active", _boolean(value) == (op == CompareOperator.eq))
        if attribute.type == "reference":
            if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, str):
                raise invalid(f"{key} is an id: only eq and ne compare it, with a string.")
            wanted_id = parse_uuid(value)
            if wanted_id is None:  # no resource has such an id
                return ("false",) if op == CompareOperator.eq else ("true",)
            return ("cmp", key, op, self._value(wanted_id))
        if attribute.type == "dateTime":
            if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
                raise invalid(f"{key} is a dateTime: co, sw and ew do not compare it.")
            return ("cmp", key, op, self._value(_parse_datetime(value)))
        if not isinstance(value, str):
            if value is None and op in (CompareOperator.eq, CompareOperator.ne) and attribute.nullable:
                return ("null", key, op == CompareOperator.eq)
            raise invalid(f"{key} is a string: compare it with a quoted value.")
        folded = not attribute.lowered and not attribute.case_exact
        if attribute.lowered or folded:
            value = value.lower()
        if op in _LIKE:
            value = _like_pattern(op, value)
        return ("str", key, op, folded, self._value(value))

    def compiled(self, shape: Shape) -> Compiled:
        return Compiled((self.kind, shape), {_param_name(i): value for i, value in enumerate(self.values)})


def _param_name(index: int) -> str:
    return f"filter_{index}"


class _Builder:
    """The SQL of a shape, each value a bindparam (holding its value when given one: a statement not kept)."""

    def __init__(self, kind: str, params: dict[str, Any] | None = None) -> None:
        self.attributes = USER_ATTRIBUTES if kind == "User" else GROUP_ATTRIBUTES
        self.params = params

    def _bind(self, index: int) -> BindParameter[Any]:
        name = _param_name(index)
        return bindparam(name) if self.params is None else bindparam(name, self.params[name])

    def _column(self, key: str) -> Column:
        column = self.attributes[key].column
        if column is None:  # the user's display name: first and last joined
            return _display_name()
        return column

    def build(self, shape: Shape) -> ColumnElement[bool]:  # noqa: PLR0911 - one return per kind of node
        tag = shape[0]
        if tag in ("and", "or"):
            terms = [self.build(term) for term in shape[1:]]
            return and_(*terms) if tag == "and" else or_(*terms)
        if tag == "not":
            return not_(self.build(shape[1]))
        if tag == "true":
            return true()
        if tag == "false":
            return false()
        if tag == "members_present":
            return _members_exist()
        if tag == "member":
            return _members_exist(self.build(shape[1]))
        if tag == "present":
            column = self._column(shape[1])
            if self.attributes[shape[1]].type == "string":
                return and_(column.is_not(None), column != "")
            return column.is_not(None)
        if tag == "active":
            column = self._column("active")
            return column != UserStatus.DISABLED.value if shape[1] else column == UserStatus.DISABLED.value
        if tag == "null":
            column = self._column(shape[1])
            return column.is_(None) if shape[2] else column.is_not(None)
        if tag == "cmp":
            _tag, key, op, index = shape
            return _ordered(self._column(key), op, self._bind(index))
        _tag, key, op, folded, index = shape
        column = func.lower(self._column(key)) if folded else self._column(key)
        value = self._bind(index)
        condition = column.like(value, escape=_LIKE_ESCAPE) if op in _LIKE else _ordered(column, op, value)
        if self.attributes[key].nullable:  # NULL is no value: it matches nothing, and `not (…)` then matches it
            condition = and_(column.is_not(None), condition)
        return condition


def _members_exist(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(GroupMember.id).where(GroupMember.group_id == Group.id, *conditions))


def _ordered(column: Column, op: CompareOperator, value: Any) -> ColumnElement[bool]:
    comparisons: dict[CompareOperator, Callable[[Any, Any], ColumnElement[bool]]] = {
        CompareOperator.eq: lambda c, v: c == v,
        CompareOperator.ne: lambda c, v: c != v,
        CompareOperator.gt: lambda c, v: c > v,
        CompareOperator.ge: lambda c, v: c >= v,
        CompareOperator.lt: lambda c, v: c < v,
        CompareOperator.le: lambda c, v: c <= v,
    }
    return comparisons[op](column, value)


class _EmailCompiler(FilterVisitor[Shape]):
    """Inside emails[…]: `value` is the address; `type` is "work" and `primary` true for the one address."""

    def __init__(self, outer: _Compiler) -> None:
        self.outer = outer

    def visit_logical_expr(self, node: LogicalExpr) -> Shape:
        terms = [self.visit(term) for term in node.terms]
        return ("and" if node.op == LogicalOperator.and_ else "or", *terms)

    def visit_not(self, node: Not) -> Shape:
        return ("not", self.visit(node.expr))

    def visit_present(self, node: Present) -> Shape:
        name = node.attr_path.attr.lower()
        if name not in EMAIL_SUBATTRIBUTES:
            raise invalid(f"emails have no {node.attr_path.attr!r}.")
        return ("true",)

    def visit_comparison(self, node: Comparison) -> Shape:
        name = node.attr_path.attr.lower()
        if node.attr_path.sub_attr is not None or name not in EMAIL_SUBATTRIBUTES:
            raise invalid(f"emails have no {node.attr_path!s}.")
        if name == "value":
            return self.outer.compare("emails.value", node.op, node.value)
        constant = EMAIL_SUBATTRIBUTES[name]
        if isinstance(constant, bool):
            if node.op not in (CompareOperator.eq, CompareOperator.ne):
                raise invalid("primary is a boolean: only eq and ne compare it.")
            return ("true",) if (_boolean(node.value) == constant) == (node.op == CompareOperator.eq) else ("false",)
        if not isinstance(node.value, str):
            raise invalid("type is a string: compare it with a quoted value.")
        matched = _python_string(str(constant), node.op, node.value.lower())
        return ("true",) if matched else ("false",)

    def visit_value_path(self, _node: ValuePath) -> Shape:  # FilterVisitor.visit passes it positionally
        raise invalid("A value filter cannot hold another one.")


class _MemberCompiler(_EmailCompiler):
    """Inside members[…]: `value` is the member's id."""

    def visit_present(self, node: Present) -> Shape:
        if node.attr_path.attr.lower() not in {"value", "display", "type", "$ref"}:
            raise invalid(f"members have no {node.attr_path.attr!r}.")
        return ("members_present",)

    def visit_comparison(self, node: Comparison) -> Shape:
        if node.attr_path.attr.lower() != "value" or node.attr_path.sub_attr is not None:
            raise invalid("Members are filtered on their value (the user's id) only.")
        return self.outer.compare("members.value", node.op, node.value)


class _MemberRowCompiler(_MemberCompiler):
    """Inside members[…] of a PATCH path: a condition on group_members rows themselves (no EXISTS)."""

    def visit_present(self, _node: Present) -> Shape:  # FilterVisitor.visit passes it positionally
        return ("true",)

    def visit_comparison(self, node: Comparison) -> Shape:
        if node.attr_path.attr.lower() != "value" or node.attr_path.sub_attr is not None:
            raise invalid("Members are filtered on their value (the user's id) only.")
        attribute = self.outer.attributes["members.value"]
        return self.outer._condition("members.value", attribute, node.op, node.value)


def member_condition(val_filter: FilterNode) -> ColumnElement[bool]:
    """The condition on group_members rows of a members[…] value filter (a PATCH path)."""
    outer = _Compiler("Group")
    compiled = outer.compiled(_MemberRowCompiler(outer).visit(val_filter))
    return _Builder("Group", compiled.params).build(compiled.shape[1])


def _python_string(constant: str, op: CompareOperator, value: str) -> bool:
    checks: dict[CompareOperator, Callable[[str, str], bool]] = {
        CompareOperator.eq: lambda c, v: c == v,
        CompareOperator.ne: lambda c, v: c != v,
        CompareOperator.co: lambda c, v: v in c,
        CompareOperator.sw: lambda c, v: c.startswith(v),
        CompareOperator.ew: lambda c, v: c.endswith(v),
        CompareOperator.gt: lambda c, v: c > v,
        CompareOperator.ge: lambda c, v: c >= v,
        CompareOperator.lt: lambda c, v: c < v,
        CompareOperator.le: lambda c, v: c <= v,
    }
    return checks[op](constant, value)


def parse(text: str) -> FilterNode:
    """The filter's tree; invalidFilter when it does not parse."""
    if len(text) > MAX_LENGTH:
        raise invalid(f"A filter may be at most {MAX_LENGTH} characters long.")
    try:
        return ScimFilter(text).ast
    except Exception as error:  # noqa: BLE001 - the parser's every refusal is the client's bad filter
        raise invalid(f"The filter does not parse: {error}") from None


def compile_filter(text: str, kind: str) -> Compiled:
    """A SCIM filter on Users or Groups (kind "User" or "Group") checked, as its shape and its values: the SQL is
    `condition(shape)`, bound with the values (invalidFilter when the portal cannot evaluate it)."""
    compiler = _Compiler(kind)
    return compiler.compiled(compiler.visit(parse(text)))


def condition(shape: Shape) -> ColumnElement[bool]:
    """The SQL condition of a filter's shape (from compile_filter), each value a bindparam named as in its params.
    Built anew each call: the statements that hold it are kept per shape."""
    kind, tree = shape
    return _Builder(kind).build(tree)
