"""The phone web client (clients/web), served at `/` by a real `omnilive serve`.

The browser tests drive Debian's Chromium through Playwright with fake media devices
fed from files (a WAV for the microphone, a Y4M for the camera), exactly as a phone
would use the page: pick a scenario, press Start, talk.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest

from bench.common import free_port
from rtc.config import ServerConfig
from tests import web_media

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
WEB = ROOT / "clients" / "web"
CHROMIUM = Path("/usr/bin/chromium")

ENGLISH = "I would like a cup of coffee with milk please."
HELP = "Help me with this."


# ---------------------------------------------------------------- no browser needed


@pytest.fixture
async def web_http() -> AsyncIterator[httpx.AsyncClient]:
    from rtc.app import create_app
    from rtc.web import mount_web

    # The tone backend loads nothing, and without the lifespan no model is loaded at all.
    app = mount_web(create_app(ServerConfig(backend="tone")))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://omnilive.test"
    ) as http:
        yield http


async def test_page_and_assets_are_served_locally(web_http: httpx.AsyncClient) -> None:
    page = await web_http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/app.js" in assets and "/static/style.css" in assets
    assets.append("/static/math.js")  # imported by app.js
    for asset in assets:
        answer = await web_http.get(asset)
        assert answer.status_code == 200, asset
    js = await web_http.get("/static/app.js")
    assert js.headers["content-type"].startswith("text/javascript")
    css = await web_http.get("/static/style.css")
    assert css.headers["content-type"].startswith("text/css")
    # Revalidation works, so phones do not download the page again for nothing.
    again = await web_http.get("/static/app.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304


async def test_static_serves_only_the_web_directory(web_http: httpx.AsyncClient) -> None:
    for bad in ("/static/nope.js", "/static/..%2Fpython%2Fclient.py", "/static/.hidden"):
        answer = await web_http.get(bad)
        assert answer.status_code == 404, bad
        assert answer.json()["error"]["code"] == "not_found"
    # The API is untouched by the page's routes.
    assert (await web_http.get("/healthz")).json()["status"] == "ok"


def test_no_asset_loads_anything_from_another_origin() -> None:
    for path in WEB.iterdir():
        if path.suffix not in {".html", ".js", ".css", ".webmanifest"}:
            continue
        text = path.read_text(encoding="utf-8")
        external = re.findall(
            r"""(?:src=|href=|url\(|import\s|from\s)\s*["']?(?:https?:)?//""", text
        )
        assert not external, f"{path.name} loads from another origin: {external}"


# ---------------------------------------------------------------- the real server + browser


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """`omnilive serve` (embedded models) in a child process, serving the page too."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = ARTIFACTS / "web_server.log"
    ARTIFACTS.mkdir(exist_ok=True)
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "rtc.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, f"server exited early, see {log}"
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)  # polling the child's /healthz
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web_media")


@pytest.fixture
def launch(playwright: Playwright) -> Iterator[Callable[[Path, Path], Browser]]:
    """Start Chromium whose fake camera plays `y4m` and fake microphone plays `wav`."""
    browsers: list[Browser] = []

    def start(y4m: Path, wav: Path) -> Browser:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={y4m}",
                f"--use-file-for-fake-audio-capture={wav}",
            ],
        )
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        browser.close()


def _phone(browser: Browser, url: str) -> BrowserContext:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        base_url=url,
    )
    context.grant_permissions(["microphone", "camera"], origin=url)
    return context


def _quiet_phone(
    launch: Callable[[Path, Path], Browser], media_dir: Path, url: str
) -> BrowserContext:
    """A phone whose microphone is silent and whose camera shows colour bars."""
    wav = web_media.write_wav(media_dir / "silence.wav", np.zeros(4800, np.int16))
    y4m = web_media.write_y4m(media_dir / "small.y4m", web_media.colour_bars(count=2))
    return _phone(launch(y4m, wav), url)


#: Uncaught exceptions in the page, checked after every test.
PAGE_ERRORS: list[str] = []


@pytest.fixture(autouse=True)
def no_page_errors() -> Iterator[None]:
    PAGE_ERRORS.clear()
    yield
    assert not PAGE_ERRORS, f"errors in the page: {PAGE_ERRORS}"


def _new_page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda exc: PAGE_ERRORS.append(str(exc)))
    return page


def _open(context: BrowserContext) -> Page:
    page = _new_page(context)
    page.goto("/")
    page.wait_for_function("() => window.omnilive !== undefined")
    return page


def _debug(page: Page) -> str:
    """What the page knows, for an assertion message."""
    status = page.locator("#status").inner_text()
    events = page.evaluate("() => window.omnilive.events.map((e) => e.type)")
    return f"status={status!r} events={events}"


def _active_calls(url: str) -> int:
    calls: int = httpx.get(url + "/healthz", timeout=5).json()["active_calls"]
    return calls


def _wait_no_calls(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _active_calls(url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _active_calls(url) == 0


def _screenshot(page: Page, name: str, focus: str | None = None) -> Path:
    """What the phone's screen shows (scrolled to `focus`), saved under artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if focus is not None:
        page.locator(focus).evaluate("(el) => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path))
    return path


@pytest.mark.models
def test_interpreter_call_in_chromium(
    server_url: str, launch: Callable[[Path, Path], Browser], media_dir: Path
) -> None:
    from playwright.sync_api import expect

    wav = web_media.write_wav(media_dir / "coffee.wav", web_media.speak_english(ENGLISH))
    y4m = web_media.write_y4m(media_dir / "bars.y4m", web_media.colour_bars())
    context = _phone(launch(y4m, wav), server_url)
    page = _open(context)

    page.locator("label.segment", has_text="Interpreter").click()
    expect(page.locator("#languages")).to_be_visible()
    assert page.locator("#lang-a").input_value() == "en"
    assert page.locator("#lang-b").input_value() == "es"
    page.locator("#start").click()

    expect(page.locator("#status")).to_have_text("Connected", timeout=30_000)
    expect(page.locator("#start")).to_have_text("Stop")
    expect(page.locator("#preview")).to_be_visible()
    # The fake microphone says the sentence; the server translates it into Spanish.
    row = page.locator("#conversation li.turn").filter(
        has=page.locator(".original", has_text=re.compile("coffee", re.I))
    )
    try:
        expect(row.first).to_be_visible(timeout=60_000)
    except AssertionError as exc:
        raise AssertionError(f"no translation shown: {_debug(page)}") from exc
    first = row.first
    expect(first.locator(".original .lang")).to_have_text("en")
    expect(first.locator(".translation .lang")).to_have_text("es")
    expect(first.locator(".translation .said")).to_have_text(re.compile(r"caf[eé]", re.I))
    # Live captions: what the user said, and the assistant's transcript.
    expect(page.locator("#captions li.caption.user").first).to_be_visible()
    expect(page.locator("#captions li.caption.assistant").first).to_be_visible()
    _screenshot(page, "web_interpreter.png", focus="#interpreter-panel")

    assert _active_calls(server_url) == 1
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Call ended")
    _wait_no_calls(server_url)  # Stop sent DELETE to the call's Location
    context.close()


@pytest.mark.models
def test_tutor_call_in_chromium(
    server_url: str, launch: Callable[[Path, Path], Browser], media_dir: Path
) -> None:
    from playwright.sync_api import expect

    health = httpx.get(server_url + "/healthz", timeout=5).json()
    assert "tutor" in health["scenarios"]
    assert health["capabilities"]["ocr"]
    wav = web_media.write_wav(
        media_dir / "help.wav", web_media.speak_english(HELP), lead_s=1.5, tail_s=6.0
    )
    frame = web_media.printed_problem(["2x + 3 = 11"])
    y4m = web_media.write_y4m(media_dir / "problem.y4m", [frame] * 3)
    context = _phone(launch(y4m, wav), server_url)
    page = _open(context)

    expect(page.locator("label.segment", has_text="Tutor").locator("input")).to_be_checked()
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Connected", timeout=30_000)
    problem = page.locator("#problem .math")
    try:
        expect(problem).to_have_attribute("aria-label", "2*x + 3 = 11", timeout=60_000)
    except AssertionError as exc:
        raise AssertionError(f"no problem shown: {_debug(page)}") from exc
    # Rendered, not raw: "2x" without the star, a real equals sign between the sides.
    expect(problem).to_have_text(re.compile(r"^2x\s*\+\s*3\s*=\s*11$"))
    step = page.locator("#steps li.step").first
    expect(step).to_be_visible(timeout=30_000)
    expect(step.locator(".math")).to_be_visible()
    _screenshot(page, "web_tutor.png", focus="#tutor-panel")
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Call ended")
    context.close()


@pytest.mark.models  # the server fixture loads the embedded models
def test_phone_layout_fits_and_math_renders(
    server_url: str, launch: Callable[[Path, Path], Browser], media_dir: Path
) -> None:
    from playwright.sync_api import expect

    context = _quiet_phone(launch, media_dir, server_url)
    page = _open(context)

    def no_horizontal_scroll() -> None:
        widths = page.evaluate(
            "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"horizontal scroll: {widths}"

    for scenario in ("Tutor", "Interpreter", "Explainer"):
        page.locator("label.segment", has_text=scenario).click()
        no_horizontal_scroll()
        for control in ("#scenario-picker", "#start", "#camera-switch"):
            expect(page.locator(control)).to_be_in_viewport(ratio=1.0)
        # Touch targets are at least 44 CSS px tall (Apple's and Google's guidance).
        for control in ("#start", "#camera-switch", "label.segment >> nth=0"):
            box = page.locator(control).bounding_box()
            assert box is not None and box["height"] >= 44, (control, box)
    _screenshot(page, "web_phone_idle.png")

    # The tutor's math: implicit products, superscripts, stacked fractions, systems.
    rendered = page.evaluate(
        """() => ["x^2 - 5*x + 6 = 0", "(x + 1)/2 = 3/4", "x = 7; y = 3", "x = 2 or x = 3",
                  "-3*(x - 2) <= 12", "15/100*80"].map((src) => {
            const node = window.omnilive.renderMath(src);
            return {text: node.textContent, sup: node.querySelectorAll("sup").length,
                    frac: node.querySelectorAll(".mfrac").length,
                    lines: node.querySelectorAll(".mline").length,
                    raw: node.querySelectorAll(".raw").length};
        })"""
    )
    quadratic, fraction, system, roots, inequality, percent = rendered
    assert quadratic == {"text": "x2\u22125x+6=0", "sup": 1, "frac": 0, "lines": 1, "raw": 0}
    assert fraction["frac"] == 2 and fraction["raw"] == 0
    assert system["lines"] == 2
    assert roots["text"] == "x=2 or x=3"
    assert inequality["text"] == "\u22123(x\u22122)\u226412"
    assert percent["frac"] == 1 and percent["text"] == "15100\u00b780"
    context.close()


@pytest.mark.models  # the server fixture loads the embedded models
def test_scenario_events_render_on_a_phone(
    server_url: str, launch: Callable[[Path, Path], Browser], media_dir: Path
) -> None:
    """The tutor panel, emotion badge, captions and error toasts, fed the contract's events."""
    from playwright.sync_api import expect

    context = _quiet_phone(launch, media_dir, server_url)
    page = _open(context)
    events: list[dict[str, Any]] = [
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "item_1"},
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "item_1"},
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_1",
            "transcript": "Help me with this.",
            "language": "en",
        },
        {
            "type": "tutor.problem",
            "text": "2*x + 3 = 11",
            "latex": "2 x + 3 = 11",
            "kind": "linear_equation",
            "source": "camera",
        },
        {
            "type": "response.output_audio_transcript.delta",
            "response_id": "resp_1",
            "delta": "I see",
        },
        {
            "type": "response.output_audio_transcript.delta",
            "response_id": "resp_1",
            "delta": " two x plus three equals eleven.",
        },
        {
            "type": "tutor.step",
            "index": 0,
            "text": "Subtract 3 from both sides.",
            "math": "2*x = 8",
            "final": False,
        },
        {"type": "output_audio_buffer.started", "response_id": "resp_1"},
        {
            "type": "tutor.step",
            "index": 1,
            "text": "Divide both sides by 2.",
            "math": "x = 4",
            "final": True,
        },
        {
            "type": "tutor.check",
            "correct": True,
            "student": "x = 4",
            "feedback": "Yes, x = 4 is right.",
        },
        {"type": "emotion.state", "label": "happy", "score": 0.91, "faces": 1},
        {
            "type": "error",
            "event_id": "evt_9",
            "error": {
                "type": "server_error",
                "code": "model_error",
                "message": "The model had a hiccup.",
                "event_id": None,
            },
        },
    ]
    page.evaluate("(events) => events.forEach((e) => window.omnilive.receive(e))", events)

    expect(page.locator("#problem .math")).to_have_text("2x+3=11")
    steps = page.locator("#steps li.step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0).locator(".math")).to_have_text("2x=8")
    expect(steps.nth(1)).to_have_class(re.compile(r"\bfinal\b"))
    expect(steps.nth(1).locator(".badge")).to_have_text("Answer")
    expect(page.locator("#check")).to_have_attribute("data-correct", "true")
    expect(page.locator("#check .feedback")).to_have_text("Yes, x = 4 is right.")
    expect(page.locator("#emotion")).to_contain_text("happy")
    expect(page.locator("#speaking")).to_have_text("Assistant speaking\u2026")
    expect(page.locator("#captions li.caption.user .text")).to_have_text("Help me with this.")
    expect(page.locator("#captions li.caption.assistant .text")).to_have_text(
        "I see two x plus three equals eleven."
    )
    expect(page.locator("#toasts .toast.error")).to_have_text("The model had a hiccup.")
    widths = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"horizontal scroll: {widths}"
    _screenshot(page, "web_tutor_events.png", focus="#tutor-panel")

    # A barge-in marks the answer as interrupted; the face leaving hides the badge.
    page.evaluate(
        """() => {
            window.omnilive.receive({type: "output_audio_buffer.cleared", response_id: "resp_1"});
            window.omnilive.receive({type: "response.done",
                                     response: {id: "resp_1", status: "cancelled"}});
            window.omnilive.receive({type: "emotion.state", label: "none", score: 0, faces: 0});
        }"""
    )
    expect(page.locator("#captions li.caption.assistant")).to_have_class(
        re.compile(r"\binterrupted\b")
    )
    expect(page.locator("#speaking")).to_be_hidden()
    expect(page.locator("#emotion")).to_be_hidden()
    context.close()


@pytest.mark.models  # the server fixture loads the embedded models
def test_refusals_and_a_busy_server_are_explained(
    server_url: str, launch: Callable[[Path, Path], Browser], media_dir: Path
) -> None:
    from playwright.sync_api import Route, expect

    context = _quiet_phone(launch, media_dir, server_url)

    # The microphone is refused: nothing is sent, and the page says what to do.
    page = _new_page(context)
    page.add_init_script(
        """navigator.mediaDevices.getUserMedia = () =>
               Promise.reject(new DOMException("Permission denied", "NotAllowedError"));"""
    )
    page.goto("/")
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Microphone refused")
    expect(page.locator("#notice")).to_contain_text("Microphone access was refused")
    expect(page.locator("#start")).to_have_text("Start")
    _screenshot(page, "web_mic_refused.png")
    page.close()

    # The camera alone is refused: the call goes ahead with voice only.
    page = _new_page(context)
    page.add_init_script(
        """const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
           navigator.mediaDevices.getUserMedia = (c) => c.video
               ? Promise.reject(new DOMException("Permission denied", "NotAllowedError"))
               : real(c);"""
    )
    page.goto("/")
    page.locator("label.segment", has_text="Interpreter").click()
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Connected", timeout=30_000)
    expect(page.locator("#notice")).to_contain_text("Continuing with voice only")
    expect(page.locator("#preview")).to_be_hidden()
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Call ended")
    page.close()

    # The server is full: 429 with Retry-After becomes a countdown, not a crash.
    page = _new_page(context)

    def busy(route: Route) -> None:
        route.fulfill(
            status=429,
            headers={"Retry-After": "7", "Content-Type": "application/json"},
            body='{"error": {"type": "rate_limit_error", "code": "too_many_calls", '
            '"message": "the server already has 16 calls"}}',
        )

    page.route("**/v1/realtime/calls", busy)
    page.goto("/")
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Server busy")
    expect(page.locator("#notice")).to_have_text(re.compile(r"busy.*Try again in [67] s"))
    expect(page.locator("#start")).to_have_text("Start")
    _screenshot(page, "web_busy.png")
    page.close()

    # Stop pressed while still connecting leaves no call behind on the server.
    page = _new_page(context)
    page.goto("/")
    page.locator("#start").click()
    page.wait_for_function("() => window.omnilive.phases.includes('connecting')")
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Call ended")
    context.close()
    _wait_no_calls(server_url)


@pytest.mark.models
def test_switches_mid_call_and_comes_back_after_a_drop(
    server_url: str, launch: Callable[[Path, Path], Browser], media_dir: Path
) -> None:
    from playwright.sync_api import expect

    context = _quiet_phone(launch, media_dir, server_url)
    page = _open(context)
    page.locator("label.segment", has_text="Interpreter").click()
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Connected", timeout=30_000)
    first_call = page.evaluate("() => window.omnilive.state.callUrl")
    assert first_call and "/v1/realtime/calls/rtc_" in first_call

    # Swapping the pair mid-call is a session.update; the server confirms it.
    page.locator("#lang-swap").click()
    page.wait_for_function(
        """() => window.omnilive.events.some((e) => e.type === "session.updated"
               && JSON.stringify(e.session.languages) === '["es","en"]')""",
        timeout=10_000,
    )
    # The interpreter starts on the front camera (mirrored preview); the switch swaps the
    # track being sent without a new call.
    expect(page.locator("#preview")).to_have_class(re.compile(r"\bmirrored\b"))
    page.locator("#camera-switch").click()
    expect(page.locator("#preview")).not_to_have_class(re.compile(r"\bmirrored\b"))
    page.wait_for_function(
        """() => { const s = window.omnilive.state;
                   return s.videoSender && s.videoSender.track === s.camTrack
                       && s.camTrack.readyState === "live"; }"""
    )
    assert page.evaluate("() => window.omnilive.state.callUrl") == first_call

    # The server loses the call (as after a network change): the page calls again.
    assert httpx.delete(first_call, timeout=10).status_code == 204
    page.wait_for_function(
        "(old) => window.omnilive.state.callUrl && window.omnilive.state.callUrl !== old"
        " && window.omnilive.state.phase === 'connected'",
        arg=first_call,
        timeout=30_000,
    )
    expect(page.locator("#status")).to_have_text("Connected")
    phases = page.evaluate("() => window.omnilive.phases")
    assert "reconnecting" in phases, phases
    # The new call carries the current choices: swapped pair, the camera now selected.
    page.wait_for_function(
        """() => window.omnilive.events.some((e) => e.type === "session.created"
               && JSON.stringify(e.session.languages) === '["es","en"]')"""
    )
    assert page.evaluate("() => window.omnilive.state.videoSender.track.readyState") == "live"
    assert _active_calls(server_url) == 1
    page.locator("#start").click()
    _wait_no_calls(server_url)
    context.close()


_SENT_FRAMES = """async () => {
  const stats = await window.omnilive.state.videoSender.getStats();
  for (const s of stats.values()) {
    if (s.type === "outbound-rtp") return [s.framesSent ?? 0, s.timestamp];
  }
  return [0, performance.timeOrigin + performance.now()];
}"""


def _sent_fps(page: Page, seconds: float) -> float:
    """Frames a second the page's camera sender sent over `seconds` (by Chrome's clock)."""
    frames0, t0 = page.evaluate(_SENT_FRAMES)
    page.wait_for_timeout(seconds * 1000)  # a measuring window, not a wait for something
    frames1, t1 = page.evaluate(_SENT_FRAMES)
    return float(frames1 - frames0) / (float(t1 - t0) / 1000)


_ENCODING_IS = """(wanted) => {
  const sender = window.omnilive.state.videoSender;
  const encoding = sender && sender.getParameters().encodings[0];
  return encoding && encoding.active === wanted.active
      && (!wanted.active || encoding.maxFramerate === wanted.fps);
}"""


@pytest.mark.models
def test_the_camera_sends_only_what_the_scenario_uses(
    server_url: str, launch: Callable[[Path, Path], Browser], media_dir: Path
) -> None:
    from playwright.sync_api import expect

    context = _quiet_phone(launch, media_dir, server_url)
    page = _open(context)
    page.locator("label.segment", has_text="Tutor").click()
    page.locator("#start").click()
    expect(page.locator("#status")).to_have_text("Connected", timeout=30_000)
    # The tutor samples a frame a second: the sender is held to 2 frames a second,
    # though the camera gives 15.
    page.wait_for_function(_ENCODING_IS, arg={"active": True, "fps": 2}, timeout=10_000)
    encoding = page.evaluate("() => window.omnilive.state.videoSender.getParameters().encodings[0]")
    ceiling = page.evaluate("() => window.omnilive.state.videoCeiling")
    assert encoding["maxBitrate"] == ceiling["max_bitrate"]
    page.wait_for_function(
        f"async () => (await ({_SENT_FRAMES})())[0] > 0", timeout=10_000
    )  # sending
    assert _sent_fps(page, 4.0) <= 2.5

    # The interpreter samples no video: the camera stops sending (the preview stays on).
    page.locator("label.segment", has_text="Interpreter").click()
    page.wait_for_function(_ENCODING_IS, arg={"active": False}, timeout=10_000)
    assert _sent_fps(page, 2.0) * 2.0 <= 1  # at most a frame that was already on its way
    expect(page.locator("#preview")).to_be_visible()

    # Back to the tutor: the camera sends again, still at the tutor's rate.
    page.locator("label.segment", has_text="Tutor").click()
    page.wait_for_function(_ENCODING_IS, arg={"active": True, "fps": 2}, timeout=10_000)
    frames = page.evaluate(_SENT_FRAMES)[0]
    page.wait_for_function(
        f"async (before) => (await ({_SENT_FRAMES})())[0] > before", arg=frames, timeout=10_000
    )
    page.locator("#start").click()
    _wait_no_calls(server_url)
    context.close()
