from __future__ import annotations

import pytest

from fleetray.errors import DatabaseUnreachableError, StorageError
from fleetray.services.ports import free_port
from fleetray.storage import Database
from fleetray.storage.database import describe_host


def test_unreachable_database_fails_with_one_line_naming_the_host() -> None:
    port = free_port()
    database = Database(f"postgresql://fleet:secret@127.0.0.1:{port}/fleet", connect_timeout_s=2)
    with pytest.raises(DatabaseUnreachableError) as caught, database.connect():
        pass
    message = str(caught.value)
    assert f"127.0.0.1:{port}/fleet" in message
    assert "FLEETRAY_DATABASE_URL" in message
    assert "secret" not in message
    assert "\n" not in message


def test_describe_host_hides_credentials_and_handles_sockets() -> None:
    assert describe_host("postgresql://u:p@db.example:6432/fleet") == "db.example:6432/fleet"
    assert describe_host("postgresql://postgres:@/postgres?host=/tmp/pg") == "/tmp/pg:5432/postgres"


def test_public_schema_is_never_dropped(postgres_url: str) -> None:
    with pytest.raises(StorageError, match="public"):
        Database(postgres_url).drop_schema()
