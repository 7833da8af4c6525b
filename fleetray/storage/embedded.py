"""The embedded PostgreSQL: a real server from the ``pgserver`` package, inside the data dir."""

from __future__ import annotations

import logging
from pathlib import Path

from fleetray.errors import ServiceError

logger = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir``.

    Several processes may open the same directory; pgserver shares one server between them and
    stops it when the last one lets go, so ``fleetray robots`` run beside ``fleetray demo`` talks
    to the demo's server, and Ctrl-C leaves no postgres behind.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server = None

    def start(self) -> str:
        """Start (or join) the server and return its connection URL."""
        try:
            import pgserver
        except ImportError as err:
            raise ServiceError(
                'the embedded PostgreSQL needs pgserver: pip install "fleetray[platform]", '
                "or set FLEETRAY_DATABASE_URL to a PostgreSQL server"
            ) from err
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        except Exception as err:  # pgserver raises bare exceptions from initdb/pg_ctl
            raise ServiceError(
                f"the embedded PostgreSQL in {self.data_dir} did not start: {err}. "
                f"Remove {self.data_dir} if it is left over from another PostgreSQL version."
            ) from err
        url = self._server.get_uri()
        logger.debug("embedded PostgreSQL running in %s", self.data_dir)
        return url

    def stop(self) -> None:
        """Let go of the server; it stops once no other process uses it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
