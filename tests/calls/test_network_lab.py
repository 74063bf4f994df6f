"""Calls over real networks: the phone and the server in their own network namespaces.

tests/netlab/lab.py builds the lab for each test (and removes it, also on failure):
a NAT that lets only a TURN relay through, or a link that loses, delays, reorders
and cuts packets. The server is `omnilive serve` (tone backend: the turns and the
tutor's steps are real, the voice is a tone) in the server namespace; the phone is
the project's WebRTC client (tests/netlab/phone.py) or Chromium with the phone web
client, in the client namespace. Root is needed; without it these tests are skipped
with the reason (CI runs them as root).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import web_media
from tests.netlab.lab import (
    SERVER_URL,
    TURN_URL,
    LabPhone,
    LabServer,
    NetLab,
    missing_tools,
    start_turn,
    unavailable,
)
from tests.netlab.profiles import CLEAN, PROFILES, Impairment

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
TUTOR = {"scenario": "tutor", "emotion": {"enabled": False}}
SENTENCE = "I would like a cup of coffee with milk please."
OUTAGE = Impairment(outage=True)


def lab_or_skip(*, nat: bool = False) -> None:
    missing = missing_tools(nat=nat)
    if missing:
        pytest.fail(f"the network lab needs {', '.join(missing)} (make test installs them)")
    reason = unavailable(nat=nat)
    if reason is not None:  # not root, or no namespaces: the lab cannot exist here
        pytest.skip(reason)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab_clips")


@pytest.fixture(scope="module")
def sentence_wav(clip_dir: Path) -> Path:
    """A spoken sentence (Piper), 48 kHz mono, as the phone's microphone says it."""
    return web_media.write_wav(
        clip_dir / "coffee.wav", web_media.speak_english(SENTENCE), lead_s=0.3, tail_s=0.6
    )


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
async def phone_factory(logs: Path) -> AsyncIterator[Callable[[NetLab], LabPhone]]:
    phones: list[LabPhone] = []

    def make(lab: NetLab) -> LabPhone:
        phone = LabPhone(lab, name=f"phone{len(phones)}")
        phones.append(phone)
        return phone

    yield make
    for phone in phones:
        await phone.close()


async def test_a_call_from_behind_a_nat_goes_through_the_turn_relay(
    tmp_path: Path, logs: Path, sentence_wav: Path, phone_factory: Callable[[NetLab], LabPhone]
) -> None:
    lab_or_skip(nat=True)
    with NetLab(logs, nat=True) as lab:
        await start_turn(lab)
        server = LabServer(lab, tmp_path / "data", "tone", "--ice-server", TURN_URL)
        await server.ready()
        phone = phone_factory(lab)
        await phone.start(ice_servers=[TURN_URL])
        call = await phone.request("call", session=TUTOR)
        assert call["ok"], call
        # The NAT forwards nothing but signaling and TURN: the media took the relay.
        assert call["relay"] is True
        said = await phone.request("say", wav=str(sentence_wav))
        assert said["ok"] and said["status"] == "completed", said
        assert said["heard"]  # the microphone reached the server through the relay
        assert said["latency_s"] is not None  # and the answer's voice came back through it
        assert (await phone.request("hangup"))["ok"]
        await server.wait_for_log(rf"\[{call['call_id']}\] ending: client_hangup")


async def test_a_call_that_loses_its_network_mid_step_resumes_on_the_same_step(
    tmp_path: Path, logs: Path, phone_factory: Callable[[NetLab], LabPhone]
) -> None:
    lab_or_skip()
    with NetLab(logs) as lab:
        data = tmp_path / "data"
        server = LabServer(lab, data, "tone", "--peer-timeout", "3")
        await server.ready()
        phone = phone_factory(lab)
        await phone.start()
        call = await phone.request(
            "call", session=TUTOR, notify=["tutor.step", "output_audio_buffer.started"]
        )
        assert call["ok"], call
        call_id = call["call_id"]
        first = phone.send("text", text="solve 5x - 2 = 13", until="tutor.step", timeout=20)
        await phone.notified("tutor.step")
        await phone.notified("output_audio_buffer.started")
        # The phone's network goes while the tutor is speaking the first step.
        lab.impair(OUTAGE)
        assert (await phone.request("wait_quiet", quiet_s=1.5))["ok"]
        await server.wait_for_log(rf"\[{call_id}\] ending: peer_timeout")
        first.cancel()
        assert (await phone.request("drop"))["ok"]
        # The network comes back: the phone calls again, naming the call it lost.
        lab.impair(CLEAN)
        again = await phone.request("call", session={"resume": call_id}, retry_s=20)
        assert again["ok"] and again["call_id"] == call_id, again
        await server.wait_for_log(
            rf"\[{call_id}\] resumed on a new connection \(the previous one ended: peer_timeout\)"
        )
        step = await phone.request("text", text="what's next?", until="tutor.step")
        assert step["ok"], step
        assert step["event"]["index"] == 1  # the step after the one cut off, same problem
        assert step["event"]["math"] == "x = 3"
        assert (await phone.request("hangup"))["ok"]
        await server.wait_for_log(rf"\[{call_id}\] ending: client_hangup")

    db = sqlite3.connect(data / "conversations.sqlite3")
    try:
        kinds = [
            k
            for (k,) in db.execute(
                "SELECT type FROM entries WHERE call_id = ? ORDER BY seq", (call_id,)
            )
        ]
        ended = db.execute("SELECT end_reason FROM calls WHERE id = ?", (call_id,)).fetchone()
    finally:
        db.close()
    # One record for the whole conversation: the problem, the drop, the next step.
    assert kinds.index("tutor.problem") < kinds.index("call.resumed") < len(kinds) - 1
    assert kinds.count("tutor.step") == 2
    assert ended == ("client_hangup",)


