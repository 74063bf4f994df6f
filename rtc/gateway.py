"""The process-wide gateway state: model, VAD, calls, metrics."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiortc import RTCIceServer

from model.base import OmniModel
from model.scenario import Scenario
from rtc.call import Call, CallSettings
from rtc.config import ServerConfig
from rtc.errors import GatewayError
from rtc.metrics import Metrics
from rtc.registry import CallRegistry
from rtc.vad import SileroVAD

logger = logging.getLogger(__name__)


def parse_ice_server(url: str) -> RTCIceServer:
    """`turn:user:pass@host:port` (credentials optional) -> RTCIceServer."""
    scheme, _, rest = url.partition(":")
    if scheme not in ("stun", "turn", "turns"):
        raise ValueError(f"ICE server URL must start with stun:, turn: or turns:, got {url!r}")
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        user, _, password = creds.partition(":")
        return RTCIceServer(urls=f"{scheme}:{host}", username=user, credential=password)
    return RTCIceServer(urls=url)


class Gateway:
    def __init__(
        self,
        config: ServerConfig,
        model: OmniModel,
        vad: SileroVAD,
        scenarios: Mapping[str, type[Scenario]],
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.vad = vad
        self.scenarios = dict(scenarios)
        self.metrics = metrics or Metrics()
        self.registry = CallRegistry(self.metrics, config.max_calls)
        self.call_settings = CallSettings(
            ice_servers=[parse_ice_server(u) for u in config.ice_servers],
            peer_timeout_s=config.peer_timeout_s,
        )

    async def open_call(self, sdp: str, session: Mapping[str, Any] | None) -> Call:
        self.registry.reserve()
        call: Call | None = None
        try:
            call = Call(
                model=self.model,
                vad=self.vad,
                scenarios=self.scenarios,
                metrics=self.metrics,
                settings=self.call_settings,
                on_closed=self.registry.remove,
            )
            await call.accept(sdp, session)
        except BaseException as exc:
            self.registry.release_reservation()
            if isinstance(exc, GatewayError):
                self.metrics.calls_rejected.labels(exc.code).inc()
            if call is not None:
                await call.close("rejected")
            raise
        self.registry.add(call)
        return call

    async def aclose(self) -> None:
        await self.registry.close_all()
