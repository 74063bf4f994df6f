"""The FastAPI application: the one place that picks a backend and the scenarios."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from model.base import OmniModel
from model.embedded.turn_end import TurnEndModel
from model.errors import ModelLoadError
from model.scenario import Scenario, ScenarioRegistry
from rtc.api import router as api_router
from rtc.config import ServerConfig
from rtc.errors import GatewayError, PayloadTooLarge, Unauthorized
from rtc.gateway import Gateway
from rtc.load import watch as watch_loop
from rtc.realtime_ws import router as realtime_ws_router
from rtc.signaling import ERROR_SCHEMA, router
from rtc.translations_ws import router as translations_router
from rtc.vad import SileroVAD
from rtc.web import mount_web

logger = logging.getLogger("omnilive")


def default_scenarios() -> ScenarioRegistry:
    """The scenarios this server offers: the one place they are named."""
    from chat.scenario import ChatScenario
    from explainer.scenario import ExplainerScenario
    from translate.scenario import InterpreterScenario
    from tutor.scenario import TutorScenario

    return ScenarioRegistry(
        [TutorScenario, InterpreterScenario, ExplainerScenario, ChatScenario],
        default=TutorScenario.name,
    )


def build_model(backend: str, config: ServerConfig | None = None) -> OmniModel:
    config = config or ServerConfig(backend=backend)
    if backend == "remote":
        from model.remote.backend import RemoteModel
        from model.remote.connection import RemoteConfig

        if not config.remote_url:
            raise ModelLoadError("the remote backend needs --remote-url (OMNILIVE_REMOTE_URL)")
        key = os.environ.get("OMNILIVE_REMOTE_API_KEY") or None
        return RemoteModel(RemoteConfig(config.remote_url, key, config.remote_model))
    if backend == "transformers":
        from model.hf.backend import TransformersModel

        if not config.model_path:
            raise ModelLoadError("the transformers backend needs --model-path (a local directory)")
        return TransformersModel(config.model_path, device=config.device)
    if backend == "embedded":
        from model.embedded.backend import EmbeddedModel

        return EmbeddedModel()
    if backend == "tone":
        from model.tone import ToneModel

        return ToneModel()
    raise ModelLoadError(
        f"unknown backend {backend!r}; this build has: embedded, tone, transformers, remote"
    )


def create_app(
    config: ServerConfig | None = None,
    *,
    model: OmniModel | None = None,
    vad: SileroVAD | None = None,
    scenarios: ScenarioRegistry | Iterable[type[Scenario]] | None = None,
    turn_end: TurnEndModel | None = None,
) -> FastAPI:
    config = config or ServerConfig()
    the_model = model or build_model(config.backend, config)
    registry = ScenarioRegistry.of(scenarios) if scenarios is not None else default_scenarios()
    gateway = Gateway(
        config, the_model, vad or SileroVAD(), registry, turn_end=turn_end or TurnEndModel()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not the_model.loaded:
            logger.info("loading the %s model (once per process)", the_model.name)
            await asyncio.to_thread(the_model.load, lambda msg: logger.info("%s", msg))
        # The models' millions of long-lived objects out of the collector's sight: a full
        # collection otherwise walks them all on the event loop, a pause every call hears.
        gc.collect()
        gc.freeze()
        logger.info("ready: backend=%s max_calls=%d", the_model.name, config.max_calls)
        background = [
            asyncio.create_task(_retention(gateway), name="omnilive retention"),
            asyncio.create_task(
                watch_loop(gateway.load, gateway.metrics, lambda: len(gateway.registry)),
                name="omnilive loop lag",
            ),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await gateway.aclose()

    app = FastAPI(title="omnilive", version="0.1.0", lifespan=lifespan)
    app.state.gateway = gateway
    app.include_router(router)
    app.include_router(api_router)
    app.include_router(realtime_ws_router)
    app.include_router(translations_router)
    mount_web(app)

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        if isinstance(exc, Unauthorized):
            gateway.metrics.auth_failures.labels(exc.code).inc()
        elif isinstance(exc, PayloadTooLarge):
            gateway.metrics.limit_hits.labels("body_size").inc()
        return JSONResponse(exc.as_json(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        body = {
            "error": {"type": "invalid_request_error", "code": "invalid_request", "message": where}
        }
        return JSONResponse(body, status_code=400)

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


async def _retention(gateway: Gateway) -> None:
    """Delete conversation records past the retention period: at start, then hourly."""
    days = gateway.config.retention_days
    if gateway.records is None or days <= 0:
        return
    while True:
        try:
            removed = await gateway.records.purge(days)
        except RuntimeError:  # the store was closed
            return
        if removed:
            logger.info(
                "retention: deleted %d conversation record(s) older than %g days", removed, days
            )
        await asyncio.sleep(3600)