async def test_every_turn_is_answered_under_loss_jitter_and_reordering(
    tmp_path: Path, logs: Path, sentence_wav: Path, phone_factory: Callable[[NetLab], LabPhone]
) -> None:
    lab_or_skip()
    with NetLab(logs) as lab:
        server = LabServer(lab, tmp_path / "data", "tone")
        await server.ready()
        phone = phone_factory(lab)
        await phone.start()
        lab.impair(PROFILES["loss5_jitter80_reorder"])
        call = await phone.request("call", session={"scenario": "interpreter"}, retry_s=20)
        assert call["ok"], call
        for _ in range(2):
            said = await phone.request("say", wav=str(sentence_wav))
            assert said["ok"] and said["status"] == "completed", said
            assert said["heard"] and said["latency_s"] is not None
        stats = lab.link_stats()
        assert stats["a_to_b"]["lost"] > 0 and stats["b_to_a"]["lost"] > 0  # it was lossy
        assert (await phone.request("hangup"))["ok"]


# ---------------------------------------------------------------- the phone web client


@pytest.fixture
def chromium_in(tmp_path: Path) -> Iterator[Callable[[NetLab, Path], Page]]:
    """Chromium in the lab's client namespace (a wrapper runs it there; Playwright drives
    it from here over its pipe), its fake microphone playing a WAV."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browsers = []

        def open_page(lab: NetLab, wav: Path) -> Page:
            wrapper = tmp_path / "chromium-in-lab"
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {lab.client} {CHROMIUM} "$@"\n')
            wrapper.chmod(0o755)
            y4m = web_media.write_y4m(tmp_path / "bars.y4m", web_media.colour_bars(count=2))
            browser = playwright.chromium.launch(
                executable_path=str(wrapper),
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--autoplay-policy=no-user-gesture-required",
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={y4m}",
                    f"--use-file-for-fake-audio-capture={wav}",
                    # Media capture needs a secure origin; the lab's server is plain HTTP.
                    f"--unsafely-treat-insecure-origin-as-secure={SERVER_URL}",
                ],
            )
            browsers.append(browser)
            context = browser.new_context(
                base_url=SERVER_URL, viewport={"width": 390, "height": 844}
            )
            context.grant_permissions(["microphone", "camera"], origin=SERVER_URL)
            page = context.new_page()
            page.goto("/")
            page.wait_for_function("() => window.omnilive !== undefined")
            return page

        yield open_page
        for browser in browsers:
            browser.close()


def test_the_web_client_reconnects_after_its_network_is_cut(
    tmp_path: Path, logs: Path, chromium_in: Callable[[NetLab, Path], Page]
) -> None:
    lab_or_skip()
    from playwright.sync_api import expect

    speech = web_media.speak_english(SENTENCE)
    wav = web_media.write_wav(tmp_path / "mic.wav", speech, lead_s=0.5, tail_s=2.0)
    with NetLab(logs) as lab:
        server = LabServer(lab, tmp_path / "data", "tone")
        server.wait_for_log_blocking("Application startup complete", 120)
        page = chromium_in(lab, wav)
        page.locator("label.segment", has_text="Interpreter").click()
        page.locator("#start").click()
        expect(page.locator("#status")).to_have_text("Connected", timeout=30_000)
        rows = page.locator("#conversation li.turn")
        expect(rows.first).to_be_visible(timeout=30_000)  # the fake microphone was heard
        call_id = page.evaluate("() => window.omnilive.state.callId")
        assert call_id and call_id.startswith("rtc_")

        lab.impair(OUTAGE)
        # The page notices (no audio from the server) and says it is reconnecting.
        expect(page.locator("#status")).to_have_text(re.compile("Reconnecting"), timeout=20_000)
        expect(page.locator("#notice")).to_contain_text("conversation goes on")
        before = rows.count()
        lab.impair(CLEAN)
        expect(page.locator("#status")).to_have_text("Connected", timeout=40_000)
        # The same call went on (the server took it over or resumed it), not a new one.
        assert page.evaluate("() => window.omnilive.state.callId") == call_id
        server.wait_for_log_blocking(rf"\[{call_id}\] resumed on a new connection")
        assert rows.count() >= before  # what was said before is still on the screen
        expect(rows.nth(before)).to_be_visible(timeout=30_000)  # and new turns come in
        page.locator("#start").click()
        expect(page.locator("#status")).to_have_text("Call ended")
