"""The playground's quiz mode: chainrule.exercises' questions, graded on the server
(playground.quiz), typeset (playground.quiz_tex) with a hint ladder — the chain, the factors'
values, the answer — in a real headless browser and at the message level."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from test_playground_browser import ARGS, ARTIFACTS, CHROMIUM, new_tab
from test_playground_server import start_server

from chainrule.notes.exercises import KINDS, generate
from chainrule.playground import quiz
from chainrule.playground.quiz_tex import segments


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


def number_in(value: str, text: str) -> bool:
    """``value`` appears in ``text`` as a whole number, not as part of a longer one."""
    return re.search(rf"(?<![\d.]){re.escape(value)}(?![\d])", text) is not None


def shown(message: dict[str, Any]) -> str:
    """Everything a hint shows: its plain text and every TeX or prose piece."""
    pieces = [p.get("tex", p.get("text", "")) for line in message["parts"] for p in line]
    return " ".join([message["text"], *pieces])


@pytest.mark.parametrize("kind", KINDS)
def test_the_hint_ladder_gives_the_chain_then_the_values_then_the_answer(kind: str) -> None:
    for seed in range(6):
        e = generate(kind, seed)
        assert quiz.question(kind, seed)["n_hints"] == 3
        chain, values, answer = (quiz.hint(kind, seed, n) for n in range(3))
        result = f"{e.answer:.{e.digits}g}"
        # Rung 1 names every factor of the chain and gives no number but the indices (and η).
        assert all(h.factor in chain["text"] for h in e.hints), chain["text"]
        formula = chain["parts"][0][1]["tex"].split("\\eta = ")[0]
        assert re.search(r"\d\.\d", formula) is None, formula
        # Rung 2: each factor's hint with its values, but not the result when that is the answer.
        assert len(values["parts"]) == len(e.hints)
        for h, line in zip(e.hints, values["text"].removeprefix("the factors: ").split("; "),
                           strict=True):
            assert h.text.startswith(line)
        for rung in (chain, values):
            assert not number_in(f"{e.answer:.6g}", shown(rung)), (seed, rung)
        # Rung 3: the answer, which grades exact.
        assert answer["text"] == f"the answer: {result}"
        assert quiz.answer(kind, seed, float(result))["grade"] == "exact"


def test_segments_typeset_the_notes_symbols() -> None:
    assert segments("∂C_0/∂w_01^(2) = 2(a_1^(2) − y_1) · g′(z_1^(2)), δ_0^(2) and η") == [
        {"tex": "\\frac{\\partial C_{0}}{\\partial w_{01}^{(2)}}"}, {"text": " = 2("},
        {"tex": "a_{1}^{(2)}"}, {"text": " − "}, {"tex": "y_{1}"}, {"text": ") · "},
        {"tex": "g'(z_{1}^{(2)})"}, {"text": ", "}, {"tex": "\\delta_{0}^{(2)}"},
        {"text": " and "}, {"tex": "\\eta"}]
    # No plain symbol is left in the prose of any question, given value, hint or verdict.
    plain = re.compile(r"[a-zδ]_\w+\^\(\d\)|∂C|g′\(")
    for kind in KINDS:
        for seed in range(3):
            e = generate(kind, seed)
            q = quiz.question(kind, seed)
            lines = [q["question"], *q["given"], q["subject"]]
            lines += [line for n in range(3) for line in quiz.hint(kind, seed, n)["parts"]]
            lines += [quiz.answer(kind, seed, m.value)["parts"] for m in e.mistakes]
            for line in lines:
                for piece in line:
                    assert "text" not in piece or not plain.search(piece["text"]), piece


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
def test_quiz_in_the_browser_is_typeset_grades_and_climbs_the_ladder(page: Any) -> None:
    kind, seed = "hidden_dC_dw", 11
    e = generate(kind, seed)
    label = page.eval_on_selector(f"#quiz-kind option[value={kind}]", "o => o.textContent")
    assert label == "∂C₀/∂w of a hidden weight"  # a name, not the id
    page.select_option("#quiz-kind", kind)
    page.fill("#quiz-seed", str(seed))
    page.click("#quiz-new")
    page.wait_for_function("document.getElementById('quiz-prompt').dataset.kind === "
                           f"'{kind}' && document.getElementById('quiz-prompt').dataset.seed"
                           f" === '{seed}'")
    subject = page.text_content("#quiz-prompt h3")
    assert subject.endswith(": the weight from unit 0 of layer 0 to unit 1 of layer 1")
    # Typeset with KaTeX, as the weight panel: the network's matrices, the question's symbols.
    assert page.locator("#quiz-network .katex").count() == len(e.sizes) + 1
    assert page.locator("#quiz-prompt .katex").count() >= len(e.given) + 2
    assert page.locator("#quiz .katex-error").count() == 0

    def verdict(answer: float) -> tuple[str, str]:
        page.evaluate("document.getElementById('quiz-verdict').dataset.grade = ''")
        page.fill("#quiz-answer", repr(answer))
        page.click("#quiz-check")
        page.wait_for_function("document.getElementById('quiz-verdict').dataset.grade !== ''")
        return (page.get_attribute("#quiz-verdict", "data-grade"),
                page.get_attribute("#quiz-verdict", "data-factor"))

    assert verdict(e.answer)[0] == "exact"
    assert verdict(e.answer * 1.01)[0] == "close"
    m = e.mistakes[0]
    assert verdict(m.value) == ("wrong", m.factor)
    assert page.locator("#quiz-verdict .katex").count() > 0
    for n, rung in enumerate(("the chain", "the factors", "the answer")):
        page.click("#quiz-hint")
        page.wait_for_function(f"document.querySelectorAll('#quiz-hints li').length === {n + 1}")
        assert page.get_attribute(f"#quiz-hints li:nth-child({n + 1})", "data-rung") == rung
    assert page.locator("#quiz-hints li:nth-child(1) .katex-display").count() == 1
    assert page.locator("#quiz-hints li:nth-child(2) > div").count() == 1 + len(e.hints)
    assert f"{e.answer:.4g}" in page.text_content("#quiz-hints li:nth-child(3)")
    assert page.locator("#quiz-hint").is_disabled()
    assert page.locator("#quiz .katex-error").count() == 0


@pytest.mark.slow
def test_every_kind_typesets_without_a_katex_error(page: Any) -> None:
    for kind in KINDS:
        page.select_option("#quiz-kind", kind)
        page.fill("#quiz-seed", "5")
        page.click("#quiz-new")
        page.wait_for_function(
            f"document.getElementById('quiz-prompt').dataset.kind === '{kind}'")
        for n in range(3):
            page.click("#quiz-hint")
            page.wait_for_function(
                f"document.querySelectorAll('#quiz-hints li').length === {n + 1}")
        assert page.locator("#quiz .katex").count() > 10
        assert page.locator("#quiz .katex-error").count() == 0, kind
        if kind == "hidden_dC_dw":
            page.locator("#quiz").screenshot(path=str(ARTIFACTS / "playground-quiz.png"))
