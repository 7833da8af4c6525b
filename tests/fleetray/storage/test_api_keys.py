from datetime import UTC, datetime, timedelta

import pytest

from fleetray.errors import ConfigError
from fleetray.inventory import RobotRecord, TenantRecord
from fleetray.storage import Database
from fleetray.storage.api_keys import Role, create_key, list_keys, revoke_key, verify_key
from fleetray.storage.fleet import upsert_robots, upsert_tenant


@pytest.fixture
def tenants(db: Database) -> tuple[str, str]:
    with db.connect() as conn:
        for tenant in ("acme", "globex"):
            upsert_tenant(conn, TenantRecord(tenant_id=tenant, name=tenant.title()))
        upsert_robots(
            conn, [RobotRecord(tenant_id="acme", robot_id="r1", manufacturer="Gausium", model="Phantas", serial="s1")]
        )
    return "acme", "globex"


def test_a_key_verifies_and_is_stored_only_as_a_hash(db: Database, tenants: tuple[str, str]) -> None:
    with db.connect() as conn:
        issued = create_key(conn, "acme", "operator", description="night shift")
        key = verify_key(conn, issued.token)
        stored, last_used = conn.execute(
            "SELECT key_hash, last_used_at FROM api_keys WHERE key_id = %s", (issued.key.key_id,)
        ).fetchone()
    assert key is not None and (key.tenant_id, key.role, key.key_id) == ("acme", Role.OPERATOR, issued.key.key_id)
    secret = issued.token.split("_", 2)[2]
    assert secret not in stored and issued.token not in stored
    assert last_used is not None


def test_wrong_unknown_malformed_revoked_and_expired_keys_fail_alike(db: Database, tenants: tuple[str, str]) -> None:
    with db.connect() as conn:
        issued = create_key(conn, "acme", "viewer", expires_at=datetime.now(UTC) + timedelta(hours=1))
        key_id = issued.key.key_id
        tampered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
        unknown = f"fr_{'0' * 16}_{issued.token.split('_', 2)[2]}"
        assert verify_key(conn, tampered) is None
        assert verify_key(conn, unknown) is None
        assert verify_key(conn, "not a key") is None
        assert verify_key(conn, issued.token, now=datetime.now(UTC) + timedelta(hours=2)) is None
        assert verify_key(conn, issued.token) is not None
        assert revoke_key(conn, "acme", key_id)
        assert verify_key(conn, issued.token) is None
        assert not revoke_key(conn, "acme", key_id)


def test_keys_are_scoped_to_their_tenant(db: Database, tenants: tuple[str, str]) -> None:
    with db.connect() as conn:
        issued = create_key(conn, "acme", "admin")
        assert not revoke_key(conn, "globex", issued.key.key_id)
        assert list_keys(conn, "globex") == []
        assert [k.key_id for k in list_keys(conn, "acme")] == [issued.key.key_id]
        assert verify_key(conn, issued.token) is not None


def test_bad_requests_name_what_is_wrong(db: Database, tenants: tuple[str, str]) -> None:
    with db.connect() as conn:
        with pytest.raises(ConfigError, match="'root' is not one of admin, operator"):
            create_key(conn, "acme", "root")
        with pytest.raises(ConfigError, match="device key needs --robot"):
            create_key(conn, "acme", "device")
        with pytest.raises(ConfigError, match="only a device key"):
            create_key(conn, "acme", "viewer", robot_id="r1")
        with pytest.raises(ConfigError, match="robot 'r9' is not registered"):
            create_key(conn, "acme", "device", robot_id="r9")
        with pytest.raises(ConfigError, match="tenant 'initech' does not exist"):
            create_key(conn, "initech", "viewer")
        with pytest.raises(ConfigError, match="not in the future"):
            create_key(conn, "acme", "viewer", expires_at=datetime.now(UTC) - timedelta(seconds=1))
        device = create_key(conn, "acme", "device", robot_id="r1")
    assert device.key.robot_id == "r1"
