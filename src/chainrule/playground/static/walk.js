// chainrule playground, step mode: one sample of the next mini-batch, one stage at a time.
// Every number is the server's (one engine forward/backward on the sample, the batch's
// gradient, the optimizer's next Δw); this file only places them on the diagram. Each value
// carries its full-precision number in data-value; the text shows 4 significant digits.
"use strict";
window.playgroundWalk = (api) => {
  const { $, S, katexInto } = api;
  const SVG = "http://www.w3.org/2000/svg";
  const fmt = (x) => (x === null || x === undefined ? "—" : Number(x).toPrecision(4));
  const NAMES = { z: "z", a: "a", dC_da: "∂C₀/∂a", g_prime: "g′", delta: "δ", y: "y",
    grad_b: "∂C₀/∂b", average_b: "∂C/∂b", update_b: "Δb", sgd_b: "−η∂C/∂b" };

  function clear() {
    document.querySelectorAll(".walk-val").forEach((el) => el.remove());
    document.querySelectorAll("#edges text.walk-edge").forEach((el) => el.remove());
    $("walk-detail").hidden = true;
    $("walk-caption").textContent = "";
    $("walk-prev").disabled = $("walk-next").disabled = true;
  }

  function value(el, q, x, layer, j, k) {
    el.dataset.q = q;
    el.dataset.layer = layer;
    el.dataset.j = j;
    if (k !== undefined) el.dataset.k = k;
    el.dataset.value = x === null ? "" : String(x);
  }

  // A box beside node j of `layer` with one line per quantity.
  function nodeBox(layer, j, rows, current) {
    const p = S.nodes[layer] && S.nodes[layer][j];
    if (!p) return;
    const box = document.createElement("div");
    box.className = current ? "walk-val current" : "walk-val";
    const last = layer === S.sizes.length - 1;
    box.style.left = `${p.x + api.NODE + (last ? 38 : 3)}px`;
    box.style.top = `${p.y - 4}px`;
    for (const [q, x] of rows) {
      const line = document.createElement("div");
      value(line, q, x, layer, j);
      line.textContent = `${NAMES[q] || q} = ${fmt(x)}`;
      box.appendChild(line);
    }
    $("diagram").appendChild(box);
  }

  // A number on the edge of w_jk^(layer), placed where edges into a node fan out least.
  function edgeText(layer, j, k, q, x, line, prefix) {
    const e = S.edges[layer - 1] && S.edges[layer - 1][j] && S.edges[layer - 1][j][k];
    if (!e) return;
    const at = (name) => parseFloat(e.hit.getAttribute(name));
    const t = 0.62;
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("class", "walk-edge");
    text.setAttribute("x", at("x1") + t * (at("x2") - at("x1")) - 22);
    text.setAttribute("y", at("y1") + t * (at("y2") - at("y1")) - 3 + 11 * line);
    value(text, q, x, layer, j, k);
    text.textContent = prefix ? `${prefix} = ${fmt(x)}` : fmt(x);
    $("edges").appendChild(text);
  }

  function edges(m, layer, q, line, prefix) {
    const d = m.layers[layer - 1];
    d[q].forEach((row, j) => row.forEach((x, k) => edgeText(layer, j, k, q, x, line, prefix)));
  }

  function formula(src) {
    const div = document.createElement("div");
    div.className = "formula";
    katexInto(div, src, false);
    return div;
  }

  function number(q, label, x, layer) {
    const div = document.createElement("div");
    div.className = "walk-number";
    value(div, q, x, layer, 0);
    div.textContent = `${label} = ${fmt(x)}`;
    return div;
  }

  function detail(m, st) {
    const el = $("walk-detail");
    el.replaceChildren();
    el.hidden = false;
    const info = document.createElement("div");
    info.textContent = `sample ${m.sample} of the next mini-batch (training point ${m.index}): `
      + `x = (${fmt(m.x[0])}, ${fmt(m.x[1])}), label ${m.label}, y = (${m.y.map(fmt).join(", ")})`;
    el.appendChild(info);
    const l = st.layer;
    const L = m.layers.length;
    if (st.kind === "forward") {
      el.appendChild(formula(`z_j^{(${l})} = \\sum_k w_{jk}^{(${l})} a_k^{(${l - 1})} + b_j^{(${l})},\\quad a_j^{(${l})} = g(z_j^{(${l})}),\\ g = \\text{${m.layers[l - 1].activation}}`));
    } else if (st.kind === "cost") {
      const c0 = m.loss === "squared_error" ? "C_0 = \\sum_j (a_j^{(L)} - y_j)^2" : `C_0 = \\text{${m.loss.replaceAll("_", " ")}}(a^{(L)}, y)`;
      el.appendChild(formula(c0));
      el.appendChild(number("C_0", "C₀ of this sample", m.C_0, L));
    } else if (st.kind === "backward") {
      const dC = l === L
        ? (m.loss === "squared_error" ? `\\frac{\\partial C_0}{\\partial a_j^{(L)}} = 2(a_j^{(L)} - y_j)` : `\\frac{\\partial C_0}{\\partial a_j^{(L)}}\\ \\text{from the loss}`)
        : `\\frac{\\partial C_0}{\\partial a_j^{(${l})}} = \\sum_i w_{ij}^{(${l + 1})} \\delta_i^{(${l + 1})}`;
      // softmax couples its outputs: δ_j is a sum over every output i, not ∂C_0/∂a_j · g′(z_j)
      let gp = m.layers[l - 1].g_prime === null ? `\\sum_i \\frac{\\partial C_0}{\\partial a_i^{(${l})}} \\frac{\\partial a_i^{(${l})}}{\\partial z_j^{(${l})}}` : `\\frac{\\partial C_0}{\\partial a_j} \\cdot g'(z_j^{(${l})})`;
      const canonical = { cross_entropy: "softmax", binary_cross_entropy: "sigmoid" };
      if (l === L && canonical[m.loss] === m.layers[l - 1].activation) gp += " = a_j^{(L)} - y_j"; // the pair's collapse
      el.appendChild(formula(`${dC},\\quad \\delta_j^{(${l})} = ${gp},\\quad \\text{edges: } \\frac{\\partial C_0}{\\partial w_{jk}^{(${l})}} = \\delta_j^{(${l})}\\, a_k^{(${l - 1})}`));
    } else if (st.kind === "average") {
      const pen = m.l2 > 0 ? `\\quad(\\text{the step adds } \\lambda w,\\ \\lambda = ${m.l2})` : "";
      el.appendChild(formula(`\\text{edges: } \\frac{\\partial C}{\\partial w_{jk}} = \\frac{1}{n}\\sum_{i=0}^{n-1} \\frac{\\partial C_i}{\\partial w_{jk}},\\ n = ${m.batch_size};\\quad \\text{nodes: } \\frac{\\partial C}{\\partial b_j}${pen}`));
      el.appendChild(number("cost", "C of the batch", m.cost, L));
    } else {
      const sgd = m.optimizer === "sgd";
      el.appendChild(formula(sgd
        ? `\\text{edges: } \\Delta w_{jk} = -\\eta\\, \\frac{\\partial C}{\\partial w_{jk}},\\ \\eta = ${m.lr}` + (m.l2 > 0 ? " \\ (\\partial C/\\partial w \\text{ with } \\lambda w)" : "")
        : `\\text{edges: } \\Delta w \\text{ of ${m.optimizer}}\\ \\text{(top) and } -\\eta\\, \\frac{\\partial C}{\\partial w} \\text{ (the notes' plain SGD step, below)},\\ \\eta = ${m.lr}`));
    }
  }

  function render() {
    clear();
    const m = S.walk;
    if (!m || !S.nodes.length || S.nodes.length !== m.layers.length + 1) return;
    const n = m.stages.length;
    S.stage = Math.max(0, Math.min(n - 1, S.stage));
    const st = m.stages[S.stage];
    $("walk-caption").textContent = `${S.stage + 1} / ${n} · ${st.caption}`;
    $("walk-caption").dataset.kind = st.kind;
    $("walk-prev").disabled = S.stage === 0;
    $("walk-next").disabled = S.stage === n - 1;
    const L = m.layers.length;
    if (st.kind === "forward" || st.kind === "cost") {
      const upto = st.kind === "cost" ? L : st.layer;
      m.a0.forEach((x, j) => nodeBox(0, j, [["a", x]], false));
      for (let l = 1; l <= upto; l++) {
        const d = m.layers[l - 1];
        d.z.forEach((z, j) => {
          const rows = [["z", z], ["a", d.a[j]]];
          if (st.kind === "cost" && l === L) rows.push(["y", m.y[j]]);
          nodeBox(l, j, rows, l === st.layer);
        });
      }
    } else if (st.kind === "backward") {
      for (let l = L; l >= st.layer; l--) {
        const d = m.layers[l - 1];
        d.delta.forEach((delta, j) => nodeBox(l, j, [["dC_da", d.dC_da[j]],
          ["g_prime", d.g_prime === null ? null : d.g_prime[j]], ["delta", delta]], l === st.layer));
      }
      edges(m, st.layer, "grad_w", 0, "");
    } else {
      const [qw, qb] = st.kind === "average" ? ["average_w", "average_b"] : ["update_w", "update_b"];
      for (let l = 1; l <= L; l++) {
        const d = m.layers[l - 1];
        if (d[qb]) d[qb].forEach((x, j) => nodeBox(l, j, [[qb, x]], true));
        if (st.kind === "update" && m.optimizer !== "sgd") {
          edges(m, l, qw, 0, "Δw");
          edges(m, l, "sgd_w", 1, "SGD");
        } else {
          edges(m, l, qw, 0, "");
        }
      }
    }
    detail(m, st);
  }

  return { render, clear };
};
