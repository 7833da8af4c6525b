"""fleetray: an open platform for fleets of service robots, built on Ray.

Importing this package is cheap on purpose: the robot-side agent imports ``fleetray.schemas``,
so nothing here may pull in Ray, torch, xgboost or a database driver.
"""

from __future__ import annotations

from fleetray.errors import FleetrayError

__version__ = "0.1.0"

__all__ = ["FleetrayError", "__version__"]
