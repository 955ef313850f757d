"""The wire format: a strict cattrs converter for JSON payloads and JSON columns.

``make_converter()`` turns domain objects into plain JSON-ready data and back. It is
strict because a CRM that guesses corrupts customer data quietly:

* no silent coercion: ``1.9`` is not an int, ``"false"`` is not a bool, ``1`` is not a
  string, ``True`` is not a risk level;
* decimals (money amounts) come from strings or integers only, never floats or NaN;
* instants are ISO 8601 strings with an offset (naive ones are refused) and come back
  as UTC; dates are ``YYYY-MM-DD``;
* unknown keys are refused; a record must be a JSON object, a list a JSON array;
* every failure is one :class:`~finance_crm.errors.ValidationError` whose problems are
  path-qualified (``$.identity_documents[0].number``) and never echo the value.

Customers are tagged by ``"kind"`` (``"individual"`` or ``"corporate"``).
"""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
import pendulum
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from finance_crm.errors import AuthenticationDataRefused, CrmError, Problem, ValidationError
from finance_crm.model.customers import (
    CorporateCustomer,
    Customer,
    CustomerKind,
    IndividualCustomer,
    _check_json,
)
from finance_crm.money import Money, currency

__all__ = ["WireConverter", "make_converter"]

T = TypeVar("T")

_MAX_INT = 2**63 - 1
_CUSTOMER_TYPES: dict[str, type[Customer]] = {
    CustomerKind.INDIVIDUAL.value: IndividualCustomer,
    CustomerKind.CORPORATE.value: CorporateCustomer,
}


class _Refused(ValueError):
    """A structure hook refused a value; the message is safe to show (no value in it)."""


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _expect(what: str, value: object) -> _Refused:
    return _Refused(f"expected {what}, got {_type_name(value)}")


def _structure_int(value: object, target: type) -> int:
    if issubclass(target, enum.Enum):  # IntEnum reaches here through int's hook
        return _structure_enum(value, target)  # type: ignore[return-value]
    if type(value) is not int:
        raise _expect("an integer", value)
    if abs(value) > _MAX_INT:
        raise _Refused("integer out of range (at most 2**63-1 in magnitude)")
    return value


def _structure_str(value: object, target: type) -> str:
    if issubclass(target, enum.Enum):  # so does StrEnum through str's
        return _structure_enum(value, target)  # type: ignore[return-value]
    if not isinstance(value, str):
        raise _expect("a string", value)
    return value


def _structure_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise _expect("true or false", value)
    return value


def _structure_decimal(value: object, _: type) -> decimal.Decimal:
    if type(value) is int:
        return decimal.Decimal(value)
    if not isinstance(value, str):
        raise _expect('a decimal as a string such as "12.30" (never a float)', value)
    try:
        result = decimal.Decimal(value.strip())
    except decimal.InvalidOperation:
        raise _Refused("not a decimal number") from None
    if not result.is_finite():
        raise _Refused("NaN and Infinity are not numbers here")
    if abs(result.adjusted()) > 30:
        raise _Refused("decimal out of range")
    return result


def _structure_date(value: object, _: type) -> datetime.date:
    if not isinstance(value, str) or len(value) != 10:
        raise _expect("a date as YYYY-MM-DD", value)
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise _Refused("not a valid date (YYYY-MM-DD)") from None


def _structure_datetime(value: object, _: type) -> datetime.datetime:
    if not isinstance(value, str):
        raise _expect("an ISO 8601 instant with an offset", value)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise _Refused("not an ISO 8601 instant") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Refused("naive datetime: give an offset such as +08:00 or Z")
    return pendulum.instance(parsed).in_timezone("UTC")


