// Quiz mode: asks the server for chainrule.exercises' questions and shows its verdicts.
// Nothing is computed or graded here.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const Q = { kind: null, seed: null, shown: 0, n_hints: 0 };

  function send(msg) { if (window.playground && window.playground.send) window.playground.send(msg); }

  function ask() {
    const seed = Number($("quiz-seed").value);
    send({ type: "quiz", kind: $("quiz-kind").value || "z", seed: Number.isInteger(seed) ? seed : -1 });
  }

  function render(m) {
    if (m.type === "quiz") {
      const select = $("quiz-kind");
      if (select.options.length === 0) {
        for (const k of m.kinds) select.add(new Option(k, k));
        select.value = m.kind;
      }
      Q.kind = m.kind; Q.seed = m.seed; Q.shown = 0; Q.n_hints = m.n_hints;
      $("quiz-network").textContent = m.network;
      $("quiz-prompt").textContent = m.prompt;
      $("quiz-verdict").textContent = "";
      $("quiz-verdict").dataset.grade = "";
      $("quiz-hints").replaceChildren();
      $("quiz-answer").value = "";
    } else if (m.type === "quiz_verdict" && m.kind === Q.kind && m.seed === Q.seed) {
      $("quiz-verdict").textContent = m.message + (m.hint ? ` — hint: ${m.hint}` : "");
      $("quiz-verdict").dataset.grade = m.grade;
    } else if (m.type === "quiz_hint" && m.kind === Q.kind && m.seed === Q.seed) {
      const li = document.createElement("li");
      li.textContent = m.text;
      li.dataset.factor = m.factor;
      $("quiz-hints").append(li);
      Q.shown = m.n + 1;
    }
  }

  function init() {
    $("quiz-new").addEventListener("click", ask);
    $("quiz-check").addEventListener("click", () => {
      if (Q.kind === null) return;
      const text = $("quiz-answer").value.trim().replace("−", "-");
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) {
        $("quiz-verdict").textContent = `answer: expected a number, got '${text}'`;
        return;
      }
      send({ type: "quiz_answer", kind: Q.kind, seed: Q.seed, answer: value });
    });
    $("quiz-hint").addEventListener("click", () => {
      if (Q.kind !== null && Q.shown < Q.n_hints) send({ type: "quiz_hint", kind: Q.kind, seed: Q.seed, n: Q.shown });
    });
    // the first question once the socket is open (the select fills from its reply)
    const first = setInterval(() => {
      if (window.playground && window.playground.connected) { clearInterval(first); ask(); }
    }, 100);
  }

  window.quizView = { render };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
