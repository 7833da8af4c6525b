"""Over-the-air updates: genuine releases only; a new version stays once healthy, and rolls back otherwise."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.updates import CODE_ENV, UpdateError, Updates, sign_release, verify_release
from fleetray.schemas import AgentCommand, CommandAck
from fleetray.schemas.agent import AgentUpdate
from tests.edge.conftest import Mosquitto
from tests.edge.test_agent import Platform
from tests.helpers import wait_for

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def release_key() -> tuple[bytes, str]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    return pem, public


def _update(artifact: bytes, version: str, pem: bytes, url: str = "http://127.0.0.1:1/x.whl") -> AgentUpdate:
    digest = hashlib.sha256(artifact).hexdigest()
    return AgentUpdate(
        version=version,
        url=url,
        sha256=digest,
        signature=sign_release(pem, version, digest),
        filename=f"fleetray-{version}-py3-none-any.whl",
        deadline_s=60,
    )


def test_only_a_genuine_release_passes(release_key: tuple[bytes, str]) -> None:
    pem, public = release_key
    update = _update(b"wheel bytes", "0.2.0", pem)
    verify_release(b"wheel bytes", update, public)
    with pytest.raises(UpdateError, match="the download's SHA-256 is"):
        verify_release(b"altered bytes", update, public)
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(UpdateError, match="not signed by this agent's release key"):
        verify_release(b"wheel bytes", _update(b"wheel bytes", "0.2.0", other), public)
    renamed = update.model_copy(update={"version": "0.9.0"})  # a signature binds its version too
    with pytest.raises(UpdateError, match="not signed"):
        verify_release(b"wheel bytes", renamed, public)
    with pytest.raises(UpdateError, match="has no \\[updates\\] public_key"):
        Updates(Path("/tmp") / f"u{os.getpid()}", None).install(update, "c1", b"wheel bytes")


def test_a_pending_version_is_chosen_until_it_fails_three_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates = Updates(tmp_path, "00" * 32)
    state = updates.state()
    state["pending"] = {"version": "0.2.0", "command_id": "c7", "deadline_s": 600, "started_at": None, "starts": 0}
    (tmp_path / "versions/0.2.0").mkdir()
    updates._save(state)
    path = str(tmp_path / "versions/0.2.0")
    for _ in range(3):
        assert updates.choose() == path
        updates.launching(path)
    assert updates.choose() == ""  # rolled back to the installed agent
    assert updates.take_outcome() == {
        "command_id": "c7",
        "status": "failed",
        "detail": "release 0.2.0 failed to start 3 times; rolled back",
    }
    assert not (tmp_path / "versions/0.2.0").exists() and updates.take_outcome() is None


def test_a_healthy_version_becomes_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    updates = Updates(tmp_path, "00" * 32)
    state = updates.state()
    state["pending"] = {"version": "0.2.0", "command_id": "c8", "deadline_s": 600, "started_at": None, "starts": 0}
    updates._save(state)
    updates.launching(str(tmp_path / "versions/0.2.0"))
    monkeypatch.setenv(CODE_ENV, str(tmp_path / "versions/0.2.0"))
    updates.healthy()
    assert updates.state()["current"] == "0.2.0" and updates.choose() == str(tmp_path / "versions/0.2.0")
    assert updates.take_outcome()["status"] == "succeeded"


def _wheel(version: str, directory: Path, *, broken: bool = False) -> Path:
    """A wheel of this repository's agent, as version ``version`` (optionally one that cannot start)."""
    source = directory / f"src-{version}"
    for name in ("fleetray", "edge"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    init = source / "edge/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
    if broken:
        (source / "edge/agent.py").write_text("raise ImportError('this release is broken on purpose')\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(directory / f"dist-{version}"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (directory / f"dist-{version}").glob("*.whl")
    named = directory / f"fleetray-{version}-py3-none-any.whl"
    wheel.rename(named)
    return named


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


class Supervisor:
    """What systemd's Restart=always does for the agent: start it again whenever it exits."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log, self.stopped = config, log, threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            with self.log.open("ab") as out:
                env = {k: v for k, v in os.environ.items() if k not in (CODE_ENV, "PYTHONPATH")}
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "edge", "run", "--config", str(self.config)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                    cwd="/",
                )
            self.starts += 1
            self.process.wait()
            self.stopped.wait(0.5)

    def stop(self) -> None:
        self.stopped.set()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.thread.join(timeout=30)


@pytest.mark.slow
def test_an_update_is_installed_kept_when_healthy_and_a_broken_one_rolled_back(
    mosquitto: Mosquitto, tmp_path: Path, file_server: tuple[str, Path], release_key: tuple[bytes, str]
) -> None:
    pem, public = release_key
    base_url, www = file_server
    good, broken = _wheel("0.2.0", tmp_path), _wheel("0.3.0", tmp_path, broken=True)
    for wheel in (good, broken):
        shutil.copy(wheel, www / wheel.name)
    config = tmp_path / "agent.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "tenant_id": "acme",
                "robot_id": "acme-r1",
                "data_dir": str(tmp_path / "agent"),
                "transport": "mqtt",
                "broker": {"url": mosquitto.url, "reconnect_max_s": 2},
                "updates": {"public_key": public},
                "remote": {"version": 1, "heartbeat_s": 1},
            }
        )
    )
    platform = Platform(mosquitto.url)
    supervisor = Supervisor(config, tmp_path / "agent.log")

    def send(command_id: str, wheel: Path, version: str) -> None:
        update = _update(wheel.read_bytes(), version, pem, url=f"{base_url}/{wheel.name}")
        command = AgentCommand(
            command_id=command_id, type="update", args=update.model_dump(), issued_at=datetime.now(UTC)
        )
        platform.send("cmd", command.model_dump_json().encode())

    def acks(command_id: str) -> list[str]:
        return [a["status"] for a in platform.collect().get("ack", []) if a["command_id"] == command_id]

    def running() -> str | None:
        beats = platform.collect().get("heartbeat", [])
        return beats[-1]["agent_version"] if beats else None

    try:
        wait_for(lambda: running() == "0.1.0", timeout_s=60)
        send("up-1", good, "0.2.0")
        wait_for(lambda: acks("up-1") == ["accepted", "succeeded"], timeout_s=120)
        assert running() == "0.2.0"
        send("up-2", broken, "0.3.0")
        wait_for(lambda: acks("up-2") == ["accepted", "failed"], timeout_s=180)
        wait_for(lambda: running() == "0.2.0", timeout_s=60)
        (failure,) = [
            CommandAck.model_validate(a)
            for a in platform.seen["ack"]
            if a["command_id"] == "up-2" and a["status"] == "failed"
        ]
        assert failure.detail == "release 0.3.0 failed to start 3 times; rolled back"
        assert not (tmp_path / "agent/versions/0.3.0").exists()
    finally:
        supervisor.stop()
        platform.close()
