"""The explainer's parts without a call: scoreboards from OCR-like text, sport detection,
match state, question answering and the rules knowledge base."""

from __future__ import annotations

import pytest

from explainer.answers import answer, classify
from explainer.match import MatchState
from explainer.rules import find_rule, load_rules
from explainer.scoreboard import Scoreboard, detect_sport, parse_scoreboard


def board(lines: list[str], sport: str | None = None) -> Scoreboard:
    reading = parse_scoreboard(lines, sport)
    assert reading is not None, lines
    return reading.board


@pytest.mark.parametrize(
    ("lines", "sport"),
    [
        (["ARS 1-0 CHE 23:10 1H"], "football"),
        (["Man City 0 - 0 Liverpool 45:00 HT"], "football"),
        (["LIVE", "Real Madrid 2-2 Barcelona 90+3 2H"], "football"),
        (["BAR 1–1 RMA 67.45"], "football"),  # en dash, a dot read for the colon
        (["LAL 88 BOS 91 Q3 7:42 SHOT 14"], "basketball"),
        (["GSW 102 DEN 99 4TH QTR 0:48"], "basketball"),
        (["MIA 20 NYK 18 SHOT 9"], "basketball"),
        (["DJOKOVIC 6 3 40", "ALCARAZ 4 5 30"], "tennis"),
        (["SWIATEK 7 2 AD", "GAUFF 6 2 40"], "tennis"),
        (["Sinner 6 4 6", "Zverev 3 6 2"], "tennis"),
        (["BUY NOW 50% OFF"], None),
        (["ARS 1-0 CHE"], None),  # no clock or period: could be anything
        (["Route 66", "Call 0800 12 34"], None),
        ([], None),
    ],
)
def test_sport_is_detected_from_the_scoreboard(lines: list[str], sport: str | None) -> None:
    assert detect_sport(lines) == sport


def test_football_fields() -> None:
    b = board(["ARSENAL 2-1 CHELSEA 67:45 2H"])
    assert (b.teams, b.score, b.clock, b.period) == (("ARSENAL", "CHELSEA"), (2, 1), "67:45", "2H")
    assert b.clock_minutes == pytest.approx(67.75)
    added = board(["Real Madrid 2-2 Barcelona 90+3 2H"])
    assert added.clock == "90+3" and added.clock_minutes == 90.0
    # Told the sport, a bare score line is enough.
    assert board(["ARS 1-0 CHE"], "football").score == (1, 0)


def test_basketball_fields() -> None:
    b = board(["GSW 102 DEN 99 4TH QTR 0:48"])
    assert (b.score, b.period, b.clock, b.shot_clock) == ((102, 99), "Q4", "0:48", None)
    b = board(["LAL 88 BOS 91 Q3 7:42 SHOT 14"])
    assert b.shot_clock == 14 and b.as_event()["score"] == [88, 91]


def test_tennis_sets_games_and_points() -> None:
    b = board(["DJOKOVIC 6 3 40", "ALCARAZ 4 5 30"])
    assert b.sets == ((6, 4), (3, 5)) and b.points == ("40", "30")
    assert b.score == (1, 0) and b.games == (3, 5)
    # No point column: every column is a set; a finished last set counts as won.
    b = board(["Sinner 6 4 6", "Zverev 3 6 2"])
    assert b.points is None and b.score == (2, 1)
    assert board(["SWIATEK 7 2 A", "GAUFF 6 2 40"]).points == ("AD", "40")
    # Told the sport is football, a tennis graphic is not read as football.
    assert parse_scoreboard(["DJOKOVIC 6 3 40", "ALCARAZ 4 5 30"], "football") is None


