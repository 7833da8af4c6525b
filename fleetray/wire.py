"""The wire models compiled to msgspec: the platform's ingestion hot path.

The pydantic models in :mod:`fleetray.schemas.messages` stay the one definition of the wire format: the API
and its OpenAPI document use them, and robots validate against them. For a model, :class:`CompiledModel`
derives msgspec structs with the same fields, defaults and constraints, and decodes a JSON document into
them in one C pass, and the structs are invisible to the garbage collector. Patterns of the top model's strings
and dict keys are matched after msgspec, against the strings already accepted: ids and names repeat sample
after sample. Where, as in a shard, thousands of distinct samples are decoded and kept, a telemetry sample
costs 3.5 µs, against 5.8 with msgspec matching every pattern itself; pydantic takes about twice that.

The compiled decoder accepts only a subset of what the model accepts, with the same values. It is strict
where pydantic is lax: a number given as a string, a timestamp given as seconds. It also takes no
timestamp that it might read differently: none without a zone, none with more than six decimals (msgspec
rounds them, pydantic truncates). Whatever it refuses goes to the model, which accepts it or says exactly
why not, so :meth:`CompiledModel.decode` always gives a struct or the model's own error.

Platform side only: robots import :mod:`fleetray.schemas`, which needs no msgspec.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
import types
import typing
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar, get_args, get_origin

import annotated_types
import msgspec
from pydantic import AwareDatetime, BaseModel, StringConstraints

from fleetray.schemas.encoding import parse_message
from fleetray.schemas.messages import Telemetry, WireModel

M = TypeVar("M", bound=WireModel)

# JSON has no NaN or infinity, but 1e999 parses to infinity, which the models refuse (allow_inf_nan=False).
_FINITE = {"ge": -sys.float_info.max, "le": sys.float_info.max}
# Seconds with more than six decimals anywhere in a document: a timestamp msgspec would round where pydantic
# truncates. Such documents take the model's path, as do those with a backslash (an escape could spell one;
# looking for any backslash is a quarter of the cost of looking for ``\u``).
_SUBMICROSECONDS = re.compile(rb":\d\d\.\d{7}")
# Strings a pattern accepted, kept up to this many per pattern before the memory starts over.
_MATCHED_LIMIT = 100_000
_STRING_OPTIONS = ("strip_whitespace", "to_upper", "to_lower", "strict", "ascii_only")


class CompileError(TypeError):
    """A wire model has a field the compiler cannot mirror exactly (teach it the case, with a test)."""


def _pattern(pattern: str) -> str:
    """Pydantic's regexes are Rust's, whose ``$`` ends the text; Python's ``$`` also matches before a final
    newline, so ``\\Z`` takes its place."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


def _meta(constraints: list[Any]) -> dict[str, Any]:
    """msgspec's constraints for pydantic's (those of ``annotated_types`` and ``StringConstraints``)."""
    meta: dict[str, Any] = {}
    for constraint in constraints:
        if isinstance(constraint, StringConstraints):
            if any(getattr(constraint, option) for option in _STRING_OPTIONS):
                raise CompileError(f"string constraint {constraint!r} has no msgspec equivalent")
            if constraint.pattern is not None:
                meta["pattern"] = _pattern(str(constraint.pattern))
            if constraint.min_length is not None:
                meta["min_length"] = constraint.min_length
            if constraint.max_length is not None:
                meta["max_length"] = constraint.max_length
        elif isinstance(constraint, annotated_types.Ge):
            meta["ge"] = constraint.ge
        elif isinstance(constraint, annotated_types.Le):
            meta["le"] = constraint.le
        elif isinstance(constraint, annotated_types.Gt):
            meta["gt"] = constraint.gt
        elif isinstance(constraint, annotated_types.Lt):
            if isinstance(constraint.lt, int) and constraint.lt > 2**62:
                meta["le"] = constraint.lt - 1  # msgspec's integer bounds must fit in 64 bits
            else:
                meta["lt"] = constraint.lt
        elif isinstance(constraint, annotated_types.MinLen):
            meta["min_length"] = constraint.min_length
        elif isinstance(constraint, annotated_types.MaxLen):
            meta["max_length"] = constraint.max_length
        else:
            raise CompileError(f"constraint {constraint!r} has no msgspec equivalent")
    return meta


