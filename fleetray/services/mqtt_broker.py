"""The embedded MQTT broker: Mosquitto when it is installed, else amqtt (MQTT 3.1.1, demo only)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fleetray.services.ports import free_port, port_open
from fleetray.services.process import ServiceProcess

DEFAULT_PORT = 1883

# Production-minded limits: a fleet reconnecting after an outage queues far more than Debian's
# default of 1,000 messages per client, and state is saved every minute rather than every 30.
# Ingestors acknowledge only once a batch is persisted, so their in-flight window must cover the
# rate times that delay (10,000/s x 0.5 s over two ingestors): 1,000 would cap each at 1,000 per round trip.
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {state_dir}/
autosave_interval 60
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 20000
max_packet_size 2097152
persistent_client_expiration 7d
log_dest stderr
log_type error
log_type warning
"""

AMQTT_CONF = """\
listeners:
  default:
    type: tcp
    bind: 127.0.0.1:{port}
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
"""


def mosquitto_config(port: int, state_dir: Path) -> str:
    """The Mosquitto configuration fleetray runs its local broker with."""
    return MOSQUITTO_CONF.format(port=port, state_dir=state_dir)


def find_mosquitto() -> str | None:
    """The mosquitto executable, also where /usr/sbin is not on PATH."""
    return shutil.which("mosquitto") or next(
        (path for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(path).exists()), None
    )


def embedded_broker(
    data_dir: Path, *, port: int | None = None, prefer_mosquitto: bool = True
) -> tuple[ServiceProcess, str]:
    """A broker process (not started yet) with its state in ``data_dir/mqtt``, and its URL.

    Port 1883 is used when free; otherwise any free port. Mosquitto is used when installed (and
    preferred), else amqtt.
    """
    if port is None:
        port = DEFAULT_PORT if not port_open("127.0.0.1", DEFAULT_PORT) else free_port()
    state_dir = (data_dir / "mqtt").resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    mosquitto = find_mosquitto() if prefer_mosquitto else None
    if mosquitto:
        config = state_dir / "mosquitto.conf"
        config.write_text(mosquitto_config(port, state_dir))
        command = [mosquitto, "-c", str(config)]
        name = "mosquitto"
    else:
        config = state_dir / "amqtt.yaml"
        config.write_text(AMQTT_CONF.format(port=port))
        command = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(config)]
        name = "amqtt"
    process = ServiceProcess(name, command, port=port, log_path=state_dir / f"{name}.log")
    return process, f"mqtt://127.0.0.1:{port}"
