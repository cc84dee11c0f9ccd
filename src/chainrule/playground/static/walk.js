// chainrule playground, step mode: one sample of the next mini-batch, one stage at a time.
// Every number is the server's (one engine forward/backward on the sample, the batch's
// gradient, the optimizer's next Δw); this file only places them on the diagram. Each value
// carries its full-precision number in data-value; the text shows 4 significant digits.
"use strict";
window.playgroundWalk = (api) => {
  const { $, S, katexInto } = api;
  // 4 significant digits; scientific notation (3.200e-5) for the very small and the large.
  const fmt = (x) => {
    if (x === null || x === undefined) return "—";
    const v = Number(x) + 0; // never −0
    const big = v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5);
    return big ? v.toExponential(3).replace("e+", "e") : v.toPrecision(4);
  };
  const NAMES = { z: "z", a: "a", dC_da: "∂C₀/∂a", g_prime: "g′", delta: "δ", y: "y",
    grad_b: "∂C₀/∂b", average_b: "∂C/∂b", update_b: "Δb", sgd_b: "−η∂C/∂b" };

  const EDGE_NAMES = { grad_w: "∂C₀/∂w_jk", average_w: "∂C/∂w_jk", update_w: "Δw_jk",
    sgd_w: "−η ∂C/∂w_jk (plain SGD)" };

  function clear() {
    document.querySelectorAll(".walk-val").forEach((el) => el.remove());
    $("walk-tables").replaceChildren();
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

  // ------------------------------------------------------------------------- the labels
  // A stage's numbers come in groups: the values at one layer's nodes, or one quantity on the
  // edges into one layer. A group goes on the diagram only if every one of its labels finds a
  // spot that overlaps no node, no other label and no column heading; otherwise the whole
  // group goes into a table below the diagram, so a layer is never half on the diagram.

  // Node j of `layer`: one line per [quantity, value]. Two variants: "z = 0.1234" lines, and,
  // where those do not fit, the bare numbers (the detail above the diagram names them).
  function nodeGroup(layer, rows, current) {
    const d = { kind: "node", layer, current, rows, variants: [[], []] };
    d.variants.forEach((items, short) => rows[0][1].forEach((_, j) => {
      const el = document.createElement("div");
      el.className = current ? "walk-val current" : "walk-val";
      for (const [q, xs] of rows) {
        const line = document.createElement("div");
        value(line, q, xs[j], layer, j);
        line.textContent = short ? fmt(xs[j]) : `${NAMES[q] || q} = ${fmt(xs[j])}`;
        el.appendChild(line);
      }
      const p = S.nodes[layer][j];
      const n = S.nodeSize;
      el.spots = (w, h) => {
        const y = p.y + n / 2 - h / 2;
        return [[p.x + n + 3, y], [p.x + n + 40, y], [p.x - 3 - w, y], [p.x - 30 - w, y]];
      };
      items.push(el);
    }));
    return d;
  }

  // The edges into `layer`: one label per weight w_jk, one line per quantity in `qs`.
  function edgeGroup(m, layer, qs, prefixes) {
    const d = { kind: "edge", layer, qs, variants: [[]], m };
    const g = m.layers[layer - 1];
    g[qs[0]].forEach((row, j) => row.forEach((_, k) => {
      const el = document.createElement("div");
      el.className = "walk-val edge";
      qs.forEach((q, i) => {
        const line = document.createElement("div");
        value(line, q, g[q][j][k], layer, j, k);
        line.textContent = prefixes[i] ? `${prefixes[i]} = ${fmt(g[q][j][k])}` : fmt(g[q][j][k]);
        el.appendChild(line);
      });
      const a = S.nodes[layer - 1][k];
      const b = S.nodes[layer][j];
      const n = S.nodeSize;
      const [x1, y1, x2, y2] = [a.x + n, a.y + n / 2, b.x, b.y + n / 2];
      el.spots = (w, h) => [0.62, 0.5, 0.74, 0.4, 0.84, 0.3, 0.2].flatMap((t) => {
        const x = x1 + t * (x2 - x1) - w / 2;
        const y = y1 + t * (y2 - y1);
        return [[x, y - h / 2], [x, y - h - 1], [x, y + 1]];
      });
      d.variants[0].push(el);
    }));
    return d;
  }

  const GAP = 1; // px between two labels
  const hits = (a, b) => a.x < b.x + b.w + GAP && b.x < a.x + a.w + GAP
    && a.y < b.y + b.h + GAP && b.y < a.y + a.h + GAP;

  // Put each group on the diagram where it fits, in order; return the groups that did not.
  function place(groups) {
    const box = $("diagram");
    const W = box.clientWidth;
    const H = box.clientHeight;
    const o = box.getBoundingClientRect();
    const rect = (r) => ({ x: r.left - o.left, y: r.top - o.top, w: r.width, h: r.height });
    const taken = Array.from(box.querySelectorAll(".node, .node .tag, .col-label, .col-buttons"),
      (el) => rect(el.getBoundingClientRect()));
    const items = groups.flatMap((g) => g.variants.flat());
    for (const el of items) {
      el.style.visibility = "hidden";
      el.style.left = el.style.top = "0px";
      box.appendChild(el);
    }
    const sizes = items.map((el) => el.getBoundingClientRect()); // one layout for them all
    const size = new Map(items.map((el, i) => [el, sizes[i]]));
    const fit = (els) => {
      const mine = [];
      for (const el of els) {
        const { width: w, height: h } = size.get(el);
        const spot = el.spots(w, h).map(([x, y]) => ({ x, y, w, h })).find((r) => r.x >= 0
          && r.y >= 0 && r.x + r.w <= W && r.y + r.h <= H && !taken.some((t) => hits(r, t))
          && !mine.some((t) => hits(r, t)));
        if (!spot) return null;
        mine.push(spot);
      }
      return mine;
    };
    const spilled = [];
    for (const g of groups) {
      let placed = false;
      g.variants.forEach((els, v) => {
        const spots = placed ? null : fit(els);
        if (!spots) {
          els.forEach((el) => el.remove());
          return;
        }
        els.forEach((el, i) => {
          el.style.left = `${spots[i].x}px`;
          el.style.top = `${spots[i].y}px`;
          el.style.visibility = "";
        });
        taken.push(...spots);
        placed = true;
        g.short = v > 0;
      });
      if (!placed) spilled.push(g);
    }
    return { spilled, short: groups.filter((g) => g.short) };
  }

  // The groups that did not fit, as tables: a layer's nodes (a column per node j), or one
  // quantity on its edges as the matrix it is (row j, column k, like w^(l)).
  function tables({ spilled }) {
    const out = $("walk-tables");
    if (!spilled.length) return;
    const note = document.createElement("div");
    note.className = "hint";
    note.textContent = "Too many numbers to write on the diagram at this width; here they are by layer:";
    out.appendChild(note);
    const cell = (tr, text, head) => {
      const c = document.createElement(head ? "th" : "td");
      c.textContent = text;
      tr.appendChild(c);
      return c;
    };
    for (const g of spilled) {
      const blocks = g.kind === "node" ? [null] : g.qs;
      for (const q of blocks) {
        const div = document.createElement("div");
        div.className = "walk-layer";
        const table = document.createElement("table");
        const cap = table.createCaption();
        const head = table.createTHead().insertRow();
        const body = table.createTBody();
        if (g.kind === "node") {
          cap.textContent = `layer ${g.layer}${g.current ? " (this stage)" : ""}: node j`;
          cell(head, "", true);
          g.rows[0][1].forEach((_, j) => cell(head, `j = ${j}`, true));
          for (const [name, xs] of g.rows) {
            const tr = body.insertRow();
            cell(tr, NAMES[name] || name, true);
            xs.forEach((x, j) => value(cell(tr, fmt(x)), name, x, g.layer, j));
          }
        } else {
          const w = g.m.layers[g.layer - 1][q];
          cap.textContent = `${EDGE_NAMES[q]}^(${g.layer}): row j, column k`;
          cell(head, "", true);
          w[0].forEach((_, k) => cell(head, `k = ${k}`, true));
          w.forEach((row, j) => {
            const tr = body.insertRow();
            cell(tr, `j = ${j}`, true);
            row.forEach((x, k) => value(cell(tr, fmt(x)), q, x, g.layer, j, k));
          });
        }
        div.appendChild(table);
        out.appendChild(div);
      }
    }
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

  // Which numbers the bare columns beside the nodes are, top to bottom.
  function legend(short) {
    const seen = new Map();
    for (const g of short) {
      const names = g.rows.map(([q]) => NAMES[q] || q).join(", ");
      seen.set(names, [...(seen.get(names) || []), g.layer]);
    }
    if (!seen.size) return;
    const div = document.createElement("div");
    div.className = "walk-legend";
    div.textContent = "beside the nodes, top to bottom: " + Array.from(seen,
      ([names, layers]) => `${names} (layer${layers.length > 1 ? "s" : ""} ${layers.sort().join(", ")})`).join("; ");
    $("walk-detail").appendChild(div);
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
    const groups = [];
    if (st.kind === "forward" || st.kind === "cost") {
      for (let l = st.layer; l >= 1; l--) { // the current layer first: it gets the room
        const d = m.layers[l - 1];
        const rows = [["z", d.z], ["a", d.a]];
        if (st.kind === "cost" && l === L) rows.push(["y", m.y]);
        groups.push(nodeGroup(l, rows, l === st.layer));
      }
      groups.push(nodeGroup(0, [["a", m.a0]], false));
    } else if (st.kind === "backward") {
      const node = (l) => {
        const e = m.layers[l - 1];
        return nodeGroup(l, [["dC_da", e.dC_da], ["g_prime", e.g_prime === null
          ? e.delta.map(() => null) : e.g_prime], ["delta", e.delta]], l === st.layer);
      };
      groups.push(node(st.layer), edgeGroup(m, st.layer, ["grad_w"], [""]));
      for (let l = st.layer + 1; l <= L; l++) groups.push(node(l));
    } else {
      const [qw, qb] = st.kind === "average" ? ["average_w", "average_b"] : ["update_w", "update_b"];
      const two = st.kind === "update" && m.optimizer !== "sgd";
      for (let l = L; l >= 1; l--) {
        const d = m.layers[l - 1];
        if (d[qb]) groups.push(nodeGroup(l, [[qb, d[qb]]], true));
        groups.push(two ? edgeGroup(m, l, [qw, "sgd_w"], ["Δw", "SGD"]) : edgeGroup(m, l, [qw], [""]));
      }
    }
    const placed = place(groups);
    tables(placed);
    detail(m, st);
    legend(placed.short);
  }

  return { render, clear };
};
