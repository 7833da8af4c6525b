"""The exception tree of fleetray.

Every error the platform raises on purpose derives from :class:`FleetrayError`, so callers can
catch one type and show its message, which always says what was wrong and what to do::

    FleetrayError
    ├── ConfigError                 a setting has a bad value
    ├── SchemaValidationError       a message does not match the wire format (also a ValueError)
    ├── TopicError                  an MQTT or Kafka topic does not follow the naming scheme
    ├── MissingExtraError           an optional dependency is not installed
    ├── StorageError
    │   ├── DatabaseUnreachableError    the database at the configured URL does not answer
    │   ├── MigrationError              a migration failed or the recorded history is inconsistent
    │   ├── NotFoundError               no such object for this tenant
    │   └── ConflictError               the object exists already, or its state forbids the change
    ├── ObjectStoreError
    │   ├── ObjectNotFoundError         no object at that key
    │   └── UploadError                 a multipart upload is unknown, expired or incomplete
    ├── ServiceError                an embedded service (broker, database) did not start
    ├── ConnectorError              a manufacturer's cloud refused or failed a request
    ├── SimulationError             the simulator was given an impossible configuration
    └── LearningError
        ├── DataSpecError               a training data spec names a missing column or a bad value
        ├── TrainingDataError           the data cannot train a model (no failures, no usable column)
        ├── FeatureVersionError         a model's features cannot be computed by this code
        └── RegistryError               a model version is unknown or its stage forbids the change
"""

from __future__ import annotations


class FleetrayError(Exception):
    """Base class of every error fleetray raises on purpose."""


class ConfigError(FleetrayError):
    """A setting has a value fleetray cannot use."""


class SchemaValidationError(FleetrayError, ValueError):
    """A message does not match the wire format.

    Attributes:
        problems: one ``(field path, value, expectation)`` triple per problem found.
    """

    def __init__(self, kind: str, problems: list[tuple[str, object, str]]) -> None:
        self.kind = kind
        self.problems = problems
        lines = [f"{kind}.{field}: got {value!r}, expected {expected}" for field, value, expected in problems]
        super().__init__("; ".join(lines))


class TopicError(FleetrayError, ValueError):
    """A topic name does not follow fleetray's naming scheme."""


class MissingExtraError(FleetrayError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class StorageError(FleetrayError):
    """The relational store failed."""


class DatabaseUnreachableError(StorageError):
    """The database at the configured URL does not answer."""


class MigrationError(StorageError):
    """A migration failed, or the applied history does not match the migration files."""


class NotFoundError(StorageError, LookupError):
    """No such object for this tenant (another tenant's object is reported exactly the same way)."""


class ConflictError(StorageError):
    """The object exists already, or its current state does not allow the change."""


class ObjectStoreError(FleetrayError):
    """The object store failed."""


class ObjectNotFoundError(ObjectStoreError, FileNotFoundError):
    """No object exists at the requested key."""


class LakeError(ObjectStoreError):
    """Rows could not be written to the Parquet lake (they stay buffered for the next attempt)."""


class UploadError(ObjectStoreError):
    """A multipart upload is unknown, expired, tampered with or incomplete."""


class ServiceError(FleetrayError):
    """An embedded service could not be started or reached."""


class ConnectorError(FleetrayError):
    """A manufacturer's cloud refused or failed a request; ``retry_after_s`` is set when it said when to retry."""

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(message)


class SimulationError(FleetrayError, ValueError):
    """The simulator was given an impossible configuration."""


class ReportError(FleetrayError, ValueError):
    """A report was asked for a week that does not exist or has not begun, or for an unknown tenant."""


class LearningError(FleetrayError):
    """Training, registering or scoring a model failed."""


class DataSpecError(LearningError, ValueError):
    """A training data spec names a missing column, an unknown option or a value of the wrong kind."""


class TrainingDataError(LearningError, ValueError):
    """The data cannot train a model: no failures to learn from, no usable signal, too few units."""


class FeatureVersionError(LearningError):
    """A model was trained on features this code cannot compute (another feature set or code version)."""


class RegistryError(LearningError):
    """A model version is unknown, or its stage does not allow the change asked for."""