@functools.lru_cache(maxsize=256)  # a batch stamps many records with the same instant
def _unstructure_datetime(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _structure_uuid(value: object, _: type) -> uuid.UUID:
    if not isinstance(value, str):
        raise _expect("a UUID string", value)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _Refused("not a UUID") from None


def _structure_enum(value: object, cls: type[enum.Enum]) -> enum.Enum:
    # Exact type match: IntEnum(3.0) and IntEnum(True) would otherwise "work".
    for member in cls:
        if type(member.value) is type(value) and member.value == value:
            return member
    allowed = ", ".join(repr(m.value) for m in cls)
    raise _Refused(f"expected one of {allowed}")


def _structure_money(value: object, _: type) -> Money:
    if not isinstance(value, Mapping):
        raise _expect('an object {"amount": "12.30", "currency": "CNY"}', value)
    extra = set(value) - {"amount", "currency"}
    if extra:
        raise ForbiddenExtraKeysError("", Money, extra)
    if "amount" not in value or "currency" not in value:
        raise _Refused('money needs "amount" and "currency"')
    amount = _structure_decimal(value["amount"], decimal.Decimal)
    code = _structure_str(value["currency"], str)
    return Money(amount, currency(code))


def _unstructure_money(value: Money) -> dict[str, str]:
    return {"amount": str(value.amount), "currency": value.currency.code}


def _is_sequence_type(t: Any) -> bool:
    return get_origin(t) in (tuple, list, frozenset, set)


def _is_set_type(t: Any) -> bool:
    return get_origin(t) in (frozenset, set) or t in (frozenset, set)


def _json_value(value: object, _: type) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _expect("an object", value)
    problems: list[Problem] = []
    _check_json(value, "$", problems)
    if problems:
        raise ValidationError(problems)
    return value


class WireConverter(cattrs.Converter):
    """A :class:`cattrs.Converter` that raises :class:`ValidationError` and speaks JSON."""

    def structure(self, obj: Any, cl: Any) -> Any:
        try:
            return super().structure(obj, cl)
        except RecursionError:
            raise ValidationError("nested too deeply", path="$") from None
        except Exception as exc:  # every failure becomes one ValidationError
            kind = AuthenticationDataRefused if _refused_authentication(exc) else ValidationError
            raise kind(_problems(exc, "$")) from None

    def structure_inner(self, obj: Any, cl: Any) -> Any:
        """Structure without translating errors (for hooks that nest structuring)."""
        return super().structure(obj, cl)

    def loads(self, text: str | bytes, cl: type[T]) -> T:
        """Parse JSON text and structure it; malformed JSON is a ValidationError too."""
        if not isinstance(text, (str, bytes, bytearray)):
            raise ValidationError("expected JSON text (str or bytes)", path="$")
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except _Refused as exc:
            raise ValidationError(str(exc), path="$") from None
        except RecursionError:
            raise ValidationError("JSON nested too deeply", path="$") from None
        except UnicodeDecodeError:
            raise ValidationError("malformed JSON: not valid UTF-8 text", path="$") from None
        except ValueError as exc:  # JSONDecodeError, or an integer too long to parse
            where = (
                f"line {exc.lineno} column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else "a number"
            )
            raise ValidationError(f"malformed JSON at {where}", path="$") from None
        result: T = self.structure(data, cl)
        return result

    def dumps(self, obj: object) -> str:
        """Unstructure to compact, key-sorted JSON text."""
        return json.dumps(
            self.unstructure(obj), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )


def _refused_authentication(exc: BaseException) -> bool:
    if isinstance(exc, AuthenticationDataRefused):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_refused_authentication(e) for e in exc.exceptions)
    return False


def _refuse_constant(name: str) -> Any:
    raise _Refused("NaN and Infinity are not valid JSON numbers here")


