"""The compiled decoder against the pydantic model it comes from: the same verdicts, the same values."""

from __future__ import annotations

import json
import random
from datetime import UTC
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from fleetray.errors import SchemaValidationError
from fleetray.schemas import PayloadError, Telemetry, parse_message
from fleetray.wire import TELEMETRY, CompiledModel, CompileError, dump
from tests.fleetray.test_schemas import telemetry_dict


def outcome(decode: Any, document: bytes) -> tuple[str, Any]:
    try:
        return "ok", decode(document)
    except PayloadError as err:
        return "payload", err.reason
    except SchemaValidationError as err:
        return "schema", err.problems


def assert_same(document: bytes) -> None:
    """The compiled decoder gives what the model gives: its values as a struct, or its error."""
    expected_kind, expected = outcome(lambda d: parse_message(Telemetry, d), document)
    kind, got = outcome(TELEMETRY.decode, document)
    assert kind == expected_kind, document
    if kind == "ok":
        assert dump(got) == expected.model_dump(mode="json"), document
        assert got.ts == expected.ts and got.ts.tzinfo is UTC
        assert got == TELEMETRY.from_model(expected)
    else:
        assert repr(got) == repr(expected)  # NaN, a value some problems name, equals nothing


def encoded(**overrides: object) -> bytes:
    return json.dumps(telemetry_dict(**overrides)).encode()


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"ts": "2026-11-27T12:00:00.5+02:00"},  # an offset: converted to UTC
        {"ts": "2026-11-27T10:00:00.1234567Z"},  # seven decimals: pydantic truncates
        {"ts": "2026-11-27T10:00:00"},  # no zone: refused
        {"ts": 1_764_237_600},  # seconds since the epoch: pydantic takes them
        {"ts": "2026-11-27 10:00:00z"},
        {"seq": 5.0},
        {"seq": 2**63},
        {"seq": 2**63 - 1},
        {"battery": {"soc": "0.5"}},  # a number as text: lax pydantic takes it
        {"battery": {"soc": 1.5}},
        {"battery": {"soc": 1, "charging": 1}},
        {"components": {"main_brush": {}, "vacuum": {"temp_c": None, "rpm": 17800}}},
        {"components": {"Main": {"rpm": 1}}},
        {"components": {f"part_{n}": {"rpm": n} for n in range(65)}},
        {"metrics": {"x": 1e308, "y": -0.0}},
        {"system": None, "pose": None, "velocity": None, "battery": None},
        {"robot_id": "r1\n"},  # Rust's $ ends the text; Python's would allow a final newline
        {"task_id": "ü" * 128},
        {"task_id": "ü" * 129},
        {"status": "sleeping"},
        {"extra": 1},
        {"v": 2},
    ],
)
def test_the_compiled_decoder_agrees_with_the_model(overrides: dict[str, object]) -> None:
    assert_same(encoded(**overrides))


@pytest.mark.parametrize(
    "document",
    [
        b"{not json",
        b"[]",
        b"",
        encoded().replace(b'"wheel_vibration_g": 0.07', b'"wheel_vibration_g": NaN'),
        encoded().replace(b'"wheel_vibration_g": 0.07', b'"wheel_vibration_g": 1e999'),
        encoded().replace(b'"r-001"', b'"r-\\u0030\\u0031"'),  # an escape: the model's path, same value
        encoded() + b" ",
        encoded().replace(b'"seq": 42', b'"seq": 42, "seq": 43'),
    ],
)
def test_malformed_and_unusual_documents_get_the_models_verdict(document: bytes) -> None:
    assert_same(document)


def test_random_documents_get_the_same_verdicts_and_values() -> None:
    """Values of every kind put into every field, nested ones included."""
    rnd = random.Random(7)
    odd_values: list[Any] = [
        None,
        True,
        0,
        -1,
        1,
        2.5,
        -7.5,
        1e6,
        1e308,
        "x",
        "",
        "1.5",
        "cleaning",
        [],
        {},
        {"a": 1},
        2**64,
        "2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00.1234567+01:00",
        0.1 + 0.2,
    ]
    for _ in range(1500):
        data = telemetry_dict()
        path = [rnd.choice(list(data))]
        target: Any = data
        while isinstance(target[path[-1]], dict) and target[path[-1]] and rnd.random() < 0.7:
            target = target[path[-1]]
            path.append(rnd.choice(list(target)))
        target[path[-1]] = rnd.choice(odd_values)
        assert_same(json.dumps(data).encode())


def test_a_decoded_sample_dumps_and_encodes_as_the_model_does() -> None:
    message = TELEMETRY.decode(encoded(components={"main_brush": {"rpm": 380}}, system={"cpu": 5.0}))
    model = Telemetry.model_validate_json(encoded(components={"main_brush": {"rpm": 380}}, system={"cpu": 5.0}))
    # Readings are stored without the values they lack, as pydantic's exclude_none wrote them.
    assert msgspec.json.decode(msgspec.json.encode(message.components)) == {"main_brush": {"rpm": 380.0}}
    assert msgspec.json.decode(msgspec.json.encode(message.system)) == {"cpu": 5.0}
    assert dump(message) == model.model_dump(mode="json")


def test_models_the_compiler_cannot_mirror_are_refused_when_compiled() -> None:
    class Lax(BaseModel):
        model_config = ConfigDict(extra="allow")
        x: float

    class Validated(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
        x: float

        @field_validator("x")
        @classmethod
        def _double(cls, value: float) -> float:
            return 2 * value

    class Listed(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
        xs: list[float]

    for model, problem in ((Lax, "forbid unknown fields"), (Validated, "validators"), (Listed, "does not compile")):
        with pytest.raises(CompileError, match=problem):
            CompiledModel(model)


def test_patterns_are_matched_on_every_document_not_only_the_first() -> None:
    """Strings a pattern accepted are remembered; one it refused is refused again, and goes to the model."""
    for _ in range(2):
        assert_same(encoded(robot_id="r-001", components={"main_brush": {"rpm": 1}}, metrics={"load": 0.5}))
        assert_same(encoded(robot_id="r-001\n"))
        assert_same(encoded(components={"Main_brush": {"rpm": 1}}))
        assert_same(encoded(metrics={"load": 0.5, "9load": 1.0}))
