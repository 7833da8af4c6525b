"""A child process that is a service: started, checked, and stopped with its whole process group."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path

from fleetray.errors import ServiceError
from fleetray.services.ports import wait_for_port

logger = logging.getLogger(__name__)


class ServiceProcess:
    """A service run as a child process listening on ``127.0.0.1:port``.

    The child gets its own process group and is told to stop with SIGTERM (then SIGKILL), so
    neither Ctrl-C in a terminal nor a crash of the parent leaves it running.
    """

    def __init__(self, name: str, command: list[str], *, port: int, log_path: Path) -> None:
        self.name = name
        self.command = command
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 20.0) -> None:
        """Start the process and wait until its port accepts connections."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as err:
            raise ServiceError(f"cannot start {self.name} ({self.command[0]}): {err}") from err
        finally:
            log.close()
        if not wait_for_port("127.0.0.1", self.port, timeout_s=timeout_s):
            exit_code = self._process.poll()
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-800:]
            raise ServiceError(
                f"{self.name} did not listen on 127.0.0.1:{self.port} within {timeout_s:.0f} s "
                f"(exit code {exit_code}); its log {self.log_path} ends with:\n{tail}"
            )
        logger.info("%s listening on 127.0.0.1:%s (pid %s)", self.name, self.port, self._process.pid)

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the process group: SIGTERM, then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            return
