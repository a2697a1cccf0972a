"""Run the TTS app on a Ray cluster (a local one on loopback by default) and stop it:
`swelego serve`, the demo, the tests and the benchmark share this."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from types import TracebackType

from swelego_ray.serve.config import ServeConfig

APP_NAME = "swelego-tts"


class ServeStartError(RuntimeError):
    """The app did not come up (the message says what Ray Serve reported)."""


class RunningApp:
    """The TTS app deployed on the connected Ray cluster; a context manager."""

    def __init__(self, config: ServeConfig, *, name: str = APP_NAME) -> None:
        self.config, self.name = config, name
        self.startup_s: float | None = None

    @property
    def base_url(self) -> str:
        host = self.config.http.host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{host}:{self.config.http.port}"

    def start(self, timeout_s: float = 900.0) -> RunningApp:
        """Deploy every deployment and wait until the TTS route answers."""
        from ray import serve

        from swelego_ray.serve.app import build_app

        begin = time.monotonic()
        serve.start(http_options={"host": self.config.http.host, "port": self.config.http.port})
        try:
            serve.run(build_app(self.config), name=self.name, route_prefix="/", blocking=False)
        except Exception as exc:  # Ray Serve's deploy failure (a replica's error inside)
            raise ServeStartError(f"the TTS app failed to deploy: {exc}") from exc
        self._wait(begin, timeout_s)
        self.startup_s = time.monotonic() - begin
        return self

    def stop(self) -> None:
        """Delete the app (replicas drain within their graceful shutdown timeout); Serve
        itself stops with its last app, so the next start binds its own address."""
        from ray import serve

        serve.delete(self.name)
        if not serve.status().applications:
            serve.shutdown()

    def _wait(self, begin: float, timeout_s: float) -> None:
        request = urllib.request.Request(f"{self.base_url}/v1/tts/health")
        if self.config.http.api_key:
            request.add_header("Authorization", f"Bearer {self.config.http.api_key}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            try:
                with opener.open(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - begin > timeout_s:
                raise ServeStartError(
                    f"the TTS app did not answer on {self.base_url} within {timeout_s:.0f} s"
                )
            time.sleep(0.5)

    def __enter__(self) -> RunningApp:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
