"""Over-the-air updates: signed releases installed beside the running version, rolled back when unhealthy.

A release is a wheel of the agent. The platform sends its URL, SHA-256 and Ed25519 signature in an
``update`` command; the agent checks both against the public key in its own config (a release the key
did not sign is refused), installs it into ``{data_dir}/versions/{version}`` (``pip install --target``,
without dependencies: a release runs on those installed with the agent) and restarts into it, with
the new version on ``PYTHONPATH``. The new version is *pending* until its first heartbeat goes out; one
that does not get there within the deadline, or fails to start three times, is rolled back by the
agent itself (at start, or by its watchdog), and the outcome is acknowledged to the command.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from fleetray.schemas.agent import AgentUpdate, release_message

logger = logging.getLogger(__name__)
CODE_ENV = "FLEETRAY_EDGE_CODE"  # the version directory this process runs from ("" for the installed package)
MAX_STARTS = 3


class UpdateError(EdgeError):
    """A release cannot be installed: unsigned, altered, or its installation failed."""


def verify_release(artifact: bytes, update: AgentUpdate, public_key_hex: str) -> None:
    """Check the artifact's digest and its Ed25519 signature.

    Raises:
        UpdateError: the digest or the signature does not match.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    digest = hashlib.sha256(artifact).hexdigest()
    if digest != update.sha256:
        raise UpdateError(f"release {update.version}: the download's SHA-256 is {digest}, not {update.sha256}")
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(update.signature), release_message(update.version, update.sha256))
    except (InvalidSignature, ValueError) as err:
        raise UpdateError(f"release {update.version} is not signed by this agent's release key; refused") from err


def sign_release(private_key_pem: bytes, version: str, sha256: str) -> str:
    """The hex Ed25519 signature of a release (the operator's side, see ``fleetray-edge release sign``)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_key_pem, password=None)
    return key.sign(release_message(version, sha256)).hex()  # type: ignore[union-attr, call-arg]


class Updates:
    """The versions on disk and which one should run."""

    def __init__(self, data_dir: Path, public_key: str | None) -> None:
        self.root = Path(data_dir) / "versions"
        self.root.mkdir(parents=True, exist_ok=True)
        self.public_key = public_key
        self.path = self.root / "state.json"

    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {"current": None, "previous": None, "pending": None, "outcome": None}

    def _save(self, state: dict[str, Any]) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.path)

    def code_path(self, version: str | None) -> str:
        return "" if version is None else str(self.root / version)

    # -- installing --------------------------------------------------------------------------------

    def install(self, update: AgentUpdate, command_id: str, artifact: bytes) -> None:
        """Verify and install a release, and make it the pending version (the next start runs it).

        Raises:
            UpdateError: no release key is configured, the release is not genuine, or pip failed.
        """
        if not self.public_key:
            raise UpdateError("this agent has no [updates] public_key: it installs no release")
        verify_release(artifact, update, self.public_key)
        target = self.root / update.version
        wheel = self.root / update.filename
        wheel.write_bytes(artifact)
        shutil.rmtree(target, ignore_errors=True)
        installed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--no-index",
                "--quiet",
                "--target",
                str(target),
                str(wheel),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wheel.unlink(missing_ok=True)
        if installed.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise UpdateError(f"pip could not install {update.filename}: {installed.stderr.strip()[-500:]}")
        state = self.state()
        state["pending"] = {
            "version": update.version,
            "command_id": command_id,
            "deadline_s": update.deadline_s,
            "started_at": None,
            "starts": 0,
        }
        self._save(state)
        logger.info("release %s installed; restarting into it", update.version)

    # -- choosing what runs ------------------------------------------------------------------------

    def choose(self) -> str:
        """The code path this start should run from; rolls a pending version back when it had its chances."""
        state = self.state()
        pending = state.get("pending")
        if pending:
            overdue = pending["started_at"] is not None and time.time() > pending["started_at"] + pending["deadline_s"]
            if overdue or pending["starts"] >= MAX_STARTS:
                why = "did not report healthy in time" if overdue else f"failed to start {pending['starts']} times"
                return self.code_path(self.rollback(why))
            return self.code_path(pending["version"])
        return self.code_path(state.get("current"))

    def launching(self, code_path: str) -> None:
        """A process is about to start from ``code_path``: count a pending version's start (its deadline runs
        from the first). Counted here, by the code that launches it, so a release too broken to count its own
        starts is rolled back all the same."""
        state = self.state()
        pending = state.get("pending")
        if pending and code_path == self.code_path(pending["version"]):
            pending["starts"] += 1
            pending["started_at"] = pending["started_at"] or time.time()
            self._save(state)

    def rollback(self, why: str) -> str | None:
        """Drop the pending version; returns the version that runs instead (None: the installed package)."""
        state = self.state()
        pending = state.pop("pending", None) or {}
        state["pending"] = None
        if pending:
            logger.error(
                "release %s %s; rolled back to %s",
                pending["version"],
                why,
                state.get("current") or "the installed agent",
            )
            state["outcome"] = {
                "command_id": pending["command_id"],
                "status": "failed",
                "detail": f"release {pending['version']} {why}; rolled back",
            }
            shutil.rmtree(self.root / pending["version"], ignore_errors=True)
        self._save(state)
        return state.get("current")

    def overdue(self) -> bool:
        pending = self.state().get("pending")
        return bool(pending and pending["started_at"] and time.time() > pending["started_at"] + pending["deadline_s"])

    def healthy(self) -> None:
        """The running version reported: a pending one becomes current."""
        state = self.state()
        pending = state.get("pending")
        if not pending or os.environ.get(CODE_ENV, "") != self.code_path(pending["version"]):
            return
        state["previous"], state["current"], state["pending"] = state.get("current"), pending["version"], None
        state["outcome"] = {
            "command_id": pending["command_id"],
            "status": "succeeded",
            "detail": f"running {pending['version']}",
        }
        self._save(state)
        logger.info("release %s reported healthy: it stays", pending["version"])

    def take_outcome(self) -> dict[str, Any] | None:
        """How the last update ended, once (for its command's acknowledgement)."""
        state = self.state()
        outcome = state.get("outcome")
        if outcome:
            state["outcome"] = None
            self._save(state)
        return outcome


def exec_into(code_path: str) -> None:
    """Replace this process with the agent running from ``code_path`` (same arguments, same pid)."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != env.get(CODE_ENV)]
    env["PYTHONPATH"] = os.pathsep.join(([code_path] if code_path else []) + paths)
    env[CODE_ENV] = code_path
    os.execve(sys.executable, [sys.executable, "-m", "edge", *sys.argv[1:]], env)
