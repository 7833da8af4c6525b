"""The agent's errors, all under :class:`EdgeError` (itself a ``FleetrayError``)::

EdgeError
├── AgentConfigError    agent.toml or a remote config has a bad value (names the field)
├── SpoolError          the store-and-forward queue cannot be opened, read or written
├── SourceError         a source cannot start (missing bag, ROS not installed, bad URL)
├── RecorderError       a segment or bag cannot be written
└── UploadFailedError   the platform refused or lost a bag upload
"""

from __future__ import annotations

from fleetray.errors import ConfigError, FleetrayError


class EdgeError(FleetrayError):
    """Base of every error the agent raises on purpose."""


class AgentConfigError(EdgeError, ConfigError):
    """The agent's configuration has a value it cannot use."""


class SpoolError(EdgeError):
    """The on-disk queue cannot be used."""


class SourceError(EdgeError):
    """A source of messages cannot start."""


class RecorderError(EdgeError):
    """The rolling recorder cannot write a segment or a bag."""


class UploadFailedError(EdgeError):
    """A bag upload was refused or did not arrive whole."""
