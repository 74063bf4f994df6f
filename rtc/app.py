"""The FastAPI application: the one place that picks a backend and the scenarios."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from model.base import OmniModel
from model.errors import ModelLoadError
from model.scenario import Scenario
from rtc.config import ServerConfig
from rtc.errors import GatewayError, TooManyCalls
from rtc.gateway import Gateway
from rtc.signaling import router
from rtc.vad import SileroVAD
from rtc.web import mount_web

logger = logging.getLogger("omnilive")


def default_scenarios() -> dict[str, type[Scenario]]:
    from translate.scenario import InterpreterScenario
    from tutor.scenario import TutorScenario

    return {"interpreter": InterpreterScenario, "tutor": TutorScenario}


def build_model(backend: str) -> OmniModel:
    if backend == "embedded":
        from model.embedded.backend import EmbeddedModel

        return EmbeddedModel()
    if backend == "tone":
        from model.tone import ToneModel

        return ToneModel()
    raise ModelLoadError(f"unknown backend {backend!r}; this build has: embedded, tone")


def create_app(
    config: ServerConfig | None = None,
    *,
    model: OmniModel | None = None,
    vad: SileroVAD | None = None,
    scenarios: Mapping[str, type[Scenario]] | None = None,
) -> FastAPI:
    config = config or ServerConfig()
    the_model = model or build_model(config.backend)
    gateway = Gateway(config, the_model, vad or SileroVAD(), scenarios or default_scenarios())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not the_model.loaded:
            logger.info("loading the %s model (once per process)", the_model.name)
            await asyncio.to_thread(the_model.load, lambda msg: logger.info("%s", msg))
        logger.info("ready: backend=%s max_calls=%d", the_model.name, config.max_calls)
        yield
        await gateway.aclose()

    app = FastAPI(title="omnilive", version="0.1.0", lifespan=lifespan)
    app.state.gateway = gateway
    app.include_router(router)
    mount_web(app)

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyCalls) else None
        return JSONResponse(exc.as_json(), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {
            "error": {"type": "invalid_request_error", "code": code, "message": str(exc.detail)}
        }
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["POST", "DELETE", "GET"],
            allow_headers=["Authorization", "Content-Type", "X-OpenAI-Agents-SDK"],
            expose_headers=["Location"],
            max_age=600,
        )
    return app