def _constrained(kind: Any, constraints: list[Any], extra: dict[str, Any] | None = None) -> Any:
    meta = {**(extra or {}), **_meta(constraints)}
    return Annotated[kind, msgspec.Meta(**meta)] if meta else kind


class _Matcher:
    """A pattern, and the strings it accepted: robot ids, component and metric names repeat sample after
    sample, and msgspec would run the regex on each (half of its time per sample)."""

    def __init__(self, pattern: str) -> None:
        self._search = re.compile(pattern).search
        self.accepted: set[str] = set()

    def accepts(self, values: Iterable[str]) -> bool:
        """Whether the pattern matches every one of ``values`` (those it had not seen are matched now)."""
        for value in values:
            if value not in self.accepted:
                if self._search(value) is None:
                    return False
                if len(self.accepted) >= _MATCHED_LIMIT:
                    self.accepted.clear()
                self.accepted.add(value)
        return True


def _without_pattern(constraints: list[Any]) -> tuple[list[Any], str | None]:
    """The constraints less a string pattern, and that pattern (None if there is none)."""
    pattern = None
    kept = []
    for constraint in constraints:
        if isinstance(constraint, StringConstraints) and constraint.pattern is not None:
            pattern = _pattern(str(constraint.pattern))
            kept.append(dataclasses.replace(constraint, pattern=None))
        else:
            kept.append(constraint)
    return kept, pattern


