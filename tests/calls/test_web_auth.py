"""The phone page against a server with an API key: refused with a clear word, then
connected once opened as /#key=KEY."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.calls.test_web_client import (  # noqa: F401 - fixtures
    _new_page,
    _quiet_phone,
    launch,
    media_dir,
    no_page_errors,
    playwright,
)
from tests.serve_child import ServeChild

if TYPE_CHECKING:
    from playwright.sync_api import Browser

KEY = "sk-web-auth"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeChild]:
    server = ServeChild(Path(tmp_path_factory.mktemp("web_auth")), "--api-key", KEY)
    try:
        asyncio.run(server.ready())
        yield server
    finally:
        server.stop()


def test_page_needs_the_key_and_uses_it(
    keyed_server: ServeChild,
    launch: Callable[[Path, Path], Browser],  # noqa: F811 - the fixture imported above
    media_dir: Path,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    context = _quiet_phone(launch, media_dir, keyed_server.url)
    page = _new_page(context)
    page.goto("/")
    page.locator("label.segment", has_text="Interpreter").click()
    page.locator("#start").click()
    expect(page.locator("#notice")).to_contain_text("needs an API key", timeout=30_000)

    page = _new_page(context)
    page.goto(f"/#key={KEY}")
    assert "key=" not in page.url  # taken out of the address bar at once
    page.locator("label.segment", has_text="Interpreter").click()
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Connected", timeout=30_000)
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Call ended")
