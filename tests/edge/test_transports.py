"""MQTT over TLS with a client certificate (mutual TLS), and over WebSockets, against a real Mosquitto."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.doctor import diagnose
from fleetray.services.mqtt_broker import find_mosquitto
from fleetray.services.ports import free_port
from fleetray.services.process import ServiceProcess
from tests.edge.certs import Authority
from tests.edge.conftest import Mosquitto, agent_config
from tests.edge.test_agent import Platform
from tests.helpers import wait_for

MUTUAL_TLS = """\
per_listener_settings true
listener {{port}} 127.0.0.1
cafile {ca}
certfile {cert}
keyfile {key}
require_certificate true
use_identity_as_username true
allow_anonymous false
acl_file {acl}
listener {plain} 127.0.0.1
allow_anonymous true
persistence false
"""

WEBSOCKETS = """\
listeners:
  default:
    type: ws
    bind: 127.0.0.1:{port}
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
"""


@pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")
def test_mutual_tls_with_a_client_certificate(tmp_path: Path) -> None:
    from fleetray.storage.credentials import mosquitto_acl

    authority = Authority(tmp_path / "pki")
    server_cert, server_key = authority.issue("server", "127.0.0.1", server=True)
    client_cert, client_key = authority.issue("robot", "acme/acme-r1", server=False)  # CN: the robot's MQTT login
    stranger_cert, stranger_key = Authority(tmp_path / "other").issue("robot", "acme/acme-r1", server=False)
    acl = tmp_path / "acl"
    acl.write_text(mosquitto_acl(["platform"]))
    plain = free_port()
    config = MUTUAL_TLS.format(ca=authority.ca_file, cert=server_cert, key=server_key, acl=acl, plain=plain)
    broker = Mosquitto(tmp_path / "broker", config)
    broker.start()
    platform = Platform(f"mqtt://127.0.0.1:{plain}")
    url = f"mqtts://127.0.0.1:{broker.port}"
    tls = {"url": url, "ca_file": str(authority.ca_file), "cert_file": str(client_cert), "key_file": str(client_key)}
    agent = Agent(agent_config(tmp_path / "agent", url, None, broker=tls))
    try:
        agent.start()
        wait_for(agent.mqtt.connected.is_set)
        beat = wait_for(lambda: platform.collect().get("heartbeat"))
        assert beat[0]["robot_id"] == "acme-r1"
        checks = {c.name: c for c in diagnose(agent_config(tmp_path / "doctor", url, None, broker=tls))}
        assert checks["broker"].ok, checks["broker"].detail
        forged = {**tls, "cert_file": str(stranger_cert), "key_file": str(stranger_key)}
        refused = {c.name: c for c in diagnose(agent_config(tmp_path / "forged", url, None, broker=forged))}
        assert not refused["broker"].ok and "closed the connection" in refused["broker"].detail
        no_certificate = {
            c.name: c
            for c in diagnose(
                agent_config(tmp_path / "bare", url, None, broker={"url": url, "ca_file": str(authority.ca_file)})
            )
        }
        assert not no_certificate["broker"].ok
    finally:
        agent.stop()
        platform.close()
        broker.stop()


def test_mqtt_over_websockets(tmp_path: Path) -> None:
    # Debian's Mosquitto 2.0.11 cannot open a WebSockets listener here; amqtt's broker speaks MQTT over WebSockets.
    port = free_port()
    config = tmp_path / "amqtt.yaml"
    config.write_text(WEBSOCKETS.format(port=port))
    broker = ServiceProcess(
        "amqtt",
        [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(config)],
        port=port,
        log_path=tmp_path / "amqtt.log",
    )
    broker.start()
    agent = Agent(agent_config(tmp_path / "agent", f"ws://127.0.0.1:{port}", None))
    try:
        agent.start()
        wait_for(agent.mqtt.connected.is_set)
        assert agent.mqtt.publish("heartbeat", agent.heartbeat().model_dump_json().encode())
    finally:
        agent.stop()
        broker.stop()