class _Compiler:
    """Turns a model and the models it nests into msgspec struct types, once each."""

    def __init__(self) -> None:
        self.structs: dict[type[BaseModel], type[msgspec.Struct]] = {}
        # The top model's string fields and dict keys whose patterns are checked after msgspec decoded them.
        self.matched_fields: list[tuple[str, _Matcher]] = []
        self.matched_keys: list[tuple[str, _Matcher]] = []

    def top(self, model: type[BaseModel]) -> type[msgspec.Struct]:
        """``model``'s struct, its own fields' patterns left to :attr:`matched_fields` and :attr:`matched_keys`."""
        return self.struct(model, match_later=True)

    def struct(self, model: type[BaseModel], *, match_later: bool = False) -> type[msgspec.Struct]:
        compiled = self.structs.get(model)
        if compiled is not None:
            return compiled
        config = model.model_config
        if config.get("extra") != "forbid" or config.get("allow_inf_nan", True):
            raise CompileError(f"{model.__name__}: only models that forbid unknown fields and NaN compile")
        validators = set(model.__pydantic_decorators__.field_validators) - {"_to_utc"}  # done by decode()
        if validators or model.__pydantic_decorators__.model_validators:
            raise CompileError(f"{model.__name__}: its validators have no msgspec equivalent")
        fields: list[tuple] = []
        for name, info in model.model_fields.items():
            annotation, constraints = info.annotation, list(info.metadata)
            if match_later:
                annotation, constraints = self._match_later(name, annotation, constraints)
            kind = self.annotation(annotation, constraints)
            if info.is_required():
                fields.append((name, kind))
            elif info.default_factory is not None:
                fields.append((name, kind, msgspec.field(default_factory=info.default_factory)))
            else:
                fields.append((name, kind, info.default))
        # A reading of optional values (a component's, the computer's) is encoded without the values it lacks,
        # as the platform has always stored it (``exclude_none``).
        readings = all(info.default is None for info in model.model_fields.values())
        compiled = msgspec.defstruct(
            model.__name__,
            fields,
            kw_only=True,
            omit_defaults=readings,
            forbid_unknown_fields=True,
            frozen=True,
            gc=False,
            module=__name__,
        )
        self.structs[model] = compiled
        return compiled

    def _match_later(self, name: str, annotation: Any, constraints: list[Any]) -> tuple[Any, list[Any]]:
        """A top-level field's type and constraints less its pattern or its keys' (recorded to match later)."""
        if annotation is str:
            constraints, pattern = _without_pattern(constraints)
            if pattern is not None:
                self.matched_fields.append((name, _Matcher(pattern)))
        elif get_origin(annotation) is dict:
            key, value = get_args(annotation)
            if get_origin(key) is Annotated:
                key_type, *key_constraints = get_args(key)
                key_constraints, pattern = _without_pattern(key_constraints)
                if key_type is str and pattern is not None:
                    self.matched_keys.append((name, _Matcher(pattern)))
                    annotation = dict[Annotated[(str, *key_constraints)], value]
        return annotation, constraints

    def annotation(self, annotation: Any, constraints: list[Any]) -> Any:
        origin = get_origin(annotation)
        if origin is Annotated:
            inner, *metadata = get_args(annotation)
            return self.annotation(inner, [*metadata, *constraints])
        if origin in (typing.Union, types.UnionType):
            members = get_args(annotation)
            if constraints and (len(members) != 2 or type(None) not in members):
                raise CompileError(f"constraints on the union {annotation} do not compile")
            # On an optional field (``float | None = Field(ge=0)``) the constraints are the value's.
            return typing.Union[tuple(self.annotation(member, constraints) for member in members)]  # noqa: UP007
        if origin is dict:
            key, value = get_args(annotation)
            return _constrained(dict[self.annotation(key, []), self.annotation(value, [])], constraints)
        if annotation is type(None):
            return annotation  # an optional field's constraints are its value's
        if origin is Literal:
            if constraints:
                raise CompileError(f"constraints on {annotation} do not compile")
            return annotation
        return self._plain(annotation, constraints)

    def _plain(self, annotation: Any, constraints: list[Any]) -> Any:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.struct(annotation)
        if annotation is float:
            return _constrained(float, constraints, _FINITE)
        if annotation is AwareDatetime:
            kind: Any = datetime  # the zone and the decimals are checked by CompiledModel.decode
        elif annotation in (int, str, bool) or (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
            kind = annotation
        else:
            raise CompileError(f"annotation {annotation!r} does not compile")
        return _constrained(kind, constraints)


def _timestamp_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(name for name, info in model.model_fields.items() if info.annotation is AwareDatetime)


class CompiledModel(Generic[M]):
    """A wire model's compiled decoder. ``decode`` gives a frozen struct with the model's fields, its
    timestamps in UTC (as the model's validator makes them); nested models are structs too."""

    def __init__(self, model: type[M]) -> None:
        compiler = _Compiler()
        self.model = model
        self.struct = compiler.top(model)
        self._matched_fields, self._matched_keys = compiler.matched_fields, compiler.matched_keys
        for nested in compiler.structs:
            if nested is not model and _timestamp_fields(nested):
                raise CompileError(f"{nested.__name__}: timestamps of nested models do not compile")
        self._decoder = msgspec.json.Decoder(self.struct)
        self._timestamps = _timestamp_fields(model)

    def decode(self, document: bytes) -> Any:
        """The document's message as a struct.

        Raises:
            PayloadError, SchemaValidationError: as :func:`~fleetray.schemas.parse_message` does.
        """
        if b"\\" not in document and _SUBMICROSECONDS.search(document) is None:
            try:
                message = self._decoder.decode(document)
            except msgspec.MsgspecError:
                pass
            else:
                if self._matches(message):
                    changes = {}
                    for name in self._timestamps:
                        moment = getattr(message, name)
                        if moment.tzinfo is None:
                            break
                        if moment.tzinfo is not UTC:
                            changes[name] = moment.astimezone(UTC)
                    else:
                        return msgspec.structs.replace(message, **changes) if changes else message
        return self.from_model(parse_message(self.model, document))

    def _matches(self, message: Any) -> bool:
        """Whether the top-level strings and dict keys that have patterns match them."""
        for name, matcher in self._matched_fields:
            value = getattr(message, name)
            if value not in matcher.accepted and not matcher.accepts((value,)):
                return False
        for name, matcher in self._matched_keys:
            keys = getattr(message, name).keys()
            if not keys <= matcher.accepted and not matcher.accepts(keys):
                return False
        return True

    def from_model(self, message: M) -> Any:
        """A model instance as this decoder's struct (a message read the slow way, or from storage)."""
        return msgspec.convert(message.model_dump(), self.struct)


def dump(value: Any) -> Any:
    """A compiled struct (or what it holds) as JSON-able data, exactly as the model's
    ``model_dump(mode="json")`` gives it: with the values it lacks as None, times in pydantic's form."""
    if isinstance(value, msgspec.Struct):
        return {name: dump(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    return value


TELEMETRY = CompiledModel(Telemetry)
"""Telemetry's compiled decoder: the shards hold its structs."""

if TYPE_CHECKING:
    TelemetryStruct = Telemetry  # the same fields and attributes, as far as a type checker need know
else:
    TelemetryStruct = TELEMETRY.struct