def _problems(exc: BaseException, path: str) -> list[Problem]:
    if isinstance(exc, ClassValidationError):
        named, without = exc.group_exceptions()
        found = [p for e, note in named for p in _problems(e, f"{path}.{note.name}")]
        return found + [p for e in without for p in _problems(e, path)]
    if isinstance(exc, IterableValidationError):
        indexed, rest = exc.group_exceptions()
        found = [p for e, note in indexed for p in _problems(e, f"{path}[{note.index!r}]")]
        without = rest
        return found + [p for e in without for p in _problems(e, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        names = ", ".join(sorted(repr(k)[:40] for k in exc.extra_fields))
        return [Problem(path, f"unknown field(s) {names}; remove them")]
    if isinstance(exc, ValidationError):
        return [Problem(path + p.path.removeprefix("$"), p.message) for p in exc.problems]
    if isinstance(exc, CrmError):
        return [Problem(path, str(exc))]
    if isinstance(exc, KeyError):
        return [Problem(path, "required field missing")]
    if isinstance(exc, _Refused):
        return [Problem(path, str(exc))]
    # Anything else (TypeError from a constructor, ...) may quote the value: say less.
    return [Problem(path, "invalid value")]


def _mapping_guard(fn: Callable[[Any, Any], Any], cl: type) -> Callable[[Any, Any], Any]:
    def structure(value: Any, target: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _expect(f"an object ({cl.__name__})", value)
        return fn(value, target)

    return structure


def make_converter() -> WireConverter:
    """The strict JSON converter for every finance_crm domain type.

    >>> from finance_crm.serialization import make_converter
    >>> from finance_crm.model.customers import RiskLevel
    >>> make_converter().structure(3, RiskLevel)
    <RiskLevel.BALANCED: 3>
    """
    conv = WireConverter(forbid_extra_keys=True, detailed_validation=True)

    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(decimal.Decimal, _structure_decimal)
    conv.register_unstructure_hook(decimal.Decimal, str)
    conv.register_structure_hook(uuid.UUID, _structure_uuid)
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_structure_hook_func(
        lambda t: t is datetime.date or t is pendulum.Date, _structure_date
    )
    conv.register_unstructure_hook_func(
        lambda t: (
            isinstance(t, type)
            and issubclass(t, datetime.date)
            and not issubclass(t, datetime.datetime)
        ),
        lambda d: d.isoformat(),
    )
    conv.register_structure_hook_func(
        lambda t: t is datetime.datetime or t is pendulum.DateTime, _structure_datetime
    )
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, datetime.datetime), _unstructure_datetime
    )
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _structure_enum
    )
    conv.register_structure_hook(Money, _structure_money)
    conv.register_unstructure_hook(Money, _unstructure_money)

    # A JSON array only: the default would iterate a string character by character.
    def sequence_hook(t: Any) -> Callable[[Any, Any], Any]:
        item_type = (get_args(t) or (Any,))[0]
        origin = get_origin(t)
        build = origin if origin in (tuple, frozenset, set) else list
        # None until first use: the item type's hook may be registered after this one.
        item_hook: list[Callable[[Any, Any], Any]] = []

        def structure_sequence(value: Any, _: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise _expect("an array", value)
            if not item_hook:
                item_hook.append(conv.get_structure_hook(item_type))
            hook = item_hook[0]
            try:
                return build([hook(item, item_type) for item in value])
            except Exception:
                pass  # slow path below: find every bad item and say where
            errors: list[Exception] = []
            for i, item in enumerate(value):
                try:
                    hook(item, item_type)
                except Exception as exc:
                    errors.append(_index_error(exc, i, item_type))
            if not errors:  # the failure did not repeat: try once more, loudly
                return build([hook(item, item_type) for item in value])
            raise IterableValidationError("while structuring an array", errors, t)

        return structure_sequence

    conv.register_structure_hook_factory(_is_sequence_type, sequence_hook)

    # Arrays out: a plain list comprehension with the item hook resolved once (cattrs'
    # generic iterable hook goes through a generator per field, on every customer).
    def unstructure_sequence_hook(t: Any) -> Callable[[Any], Any]:
        item_type = (get_args(t) or (Any,))[0]
        hook = conv.get_unstructure_hook(item_type) if item_type is not Any else conv.unstructure
        if _is_set_type(t):
            return lambda value: sorted(hook(x) for x in value) if value else []
        return lambda value: [hook(x) for x in value] if value else []

    conv.register_unstructure_hook_factory(
        lambda t: _is_sequence_type(t) or t in (frozenset, set), unstructure_sequence_hook
    )

    def attrs_structure_factory(cl: type) -> Callable[[Any, Any], Any]:
        overrides: dict[str, Any] = {}
        if "custom_attributes" in attrs.fields_dict(cl):
            overrides["custom_attributes"] = override(struct_hook=_json_value)
        fn: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cl, conv, _cattrs_forbid_extra_keys=True, **overrides
        )
        return _mapping_guard(fn, cl)

    def attrs_unstructure_factory(cl: type) -> Callable[[Any], Any]:
        return make_dict_unstructure_fn(cl, conv)

    conv.register_structure_hook_factory(attrs.has, attrs_structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, attrs_unstructure_factory)

    # Customers are tagged by kind; structuring the base class picks the subclass.
    direct = {cls: attrs_structure_factory(cls) for cls in _CUSTOMER_TYPES.values()}
    unstructure_direct = {cls: attrs_unstructure_factory(cls) for cls in _CUSTOMER_TYPES.values()}

    def structure_customer(value: Any, target: Any) -> Customer:
        if not isinstance(value, Mapping):
            raise _expect("an object (a customer)", value)
        kind = value.get("kind")
        cls = _CUSTOMER_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None or (target is not Customer and cls is not target):
            expected = (
                '"individual" or "corporate"' if target is Customer else repr(target.kind.value)
            )
            raise ClassValidationError(
                "while structuring a customer",
                [_named_error(_Refused(f"expected {expected}"), "kind")],
                Customer,
            )
        body = {k: v for k, v in value.items() if k != "kind"}
        result: Customer = direct[cls](body, cls)
        return result

    def unstructure_customer(value: Customer) -> dict[str, Any]:
        data: dict[str, Any] = unstructure_direct[type(value)](value)
        return {"kind": value.kind.value, **data}

    for cls in (Customer, *_CUSTOMER_TYPES.values()):
        conv.register_structure_hook(cls, structure_customer)
        conv.register_unstructure_hook(cls, unstructure_customer)
    return conv


def _index_error(exc: Exception, index: int, item_type: Any) -> Exception:
    from cattrs.errors import IterableValidationNote

    exc.__notes__ = [
        *getattr(exc, "__notes__", []),
        IterableValidationNote(f"Structuring item @ index {index}", index, item_type),
    ]
    return exc


def _named_error(exc: Exception, name: str) -> Exception:
    from cattrs.errors import AttributeValidationNote

    exc.__notes__ = [AttributeValidationNote(f"Structuring field {name}", name, str)]
    return exc
