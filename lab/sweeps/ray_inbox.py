"""The actor that carries progress from Ray tasks to sweep coordinators. A module of its
own that imports nothing heavy: the actor's process starts without torch."""

from __future__ import annotations

#: one inbox per Ray connection (a named actor), shared by the sweeps it runs
NAME = "noiselab-progress-inbox"


class ProgressInbox:
    """Made a Ray actor by :class:`lab.sweeps.ray_backend.RayBackend`: collects the running
    tasks' progress events, per sweep (a token), until that sweep's coordinator drains them."""

    def __init__(self):
        self.events: dict[str, list] = {}

    def put(self, token: str, event) -> None:
        self.events.setdefault(token, []).append(event)

    def drain(self, token: str) -> list:
        return self.events.pop(token, [])

    def forget(self, token: str) -> None:
        self.events.pop(token, None)
