"""``fleetray-edge``: run the agent, check its set-up, show its state."""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from edge.errors import EdgeError

app = typer.Typer(help="The fleetray agent on the robot.", no_args_is_help=True, add_completion=False)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="agent.toml", envvar="FLEETRAY_EDGE_CONFIG")]


def _load(path: Path):
    from edge.config import load_config

    try:
        return load_config(path)
    except EdgeError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


@app.command()
def run(
    config: ConfigOption = Path("/etc/fleetray-edge/agent.toml"),
    until_sources_end: Annotated[
        bool, typer.Option(help="Stop once every source has ended (a bag played out), after sending what is queued.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    from edge.updates import CODE_ENV, Updates, exec_into

    with contextlib.suppress(ValueError):  # stderr is no file under a test runner
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints every thread's stack: a stuck agent explains itself
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _load(config)
    updates = Updates(settings.data_dir, settings.updates.public_key)
    code = updates.choose()
    if code != os.environ.get(CODE_ENV, ""):  # another version should run: hand over before importing the agent
        updates.launching(code)
        exec_into(code)
    from edge.agent import Agent

    try:
        agent = Agent(settings, config_path=config)
    except EdgeError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    agent.start()
    while not stopping and not agent.stop_event.is_set():
        time.sleep(0.2)
        if until_sources_end and agent.sources_done() and agent.inbox.empty():
            time.sleep(1.5)  # the pipeline's last tick, and the recorder's last poll
            break
    agent.stop(drain_s=30.0 if until_sources_end else 2.0)
    if agent.restart_requested:
        code = updates.choose()
        updates.launching(code)
        exec_into(code)


@app.command()
def doctor(config: ConfigOption = Path("/etc/fleetray-edge/agent.toml")) -> None:
    """Check the config, clock, disk, broker, API, credentials and sources; one line each."""
    from edge.doctor import diagnose

    checks = diagnose(_load(config))
    for check in checks:
        typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command()
def status(
    config: ConfigOption = Path("/etc/fleetray-edge/agent.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="The whole status as JSON.")] = False,
) -> None:
    """What the running agent last reported: connection, queue, drops, uploads, sources."""
    settings = _load(config)
    path = settings.data_dir / "status.json"
    if not path.exists():
        typer.echo(f"no status at {path}: the agent has not run with this config", err=True)
        raise typer.Exit(1)
    state = json.loads(path.read_text())
    if as_json:
        typer.echo(json.dumps(state, indent=2))
        return
    beat = state["heartbeat"]
    age = time.time() - path.stat().st_mtime
    lines = [
        f"agent {beat['agent_version']} for {beat['tenant_id']}/{beat['robot_id']}, pid {state['pid']}",
        f"reported {age:.0f} s ago",
        f"broker: {'connected' if state['connected'] else 'DISCONNECTED ' + state['broker_error']}",
        f"queue: {beat['queue_messages']} messages, {beat['queue_bytes'] / 1e6:.1f} MB; dropped {beat['dropped']}",
        f"uploads: {beat['uploads_pending']} pending, last {beat.get('last_upload_at') or 'never'}",
        *([f"upload error: {state['upload_error']}"] if state["upload_error"] else []),
        f"recorder: {beat['recorder_bytes'] / 1e6:.1f} MB on disk, {state['pending_triggers']} triggers pending",
        f"config: version {beat['config_version']}"
        + (f", REFUSED: {beat['config_error']}" if beat.get("config_error") else ""),
        *(f"source {name}: {text}" for name, text in state["sources"].items()),
        *(f"ignored: {text}" for text in state["ignored_topics"].values()),
    ]
    typer.echo("\n".join(lines))


release_app = typer.Typer(
    help="Sign agent releases (on the operator's machine, never on a robot).", no_args_is_help=True
)
app.add_typer(release_app, name="release")


@release_app.command("keygen")
def release_keygen(
    out: Annotated[Path, typer.Option(help="Where the private key (PEM) goes; keep it offline.")],
) -> None:
    """Make a release key: the private half signs releases, the public half goes into every agent.toml."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if out.exists():
        typer.echo(f"error: {out} exists; a release key is never overwritten", err=True)
        raise typer.Exit(2)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    out.write_bytes(pem)
    out.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    typer.echo(f'[updates]\npublic_key = "{public}"')


@release_app.command("sign")
def release_sign(
    wheel: Path,
    version: Annotated[str, typer.Option()],
    key: Annotated[Path, typer.Option(help="The private key from `release keygen`.")],
) -> None:
    """Sign a release wheel; prints what `PUT /v1/agent/releases/{version}` takes."""
    import hashlib

    from edge.updates import sign_release

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    signature = sign_release(key.read_bytes(), version, digest)
    typer.echo(json.dumps({"version": version, "filename": wheel.name, "sha256": digest, "signature": signature}))


def main() -> None:
    app()
