// chainrule playground, the explanation panel: the chain rule of the clicked weight or node,
// typeset with KaTeX, every number the server's (chainrule.explain on the live network).
"use strict";
window.playgroundPanel = (api) => {
  const { $, S, katexInto } = api;

  const num = (x) => (x === null || x === undefined ? "—" : (Number(x) + 0).toPrecision(6)); // never −0
  function tex(x) { // the same 6 significant digits, as TeX
    if (x === null || x === undefined) return "\\text{—}";
    const s = (Number(x) + 0).toPrecision(6);
    const [mant, exp] = s.split("e");
    return exp === undefined ? s : `${mant}\\times 10^{${parseInt(exp, 10)}}`;
  }
  const paren = (x) => (Number(x) < 0 ? `(${tex(x)})` : tex(x));


  function formula(src) {
    const div = document.createElement("div");
    div.className = "formula";
    katexInto(div, src, true);
    return div;
  }

  function factorRow(table, labelTex, key, value, note, cls) {
    const tr = table.insertRow();
    if (cls) tr.className = cls;
    const a = tr.insertCell();
    katexInto(a, labelTex, false);
    const b = tr.insertCell();
    b.className = "value";
    b.dataset.factor = key;
    b.textContent = num(value);
    const c = tr.insertCell();
    c.className = "note";
    c.textContent = note || "";
    return b;
  }

  function renderExplanation(m) {
    S.explanation = m;
    const body = $("explain-body");
    body.replaceChildren();
    $("explain").hidden = false;
    $("sample").max = m.batch_size - 1;
    $("batch-n").textContent = m.batch_size;
    $("sample-info").textContent = `x = (${num(m.x[0])}, ${num(m.x[1])}), label ${m.label}`;
    if (m.type === "weight") renderWeight(m, body);
    else renderNeuron(m, body);
    $("explain").dataset.key = m.type === "weight" ? `w-${m.layer}-${m.j}-${m.k}` : `node-${m.layer}-${m.j}`;
    if (S.reveal) { // after a click, not on the live refreshes while training
      S.reveal = false;
      $("explain").scrollIntoView({ block: "nearest" });
    }
  }

  function renderWeight(m, body) {
    const l = m.layer, j = m.j, k = m.k;
    const L = m.n_layers;
    const W = `w_{${j > 9 || k > 9 ? `${j},${k}` : `${j}${k}`}}^{(${l})}`;
    const aj = `a_{${j}}^{(${l})}`;
    const zj = `z_{${j}}^{(${l})}`;
    const ak = `a_{${k}}^{(${l - 1})}`;
    katexInto($("explain-title"), `\\text{weight } ${W} = ${tex(m.w)}\\quad\\text{(layer } ${l}${l === L ? " = L" : ""}\\text{, node } ${k} \\to ${j})`, false);
    const dj = `\\delta_{${j}}^{(${l})}`;
    // softmax couples its outputs: the chain is δ_j · a_k, δ_j a sum over every output
    body.append(formula(`\\frac{\\partial C_0}{\\partial ${W}} = `
      + (m.g_prime === null ? `${dj} \\cdot ${ak} = ${paren(m.delta)} \\cdot ${paren(m.a_prev_k)}`
        : `\\frac{\\partial C_0}{\\partial ${aj}} \\cdot g'(${zj}) \\cdot ${ak} = ${paren(m.dC_da)} \\cdot ${paren(m.g_prime)} \\cdot ${paren(m.a_prev_k)}`)
      + ` = ${tex(m.product)}`));
    const cols = document.createElement("div");
    cols.className = "columns";
    const left = document.createElement("div");
    const table = document.createElement("table");
    table.className = "factors";
    if (m.g_prime === null) {
      renderCoupled(m, left, table, dj, zj);
    } else if (l === L) {
      if (m.loss === "squared_error") {
        left.append(formula(`\\frac{\\partial C_0}{\\partial ${aj}} = 2(${aj} - y_{${j}}) = 2(${tex(m.a_j)} - ${paren(m.y_j)}) = ${tex(m.dC_da)}`));
      } else {
        left.append(formula(`\\frac{\\partial C_0}{\\partial ${aj}} = ${tex(m.dC_da)}\\quad(\\text{${m.loss.replaceAll("_", " ")}},\\ ${aj} = ${tex(m.a_j)},\\ y_{${j}} = ${tex(m.y_j)})`));
      }
    } else {
      left.append(formula(`\\frac{\\partial C_0}{\\partial ${aj}} = \\sum_{i} w_{i${j}}^{(${l + 1})}\\, g'(z_i^{(${l + 1})})\\, \\frac{\\partial C_0}{\\partial a_i^{(${l + 1})}} = ${tex(m.dC_da)}`));
    }
    if (m.g_prime !== null) factorRow(table, `\\frac{\\partial C_0}{\\partial ${aj}}`, "dC_da", m.dC_da, l === L ? `from the loss (${m.loss})` : "sum over the next layer's nodes:", "total");
    if (m.g_prime !== null) m.terms.forEach((t) => {
      const tr = table.insertRow();
      const a = tr.insertCell();
      const gpt = t.g_prime === null ? "" : ` \\cdot ${paren(t.g_prime)}`;
      katexInto(a, `\\quad i = ${t.i}:\\ ${paren(t.w)}${gpt} \\cdot ${paren(t.dC_da)}`, false);
      const b = tr.insertCell();
      b.className = "value";
      b.dataset.term = t.i;
      b.textContent = num(t.product);
      tr.insertCell().className = "note";
      tr.cells[2].textContent = t.g_prime === null ? `w_${t.i},${j}^(${l + 1}) · δ_${t.i}`
        : `w_${t.i},${j}^(${l + 1}) · g′(z_${t.i}) · ∂C₀/∂a_${t.i}`;
    });
    if (m.g_prime !== null) {
      factorRow(table, `g'(${zj}) = g'(${tex(m.z_j)})`, "g_prime", m.g_prime, `g = ${m.activation}`);
      if (m.canonical) left.append(formula(`${dj} = \\frac{\\partial C_0}{\\partial ${aj}}\\, g'(${zj}) = ${aj} - y_{${j}} = ${tex(m.a_j)} - ${paren(m.y_j)} = ${tex(m.delta)}\\quad(\\text{a canonical pair})`));
    }
    factorRow(table, ak, "a_prev_k", m.a_prev_k, l === 1 ? `the input x${k + 1}` : `output of node ${k} of layer ${l - 1}`);
    factorRow(table, `\\frac{\\partial C_0}{\\partial ${W}}`, "product", m.product, `sample ${m.sample}: the product`, "total");
    factorRow(table, "\\text{finite difference}", "finite_difference", m.finite_difference, "central, h = 1e-6, float64");
    left.append(table);
    const right = document.createElement("div");
    const n = m.batch_size;
    right.append(formula(`\\frac{\\partial C}{\\partial ${W}} = \\frac{1}{n}\\sum_{i=0}^{n-1} \\frac{\\partial C_i}{\\partial ${W}} = ${tex(m.average)}\\quad (n = ${n})`));
    const t2 = document.createElement("table");
    t2.className = "factors";
    factorRow(t2, "\\frac{1}{n}\\sum_i \\frac{\\partial C_i}{\\partial w}", "average", m.average, `average over the next mini-batch (n = ${n})`, "total");
    factorRow(t2, "\\text{finite difference}", "finite_difference_average", m.finite_difference_average, "of the batch cost C");
    if (m.l2 > 0) {
      right.append(formula(`\\frac{\\partial C}{\\partial ${W}} + \\lambda ${W} = ${tex(m.average)} + ${tex(m.l2)} \\cdot ${paren(m.w)} = ${tex(m.gradient)}`));
      factorRow(t2, "\\frac{\\partial C}{\\partial w} + \\lambda w", "gradient", m.gradient, "with the L2 penalty");
    }
    if (m.optimizer !== "sgd" || m.l2 > 0) { // the step taken is the optimizer's own, first
      right.append(formula(`\\Delta ${W} = ${tex(m.next_update)}\\quad(\\text{the next ${m.optimizer} step})`));
      factorRow(t2, `\\Delta w\\ (\\text{${m.optimizer}})`, "next_update", m.next_update, `what the next ${m.optimizer} step will apply`, "total");
    }
    const plain = m.optimizer === "sgd" ? "the notes' gradient-descent step" : `plain SGD: not the step ${m.optimizer} takes`;
    right.append(formula(`\\Delta_{\\text{SGD}} ${W} = -\\eta\\, \\frac{\\partial C}{\\partial ${W}} = -${tex(m.lr)} \\cdot ${paren(m.average)} = ${tex(m.update)}`));
    factorRow(t2, "\\Delta w = -\\eta\\, \\partial C/\\partial w", "update", m.update, plain);
    right.append(t2);
    cols.append(left, right);
    body.append(cols);
  }

  function renderCoupled(m, left, table, dj, zj) {
    // δ_j = Σ_i ∂C_0/∂a_i · ∂a_i/∂z_j: softmax couples its outputs (hidden: ∂C_0/∂a_i from l + 1)
    const l = m.layer;
    left.append(formula(`${dj} = \\sum_i \\frac{\\partial C_0}{\\partial a_i^{(${l})}}\\, \\frac{\\partial a_i^{(${l})}}{\\partial ${zj}} = ${tex(m.delta)}`));
    factorRow(table, `${dj} = \\frac{\\partial C_0}{\\partial ${zj}}`, "delta", m.delta, "sum over every output i:", "total");
    m.coupled.forEach((t) => {
      const tr = table.insertRow();
      katexInto(tr.insertCell(), `\\quad i = ${t.i}:\\ ${paren(t.dC_da)} \\cdot ${paren(t.da_dz)}`, false);
      const b = tr.insertCell();
      b.className = "value";
      b.dataset.coupled = t.i;
      b.textContent = num(t.product);
      tr.insertCell().className = "note";
      tr.cells[2].textContent = `∂C₀/∂a_${t.i} · ∂a_${t.i}/∂z_${m.j}`;
    });
    if (m.canonical) left.append(formula(`${dj} = a_{${m.j}}^{(${l})} - y_{${m.j}} = ${tex(m.a_j)} - ${paren(m.y_j)} = ${tex(m.delta)}\\quad(\\text{softmax + cross entropy: the sum collapses})`));
  }

  function renderNeuron(m, body) {
    const l = m.layer, j = m.j;
    const aj = `a_{${j}}^{(${l})}`;
    const zj = `z_{${j}}^{(${l})}`;
    katexInto($("explain-title"), `\\text{node } ${j} \\text{ of layer } ${l}${l === m.n_layers ? " = L" : ""}`, false);
    const table = document.createElement("table");
    table.className = "factors";
    if (l === 0) {
      body.append(formula(`${aj} = x_{${j + 1}} = ${tex(m.a)}`));
      factorRow(table, aj, "a", m.a, "the input itself");
      body.append(table);
      return;
    }
    body.append(formula(`${zj} = \\sum_k w_{${j}k}^{(${l})} a_k^{(${l - 1})} + b_{${j}}^{(${l})} = ${tex(m.z)},\\qquad ${aj} = g(${zj}) = ${tex(m.a)}`));
    body.append(formula(`\\delta_{${j}}^{(${l})} = \\frac{\\partial C_0}{\\partial ${zj}} = \\frac{\\partial C_0}{\\partial ${aj}} \\cdot g'(${zj})`
      + (m.g_prime === null ? "" : ` = ${paren(m.dC_da)} \\cdot ${paren(m.g_prime)}`) + ` = ${tex(m.delta)}`));
    factorRow(table, zj, "z", m.z, "weighted input");
    factorRow(table, aj, "a", m.a, `g = ${m.activation}`);
    factorRow(table, `\\frac{\\partial C_0}{\\partial ${aj}}`, "dC_da", m.dC_da, "");
    factorRow(table, `g'(${zj})`, "g_prime", m.g_prime, m.g_prime === null ? "softmax: see δ" : "");
    factorRow(table, `\\delta_{${j}}^{(${l})}`, "delta", m.delta, `sample ${m.sample}`, "total");
    factorRow(table, "\\frac{1}{n}\\sum_i \\delta_{i}", "delta_average", m.delta_average, `= ∂C/∂b_${j}, over the next mini-batch (n = ${m.batch_size})`);
    body.append(table);
  }

  return { render: renderExplanation };
};
