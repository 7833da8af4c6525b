"""The robot-side agent. It depends on ``fleetray.schemas`` and paho-mqtt only, never on Ray."""
