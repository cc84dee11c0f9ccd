// Quiz mode: asks the server for chainrule.exercises' questions and shows its verdicts,
// typeset with KaTeX like the weight panel (the server sends the TeX: playground/quiz_tex.py).
// Nothing is computed or graded here.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const Q = { kind: null, seed: null, shown: 0, n_hints: 0 };

  // What the person asks for goes through the page's act(): its reply clears an error banner.
  function send(msg, byHand) {
    const pg = window.playground;
    if (pg && pg.act && byHand) pg.act(msg);
    else if (pg && pg.send) pg.send(msg);
  }

  function ask(byHand) {
    const seed = Number($("quiz-seed").value);
    send({ type: "quiz", kind: $("quiz-kind").value || "z", seed: Number.isInteger(seed) ? seed : -1 }, byHand);
  }

  function tex(src, display) {
    const span = document.createElement(display ? "div" : "span");
    katex.render(src, span, { displayMode: Boolean(display), throwOnError: false, output: "html" });
    return span;
  }

  // One line of prose and symbols: [{text}, {tex}, ...] from the server.
  function line(parts, tag) {
    const el = document.createElement(tag || "div");
    for (const p of parts) el.append(p.tex === undefined ? document.createTextNode(p.text) : tex(p.tex));
    return el;
  }

  function render(m) {
    if (m.type === "quiz") {
      const select = $("quiz-kind");
      if (select.options.length === 0) {
        for (const k of m.kinds) select.add(new Option(m.kind_names[k] || k, k));
        select.value = m.kind;
      }
      Q.kind = m.kind; Q.seed = m.seed; Q.shown = 0; Q.n_hints = m.n_hints;
      $("quiz-network").replaceChildren(...m.network_tex.map((src) => tex(src, true)));
      const prompt = $("quiz-prompt");
      prompt.replaceChildren(line(m.subject, "h3"), line(m.question));
      if (m.given.length) {
        prompt.append(line([{ text: "you may use:" }]));
        const list = document.createElement("ul");
        for (const g of m.given) list.append(line(g, "li"));
        prompt.append(list);
      }
      prompt.dataset.kind = m.kind;
      prompt.dataset.seed = m.seed;
      $("quiz-verdict").replaceChildren();
      $("quiz-verdict").dataset.grade = "";
      $("quiz-hints").replaceChildren();
      $("quiz-hint").disabled = false;
      $("quiz-answer").value = "";
    } else if (m.type === "quiz_verdict" && m.kind === Q.kind && m.seed === Q.seed) {
      $("quiz-verdict").replaceChildren(line(m.parts, "span"));
      $("quiz-verdict").dataset.grade = m.grade;
      $("quiz-verdict").dataset.factor = m.factor || "";
    } else if (m.type === "quiz_hint" && m.kind === Q.kind && m.seed === Q.seed) {
      const li = document.createElement("li");
      li.dataset.rung = m.factor;
      if (m.n === 1) li.append(line([{ text: "the factors:" }]));
      for (const parts of m.parts) {
        if (m.n === 0) li.append(line([parts[0]]), tex(parts[1].tex, true)); // the chain, displayed
        else li.append(line(parts));
      }
      $("quiz-hints").append(li);
      Q.shown = m.n + 1;
      $("quiz-hint").disabled = Q.shown >= Q.n_hints;
    }
  }

  function init() {
    $("quiz-new").addEventListener("click", () => ask(true));
    $("quiz-check").addEventListener("click", () => {
      if (Q.kind === null) return;
      const text = $("quiz-answer").value.trim().replace("−", "-");
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) {
        $("quiz-verdict").textContent = `answer: expected a number, got '${text}'`;
        $("quiz-verdict").dataset.grade = "";
        return;
      }
      send({ type: "quiz_answer", kind: Q.kind, seed: Q.seed, answer: value }, true);
    });
    $("quiz-hint").addEventListener("click", () => {
      if (Q.kind !== null && Q.shown < Q.n_hints) send({ type: "quiz_hint", kind: Q.kind, seed: Q.seed, n: Q.shown }, true);
    });
    // the first question once the socket is open (the select fills from its reply)
    const first = setInterval(() => {
      if (window.playground && window.playground.connected) { clearInterval(first); ask(false); }
    }, 100);
  }

  window.quizView = { render };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
