"""The interpreter and the tutor over mobile-network profiles, next to a clean network.

    sudo .venv/bin/python -m bench.network [--backend embedded] [--barge-ins 4]

Needs root: it builds the network lab of tests/netlab (the phone and `omnilive
serve` in their own network namespaces, joined by a link that loses, delays,
reorders, caps or cuts packets). One server and one phone for the whole run; for
each profile (tests/netlab/profiles.py: clean; 2 % loss + 40 ms jitter; 5 % loss
+ 80 ms jitter with reordering; a 1 Mbit/s cap; a 3 s outage while an answer
plays), a fresh call per scenario speaks the bundled utterances (the ones
bench.asr_window measures recognition on, by the project's own voices) and prints:

- response latency p50 / p95: end of the user's speech as sent -> the first loud
  frame of the answer received (the network's delay both ways is in it);
- barge-in stop latency p95: onset of speech over a long answer -> the answer's
  audio received goes quiet (interpreter call);
- WER: what the server heard (its transcription events) against the text said;
- survived: the call stayed up and every turn was answered (or, after the
  outage, it was resumed and nothing the user said was lost).

The targets of issue 22 are checked at the end against the clean profile of the
same run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.asr_window import word_errors
from bench.common import ms, percentile, speech_clip
from tests import web_media
from tests.netlab.lab import LabPhone, LabServer, NetLab, missing_tools, unavailable
from tests.netlab.profiles import CLEAN, OUTAGE_S, PROFILES, Impairment

INTERPRETER_TURNS = [
    ("I would like a cup of coffee with milk please.", "en"),
    ("Can you help me with this?", "en"),
    ("What's the score?", "en"),
    ("Who scored?", "en"),
    ("Quiero un café con leche, por favor.", "es"),
    ("¿Dónde está la estación de tren?", "es"),
    ("Mi hermano vive en Barcelona.", "es"),
]
TUTOR_TURNS = [
    ("Solve two x plus three equals eleven.", "en"),
    ("Subtract three from both sides.", "en"),
    ("Is it x equals six?", "en"),
    ("I don't get it.", "en"),
    ("Two x equals eight.", "en"),
    ("Just show me.", "en"),
]
INTERRUPTION = "Wait, stop please."
SESSIONS: dict[str, dict[str, Any]] = {
    "interpreter": {"scenario": "interpreter", "languages": ["en", "es"]},
    "tutor": {"scenario": "tutor", "emotion": {"enabled": False}},
}
#: The tutor speaks long answers: only their start matters for the latency.
TUTOR_CUT_S = 0.5


@dataclass
class Run:
    """One scenario's call over one profile."""

    latencies: list[float] = field(default_factory=list)
    barge_ins: list[float] = field(default_factory=list)
    errors: int = 0
    words: int = 0
    turns: int = 0
    answered: int = 0
    heard: int = 0
    dropped: bool = False
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else float("nan")

    @property
    def survived(self) -> bool:
        return (
            self.answered == self.turns
            and self.heard == self.turns
            and (not self.dropped or self.resumed)
        )


class Bench:
    def __init__(
        self,
        phone: LabPhone,
        lab: NetLab,
        clips: dict[str, Path],
        *,
        repeat: int = 1,
        verbose: bool = False,
    ) -> None:
        self.repeat = repeat
        self.phone = phone
        self.lab = lab
        self.clips = clips
        self.verbose = verbose

    async def scenario(self, name: str, profile: str, barge_ins: int) -> Run:
        run = Run()
        call = await self.phone.request(
            "call", session=SESSIONS[name], notify=["output_audio_buffer.started"], retry_s=30
        )
        if not call["ok"]:
            run.dropped = True
            run.notes.append(f"no call: {call.get('error')}")
            return run
        call_id = call["call_id"]
        turns = INTERPRETER_TURNS if name == "interpreter" else TUTOR_TURNS
        for i, (text, _) in enumerate(turns * self.repeat):
            outage = profile == "outage_3s" and i == 1
            await self._turn(run, name, text, call_id, outage=outage)
        if name == "interpreter":
            for _ in range(barge_ins):
                answer = await self.phone.request(
                    "barge_in", wav=str(self.clips[INTERRUPTION]), timeout=40
                )
                if answer["ok"] and answer["stop_s"] is not None:
                    run.barge_ins.append(answer["stop_s"])
                else:
                    run.notes.append(f"barge-in: {answer}")
        await self.phone.request("hangup")
        return run

    async def _turn(self, run: Run, name: str, text: str, call_id: str, *, outage: bool) -> None:
        run.turns += 1
        self.phone.events.clear()
        cut = TUTOR_CUT_S if name == "tutor" else None
        said = self.phone.send("say", wav=str(self.clips[text]), cancel_after_s=cut, timeout=40)
        if outage:
            # The phone loses its network for 3 s while the answer plays.
            await self.phone.notified("output_audio_buffer.started", timeout=40)
            self.lab.impair(Impairment(outage=True))
            await asyncio.sleep(OUTAGE_S)
            self.lab.impair(CLEAN)
        answer = await said
        if not answer["ok"]:
            run.notes.append(f"turn {text!r}: {answer.get('error')}")
            run.dropped = True
            again = await self.phone.request("call", session={"resume": call_id}, retry_s=30)
            run.resumed = bool(again["ok"])
            return
        run.answered += answer["status"] in ("completed", "cancelled")
        if self.verbose:
            latency = answer["latency_s"]
            shown = "n/a" if latency is None else f"{1000 * latency:.0f} ms"
            print(f"    {name}: {text!r} -> {answer['heard']!r} ({shown})", flush=True)
        if answer["heard"] is not None:
            run.heard += 1
            edits, words = word_errors(text, answer["heard"])
            run.errors += edits
            run.words += words
        if answer["latency_s"] is not None and not outage:
            run.latencies.append(answer["latency_s"])


