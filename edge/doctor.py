"""``fleetray-edge doctor``: every check a field technician needs, one line each, saying what is wrong."""

from __future__ import annotations

import email.utils
import shutil
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edge.config import AgentConfig, BagSource, Ros1Source, Ros2Source, read_secret
from edge.errors import EdgeError

MAX_CLOCK_SKEW_S = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _disk(config: AgentConfig) -> Check:
    path = config.data_dir if config.data_dir.exists() else config.data_dir.parent
    try:
        free_mb = shutil.disk_usage(path).free / 1e6
    except OSError as err:
        return Check("disk", False, f"{config.data_dir}: {err.strerror}")
    needed = config.disk_reserve_mb + config.spool.max_mb + config.remote.recorder.budget_mb
    if free_mb < needed:
        return Check(
            "disk",
            False,
            f"{free_mb:,.0f} MB free at {path}; the spool, the recorder and the reserve need {needed:,.0f} MB"
            " (lower spool.max_mb or recorder.budget_mb)",
        )
    return Check("disk", True, f"{free_mb:,.0f} MB free at {path}")


def _credentials(config: AgentConfig) -> Check:
    files = [
        ("MQTT password", config.broker.password_file),
        ("CA file", config.broker.ca_file),
        ("client certificate", config.broker.cert_file),
        ("client key", config.broker.key_file),
    ]
    if config.api is not None:
        files.append(("device key", config.api.device_key_file))
    for what, path in files:
        if path is None:
            continue
        try:
            if not read_secret(path, what):
                return Check("credentials", False, f"the {what} file {path} is empty")
        except EdgeError as err:
            return Check("credentials", False, str(err))
    if config.spool.encryption_key:
        from edge.crypto import load_key

        try:
            load_key(config.spool.encryption_key)
        except EdgeError as err:
            return Check("credentials", False, str(err))
    return Check("credentials", True, "readable")


def _broker(config: AgentConfig) -> Check:
    from edge.uplink import MqttLink

    link = MqttLink(config, lambda _channel, _payload: None)
    closed: list[str] = []
    link.client.on_disconnect = lambda _c, _u, _f, reason, _p: closed.append(str(reason))
    try:
        link.client.connect(link.host, link.port, keepalive=10)
    except (OSError, ssl.SSLError) as err:
        return Check("broker", False, f"cannot reach {config.broker.url}: {err}")
    link.client.loop_start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not link.connected.is_set() and not link.last_error and not closed:
            time.sleep(0.05)
    finally:
        link.client.disconnect()
        link.client.loop_stop()
    if link.connected.is_set():
        return Check("broker", True, f"{config.broker.url} accepted this robot's login")
    if closed and not link.last_error:
        return Check(
            "broker",
            False,
            f"{config.broker.url} closed the connection ({closed[0]}): "
            "check the client certificate and its CA, or the login",
        )
    return Check("broker", False, link.last_error or f"{config.broker.url} did not answer the MQTT login in 10 s")


def _api(config: AgentConfig) -> list[Check]:
    if config.api is None:
        return [Check("api", True, "no [api]: bags are not uploaded, no HTTPS fallback"), _clock_without_api()]
    import httpx

    try:
        key = read_secret(config.api.device_key_file, "device key")
        with httpx.Client(
            base_url=config.api.url, timeout=10, verify=str(config.api.ca_file) if config.api.ca_file else True
        ) as client:
            response = client.get("/v1/device/me", headers={"Authorization": f"Bearer {key}"})
    except (httpx.HTTPError, EdgeError) as err:
        return [Check("api", False, f"cannot reach {config.api.url}: {err}")]
    checks = []
    if response.status_code == 200:
        me = response.json()
        if (me.get("tenant_id"), me.get("robot_id")) == (config.tenant_id, config.robot_id):
            checks.append(Check("api", True, f"{config.api.url} knows this device key"))
        else:
            checks.append(
                Check(
                    "api",
                    False,
                    f"the device key belongs to {me.get('tenant_id')}/{me.get('robot_id')},"
                    f" not {config.tenant_id}/{config.robot_id}",
                )
            )
    else:
        checks.append(
            Check(
                "api", False, f"{config.api.url} refused the device key ({response.status_code}): revoked or mistyped?"
            )
        )
    served = response.headers.get("date")
    if served:
        skew = time.time() - email.utils.parsedate_to_datetime(served).timestamp()
        checks.append(
            Check(
                "clock",
                abs(skew) < MAX_CLOCK_SKEW_S,
                f"{skew:+.1f} s against the platform"
                + ("" if abs(skew) < MAX_CLOCK_SKEW_S else "; set up NTP (chrony, systemd-timesyncd)"),
            )
        )
    return checks


def _clock_without_api() -> Check:
    year = time.gmtime().tm_year
    return Check("clock", year >= 2024, f"the clock says {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")


def _sources(config: AgentConfig) -> list[Check]:
    checks = []
    for source in config.sources:
        if isinstance(source, BagSource):
            ok = Path(source.path).exists()
            checks.append(Check("source bag", ok, f"{source.path} {'exists' if ok else 'does not exist'}"))
        elif isinstance(source, Ros1Source):
            found = shutil.which(source.python) or Path(source.python).exists()
            checks.append(
                Check(
                    "source ros1",
                    bool(found),
                    f"{source.python} {'found' if found else 'missing: install ROS 1 or set python'}",
                )
            )
            if found:
                master = urlsplit(source.master_uri or "http://127.0.0.1:11311")
                try:
                    socket.create_connection((master.hostname or "127.0.0.1", master.port or 11311), timeout=2).close()
                    checks.append(Check("roscore", True, f"answers at {master.netloc}"))
                except OSError:
                    checks.append(Check("roscore", False, f"nothing answers at {master.netloc}: start roscore"))
        elif isinstance(source, Ros2Source):
            try:
                import rclpy  # noqa: F401

                checks.append(Check("source ros2", True, "rclpy importable"))
            except ImportError:
                checks.append(
                    Check("source ros2", False, "rclpy is not importable: source /opt/ros/<distro>/setup.bash")
                )
    return checks


def diagnose(config: AgentConfig) -> list[Check]:
    """Run every check; none raises."""
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: Check(
            "config",
            True,
            f"{config.tenant_id}/{config.robot_id}, {len(config.sources)} sources, {len(config.topics)} topics",
        ),
        lambda: _disk(config),
        lambda: _credentials(config),
        lambda: _broker(config),
        lambda: _api(config),
        lambda: _sources(config),
    ]
    checks: list[Check] = []
    for step in steps:
        try:
            found = step()
        except Exception as err:
            found = Check(getattr(step, "__name__", "check"), False, f"{type(err).__name__}: {err}")
        checks += found if isinstance(found, list) else [found]
    return checks
