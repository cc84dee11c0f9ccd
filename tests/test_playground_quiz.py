"""The playground's quiz mode: chainrule.exercises' questions, graded on the server
(playground.quiz), in a real headless browser and at the message level."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_playground_browser import ARGS, CHROMIUM, new_tab
from test_playground_server import start_server

from chainrule.notes.exercises import KINDS, generate
from chainrule.playground import quiz


@pytest.mark.parametrize("kind", KINDS)
def test_messages_are_the_exercises_own(kind: str) -> None:
    e = generate(kind, 3)
    q = quiz.question(kind, 3)
    assert q["prompt"] == e.prompt() and q["network"] == e.describe()
    assert quiz.answer(kind, 3, e.answer)["grade"] == "exact"
    assert quiz.answer(kind, 3, e.answer * 1.01)["grade"] == "close"
    m = e.mistakes[0]
    wrong = quiz.answer(kind, 3, m.value)
    assert wrong["grade"] == "wrong" and wrong["factor"] == m.factor
    assert wrong["hint"] == e.hints[m.hint].text
    assert quiz.hint(kind, 3, 0)["text"] == e.hints[0].text


@pytest.mark.parametrize(("call", "word"), [
    (lambda: quiz.question("nope", 1), "kind"),
    (lambda: quiz.question("z", -1), "seed"),
    (lambda: quiz.question("z", True), "seed"),
    (lambda: quiz.answer("z", 1, "1.0"), "answer"),
    (lambda: quiz.answer("z", 1, float("nan")), "answer"),
    (lambda: quiz.hint("z", 1, 99), "n"),
])
def test_bad_requests_name_the_field(call: Any, word: str) -> None:
    with pytest.raises(ValueError, match=rf"^{word}: expected"):
        call()


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with start_server() as (_, url), sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        p, problems = new_tab(b)
        p.goto(url)
        p.wait_for_function("document.getElementById('quiz-prompt').textContent.length > 0")
        yield p
        b.close()
        assert problems == [], problems


@pytest.mark.slow
def test_quiz_in_the_browser_grades_and_hints(page: Any) -> None:
    kind, seed = "hidden_dC_dw", 11
    e = generate(kind, seed)
    page.select_option("#quiz-kind", kind)
    page.fill("#quiz-seed", str(seed))
    page.click("#quiz-new")
    page.wait_for_function(
        f"document.getElementById('quiz-prompt').textContent === {e.prompt()!r}")
    assert page.text_content("#quiz-network") == e.describe()

    def verdict(answer: float) -> tuple[str, str]:
        page.evaluate("document.getElementById('quiz-verdict').dataset.grade = ''")
        page.fill("#quiz-answer", repr(answer))
        page.click("#quiz-check")
        page.wait_for_function("document.getElementById('quiz-verdict').dataset.grade !== ''")
        return (page.get_attribute("#quiz-verdict", "data-grade"),
                page.text_content("#quiz-verdict"))

    assert verdict(e.answer)[0] == "exact"
    assert verdict(e.answer * 1.01)[0] == "close"
    m = e.mistakes[0]
    grade, text = verdict(m.value)
    assert grade == "wrong" and e.hints[m.hint].text in text
    page.click("#quiz-hint")
    page.wait_for_selector("#quiz-hints li")
    assert page.text_content("#quiz-hints li") == e.hints[0].text