def make_clips(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    clips: dict[str, Path] = {}
    for i, (text, language) in enumerate([*INTERPRETER_TURNS, *TUTOR_TURNS, (INTERRUPTION, "en")]):
        clips[text] = web_media.write_wav(
            folder / f"clip{i}.wav", speech_clip(text, language), lead_s=0.2, tail_s=0.2
        )
    return clips


async def run_all(args: argparse.Namespace, work: Path) -> dict[str, dict[str, Run]]:
    clips = make_clips(work / "clips")
    results: dict[str, dict[str, Run]] = {}
    with NetLab(work / "logs") as lab:
        server = LabServer(lab, work / "data", args.backend, "--no-records")
        await server.ready(timeout=300)
        phone = LabPhone(lab)
        await phone.start()
        bench = Bench(phone, lab, clips, repeat=args.repeat, verbose=args.verbose)
        try:
            for profile in args.profiles:
                started = time.monotonic()
                lab.impair(PROFILES[profile])
                results[profile] = {}
                for name in ("interpreter", "tutor"):
                    results[profile][name] = await bench.scenario(name, profile, args.barge_ins)
                lab.impair(CLEAN)
                print(f"[{profile}] {time.monotonic() - started:.0f}s", flush=True)
        finally:
            await phone.close()
    return results


def report(results: dict[str, dict[str, Run]]) -> list[str]:
    head = (
        f"{'profile':24} {'scenario':12} {'resp p50':>9} {'p95':>9} {'barge p95':>10} "
        f"{'WER':>6} {'answered':>9} {'survived':>9}"
    )
    lines = [head]
    for profile, runs in results.items():
        for name, run in runs.items():
            barge = ms(percentile(run.barge_ins, 95)) if name == "interpreter" else ""
            survived = "yes" if run.survived else "NO"
            if run.resumed:
                survived += " (resumed)"
            lines.append(
                f"{profile:24} {name:12} {ms(percentile(run.latencies, 50)):>9} "
                f"{ms(percentile(run.latencies, 95)):>9} {barge:>10} {run.wer:6.3f} "
                f"{run.answered:>4}/{run.turns:<4} {survived:>9}"
            )
            lines += [f"{'':37}note: {note}" for note in run.notes]
        lines.append(
            f"{profile:24} {'(both)':12} {'':>9} {'':>9} {'':>10} {combined_wer(runs):6.3f}"
        )
    return lines


def combined_wer(runs: dict[str, Run]) -> float:
    """Word error rate over both scenarios' utterances."""
    words = sum(r.words for r in runs.values())
    return sum(r.errors for r in runs.values()) / words if words else float("nan")


def targets(results: dict[str, dict[str, Run]]) -> list[str]:
    """Issue 22's targets, against the clean profile of the same run."""
    out: list[str] = []
    clean = results.get("clean")
    mild = results.get("loss2_jitter40")
    if clean and mild:
        dw = combined_wer(mild) - combined_wer(clean)
        out.append(
            f"2%+40ms WER (both scenarios) {combined_wer(mild):.3f} vs clean "
            f"{combined_wer(clean):.3f}: {dw:+.3f} (target <= +0.05: "
            f"{'met' if dw <= 0.05 else 'MISSED'})"
        )
        for name in ("interpreter", "tutor"):
            c, m = clean[name], mild[name]
            dl = percentile(m.latencies, 50) - percentile(c.latencies, 50)
            dl95 = percentile(m.latencies, 95) - percentile(c.latencies, 95)
            out.append(
                f"2%+40ms {name}: latency p50 {1000 * dl:+.0f} ms, p95 {1000 * dl95:+.0f} ms "
                f"vs clean (target <= +100 ms: {'met' if max(dl, dl95) <= 0.1 else 'MISSED'}); "
                f"WER {m.wer - c.wer:+.3f}"
            )
        barge = percentile(mild["interpreter"].barge_ins, 95)
        out.append(
            f"2%+40ms barge-in p95 {ms(barge).strip()} (target <= 200 ms: "
            f"{'met' if barge <= 0.2 else 'MISSED'})"
        )
    harsh = results.get("loss5_jitter80_reorder")
    if harsh:
        ok = all(r.survived for r in harsh.values())
        out.append(
            f"5%+80ms+reorder: every call survived, every turn answered: {'met' if ok else 'MISSED'}"
        )
    outage = results.get("outage_3s")
    if outage:
        ok = all(r.survived for r in outage.values())
        out.append(f"3 s outage: the call went on, no user item lost: {'met' if ok else 'MISSED'}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="embedded")
    parser.add_argument("--barge-ins", type=int, default=4, help="barge-ins per profile")
    parser.add_argument(
        "--repeat", type=int, default=2, help="times each utterance is said per call"
    )
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--verbose", action="store_true", help="print every turn as it goes")
    args = parser.parse_args()
    args.profiles = [p for p in args.profiles.split(",") if p]
    if args.profiles[0] != "clean":
        args.profiles.insert(0, "clean")  # the baseline is always measured in the same run
    missing = missing_tools()
    reason = unavailable() if not missing else f"install {', '.join(missing)} (make install)"
    if reason is not None:
        raise SystemExit(f"bench.network: {reason}")
    with tempfile.TemporaryDirectory(prefix="omnilive-netbench-") as tmp:
        results = asyncio.run(run_all(args, Path(tmp)))
    print()
    for line in report(results):
        print(line)
    print()
    for line in targets(results):
        print(line)
    if args.json:
        figures = {
            p: {
                n: dataclasses.asdict(r) | {"wer": r.wer, "survived": r.survived}
                for n, r in runs.items()
            }
            for p, runs in results.items()
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