def test_match_state_confirms_changes_and_reports_each_once() -> None:
    state = MatchState()
    frames = [
        "ARS 0-0 CHE 23:10 1H",
        "ARS 0-0 CHE 23:11 1H",
        "ARS 7-0 CHE 23:12 1H",  # one OCR slip: never confirmed
        "ARS 0-0 CHE 23:40 1H",
        "ARS 1-0 CHE 24:02 1H",
        "ARS 1-0 CHE 24:03 1H",
        "ARS 1-0 CHE 45:00 HT",
        "ARS 1-0 CHE 45:00 HT",
    ]
    kinds = []
    for t, line in enumerate(frames):
        kinds += [(o.kind, o.board.score) for o in state.push(board([line]), float(t))]
    assert kinds == [
        ("sport", (0, 0)),
        ("score", (0, 0)),
        ("clock", (0, 0)),
        ("score", (1, 0)),
        ("clock", (1, 0)),
        ("period", (1, 0)),
        ("clock", (1, 0)),
    ]
    last = state.last_score_change
    assert last is not None and last.extra == {"scorer": "ARS", "points": 1, "clock": "24:03"}
    assert last.as_event()["kind"] == "score"


def test_tennis_game_and_set_changes() -> None:
    state = MatchState()
    for _ in range(2):
        state.push(board(["Sinner 6 5 40", "De Minaur 4 6 30"]), 0.0)
    events = []
    for _ in range(2):
        events += state.push(board(["Sinner 6 5 0", "De Minaur 4 7 0"]), 1.0)
    assert [e.kind for e in events] == ["score"]
    assert events[0].extra["scorer"] == "De Minaur" and "wins the set" in events[0].text
    assert events[0].board.score == (1, 1)


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What's the score?", "score"),
        ("who is winning", "score"),
        ("How long is left?", "clock"),
        ("what minute is it", "clock"),
        ("Who scored?", "scorer"),
        ("What just happened?", "scorer"),
        ("Why was that offside?", "rules"),
        ("What is a tiebreak?", "rules"),
    ],
)
def test_questions_are_classified(question: str, intent: str) -> None:
    assert classify(question) == intent


def test_answers_from_what_was_seen_and_plain_when_not() -> None:
    state = MatchState()
    nothing = answer("What's the score?", state, None)
    assert nothing.kind == "unknown" and "can't tell the score" in nothing.text
    for line in ("LAL 88 BOS 91 Q3 7:42 SHOT 14",) * 2 + ("LAL 91 BOS 91 Q3 7:20 SHOT 24",) * 2:
        state.push(board([line]), 0.0)
    score = answer("what's the score", state, None)
    assert score.kind == "observation" and "LAL 91, BOS 91" in score.text and "level" in score.text
    clock = answer("how long is left", state, None)
    assert "7:20 left in the third quarter" in clock.text
    scorer = answer("who scored", state, None)
    assert "3 for LAL" in scorer.text and "7:20" in scorer.text
    rules = answer("what is a three pointer", state, None)
    assert rules.kind == "rules" and rules.source is not None and "Art. 16" in rules.source
    assert answer("what's the weather like", state, None).kind == "unknown"


@pytest.mark.parametrize(
    ("question", "sport", "topic", "source"),
    [
        ("Why was that offside?", "football", "offside", "Law 11"),
        ("why was that outside", "football", "offside", "Law 11"),  # as Whisper hears it
        ("What is a foul?", "football", "foul", "Law 12"),
        ("What is a foul?", "basketball", "foul", "Art. 34"),
        ("what is a tie-break", "tennis", "tiebreak", "Rule 5"),
        ("what is a tie break", None, "tiebreak", "ITF"),
        ("What is a three-pointer?", "basketball", "three-pointer", "Art. 16"),
        ("what's a double fault", "tennis", "fault", "Rule 20"),
        ("what is the shot clock", "basketball", "shot clock", "Art. 29"),
    ],
)
def test_rules_are_found_and_cited(
    question: str, sport: str | None, topic: str, source: str
) -> None:
    rule = find_rule(question, sport)
    assert rule is not None and rule.topic == topic and source in rule.source


def test_knowledge_base_is_short_cited_and_covers_each_sport() -> None:
    rules = load_rules()
    assert {r.sport for r in rules} == {"football", "basketball", "tennis"}
    books = {"football": "IFAB Laws of the Game", "basketball": "FIBA", "tennis": "ITF Rules"}
    for rule in rules:
        assert rule.source.startswith(books[rule.sport]) or books[rule.sport] in rule.source
        assert len(rule.text.split()) <= 90, rule.topic  # a summary, not the rule book
        assert rule.keywords
