// chainrule playground: draws what the server's Python session sends, and sends back what
// the person does. No computation of the network happens here: every number is the engine's.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const NODE = 38;
  const POS = [31, 111, 209];
  const NEG = [232, 119, 28];
  const FIELDS = ["dataset", "noise", "train_ratio", "n_samples", "seed", "activation", "output",
    "loss", "optimizer", "lr", "batch_size", "l2", "steps_per_update"];
  const INTEGER = new Set(["n_samples", "seed", "batch_size", "steps_per_update"]);

  // Everything the page knows; window.playground lets tests and curious people look.
  const S = {
    config: null, sizes: null, output: null, extent: null, limits: null, train: null, test: null,
    playing: false, selected: null, explanation: null, history: { step: [], train: [], test: [] },
    pending: null, drawScheduled: false, explainInFlight: false, lastExplainAt: 0, nodes: [],
    edges: [], neuronCanvases: [], outputCanvases: [], connected: false,
    walkMode: false, walk: null, stage: 0, stride: 1, link: null, replaying: false,
  };
  window.playground = S;
  let ws = null;

  // ---------------------------------------------------------------------------------- socket
  function connect() {
    ws = new WebSocket(`ws://${location.host}/ws`);
    ws.onopen = () => { S.connected = true; };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { showError("bad message from the server"); return; }
      handle(m);
    };
    ws.onclose = () => {
      S.connected = false;
      setPlaying(false);
      showError("disconnected from the playground server: restart it and reload the page", true);
    };
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }
  S.send = send;

  // What the person asked for, oldest first, with the reply that means it succeeded: the
  // server answers in order, so the first such reply after an error clears its banner.
  const REPLY = { config: "data", reset: "data", rewind: "data", upload: "data", step: "update",
    play: "update", walk: "walk", explain_weight: "weight", explain_neuron: "neuron",
    download: "model", replay: "replayed", quiz: "quiz", quiz_answer: "quiz_verdict",
    quiz_hint: "quiz_hint" };
  let actions = [];
  let acted = 0; // actions sent so far
  let erredAt = -1; // how many had been sent when the banner went up
  function act(msg) {
    acted += 1;
    if (REPLY[msg.type]) actions = [...actions.slice(-31), { type: msg.type, expect: REPLY[msg.type], n: acted }];
    send(msg);
  }
  S.act = act;

  function acknowledge(m) {
    // The oldest action this message answers (play has no reply of its own: its first update).
    const i = actions.findIndex((a) => (m.type === "error" ? a.type === m.request : a.expect === m.type));
    if (i < 0) return;
    const [done] = actions.splice(i, 1);
    if (m.type !== "error" && done.n > erredAt) hideError();
  }

  function handle(m) {
    acknowledge(m);
    switch (m.type) {
      case "hello":
        S.limits = m.limits;
        fillChoices(m.choices);
        if (location.hash.length > 1) { // a shared link: rebuild that run and replay its steps
          S.replaying = true;
          send({ type: "replay", link: location.hash.slice(1) });
        }
        break;
      case "replayed":
        S.replaying = false;
        showLink();
        break;
      case "walk":
        S.walk = m;
        walkView.render();
        break;
      case "model":
        saveFile(m);
        break;
      case "quiz":
      case "quiz_verdict":
      case "quiz_hint":
        if (window.quizView) window.quizView.render(m);
        break;
      case "data":
        onData(m);
        break;
      case "update":
        S.pending = m;
        addPoints(m);
        S.link = m.link;
        if (!S.replaying) showLink();
        scheduleDraw();
        maybeRefreshExplanation();
        if (S.walkMode && (!S.walk || S.walk.step !== m.step)) requestWalk(true);
        break;
      case "weight":
      case "neuron":
        S.explainInFlight = false;
        panel.render(m);
        break;
      case "state":
        S.state = m;
        break;
      case "error":
        if (m.request === "play") setPlaying(false);
        if (m.request && m.request.startsWith("explain")) S.explainInFlight = false;
        if (m.request === "replay") S.replaying = false;
        if (m.request === "upload") $("upload").value = "";
        if (m.request && m.request.startsWith("quiz")) $("quiz-verdict").textContent = m.message;
        if (m.request === "config") showConfig(true); // a rejected value: back to the last accepted
        showError(m.message);
        break;
      default:
        break;
    }
  }

  let errorTimer = null;
  let errorSticky = false;
  function showError(text, sticky) {
    const el = $("error");
    el.textContent = text;
    el.hidden = false;
    errorSticky = Boolean(sticky);
    erredAt = acted;
    clearTimeout(errorTimer);
    if (!sticky) errorTimer = setTimeout(hideError, 10000);
  }

  function hideError() {
    if (errorSticky) return; // the server is gone: no later reply makes that right
    clearTimeout(errorTimer);
    $("error").hidden = true;
  }

  // The controls show the session's settings (those it accepted); `all` includes the one
  // being edited, which is left alone otherwise while the person types.
  function showConfig(all) {
    if (!S.config) return;
    for (const f of FIELDS) {
      const el = $(f);
      if (all || document.activeElement !== el) el.value = S.config[f];
    }
    // The classification losses fix g^(L): show the network's own (softmax, sigmoid).
    const out = $("output");
    out.querySelectorAll("option.fixed").forEach((o) => o.remove());
    if (!Array.from(out.options).some((o) => o.value === S.output)) {
      const o = new Option(S.output, S.output);
      o.className = "fixed";
      out.appendChild(o);
    }
    out.value = S.output;
    out.disabled = S.output !== S.config.output;
  }

  // -------------------------------------------------------------------------------- controls
  function fillChoices(choices) {
    for (const [name, values] of Object.entries(choices)) {
      const sel = $(name);
      sel.replaceChildren(...values.map((v) => new Option(v.replaceAll("_", " "), v)));
    }
  }

  function onData(m) {
    S.config = m.config;
    S.sizes = m.sizes;
    S.output = m.output;
    S.extent = m.extent;
    S.train = m.train;
    S.test = m.test;
    S.history = { step: [...m.history.step], train: [...m.history.train], test: [...m.history.test] };
    if (m.config.dataset === "uploaded" && !$("dataset").querySelector("option[value=uploaded]")) {
      $("dataset").appendChild(new Option("uploaded CSV", "uploaded"));
    }
    showConfig(false);
    $("batch_size").max = Math.round(m.config.n_samples * m.config.train_ratio);
    $("noise-value").textContent = Number(m.config.noise).toFixed(2);
    $("train_ratio-value").textContent = Math.round(m.config.train_ratio * 100) + "%";
    if (S.selected && !selectionValid(S.selected)) clearSelection();
    buildDiagram();
    if (S.selected) requestExplanation();
    if (S.walkMode) requestWalk(true);
  }

  // The loss curve: the server's recorded points (every stride-th step), appended as they come.
  function addPoints(m) {
    const h = S.history;
    for (const [step, train, test] of m.points) {
      if (h.step.length && step <= h.step[h.step.length - 1]) continue;
      h.step.push(step); h.train.push(train); h.test.push(test);
    }
    if (m.stride > S.stride) {
      const keep = h.step.map((step) => step % m.stride === 0);
      for (const key of ["step", "train", "test"]) h[key] = h[key].filter((_, i) => keep[i]);
    }
    S.stride = m.stride;
  }

  // The address bar holds the whole state: open it in another tab to replay the same run.
  function showLink() {
    const a = $("share");
    if (S.link === null || S.link === undefined) {
      a.removeAttribute("href");
      a.textContent = "no link: an uploaded CSV can't travel in one";
      return;
    }
    a.textContent = "link to this state";
    a.href = "#" + S.link;
    if (location.hash.slice(1) !== S.link) history.replaceState(null, "", "#" + S.link);
  }

  function saveFile(m) {
    const bytes = decode(m.data);
    const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = m.filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ------------------------------------------------------------------------------ step mode
  function requestWalk(fromStart) {
    const last = S.config ? S.config.batch_size - 1 : 0;
    const sample = Math.min(last, Math.max(0, parseInt($("walk-sample").value, 10) || 0));
    $("walk-sample").value = sample;
    $("walk-sample").max = last;
    if (fromStart) S.stage = 0;
    send({ type: "walk", sample });
  }

  function setWalkMode(on) {
    S.walkMode = on;
    $("walk-mode").checked = on;
    if (S.sizes) buildDiagram();
    if (on) {
      setPlaying(false);
      send({ type: "pause" });
      requestWalk(true);
    } else {
      S.walk = null;
      walkView.clear();
    }
  }

  function sendConfig(update) { act({ type: "config", config: update }); }

  function bindControls() {
    for (const f of FIELDS) {
      const el = $(f);
      el.addEventListener("change", () => {
        let v = el.value;
        if (el.tagName === "INPUT" && el.type !== "file") { // every input but the CSV's is a number
          const text = v.trim().replace("−", "-");
          v = text === "" ? NaN : Number(text);
          const kind = INTEGER.has(f) ? "an integer" : "a number";
          if (!(INTEGER.has(f) ? Number.isInteger(v) : Number.isFinite(v))) {
            showError(`${f}: expected ${kind}, got "${el.value}"`);
            if (S.config) el.value = S.config[f];
            return;
          }
        }
        sendConfig({ [f]: v });
      });
    }
    $("noise").addEventListener("input", () => { $("noise-value").textContent = Number($("noise").value).toFixed(2); });
    $("train_ratio").addEventListener("input", () => {
      $("train_ratio-value").textContent = Math.round($("train_ratio").value * 100) + "%";
    });
    $("play").addEventListener("click", () => {
      if (S.walkMode) setWalkMode(false);
      setPlaying(!S.playing);
      act({ type: S.playing ? "play" : "pause" });
    });
    $("step").addEventListener("click", () => { setPlaying(false); act({ type: "step", n: 1 }); });
    $("reset").addEventListener("click", () => act({ type: "reset" }));
    $("rewind").addEventListener("click", () => { setPlaying(false); act({ type: "rewind" }); });
    $("download").addEventListener("click", () => act({ type: "download" }));
    $("upload").addEventListener("change", async () => {
      const file = $("upload").files[0];
      if (!file) return;
      setPlaying(false);
      act({ type: "upload", name: file.name, text: await file.text() });
    });
    $("walk-mode").addEventListener("change", () => setWalkMode($("walk-mode").checked));
    $("walk-sample").addEventListener("change", () => { if (S.walkMode) requestWalk(false); });
    $("walk-prev").addEventListener("click", () => { S.stage -= 1; walkView.render(); });
    $("walk-next").addEventListener("click", () => { S.stage += 1; walkView.render(); });
    $("add-layer").addEventListener("click", () => {
      sendConfig({ hidden: [...S.config.hidden, 2] });
    });
    $("remove-layer").addEventListener("click", () => {
      sendConfig({ hidden: S.config.hidden.slice(0, -1) });
    });
    $("sample").addEventListener("change", () => requestExplanation(true));
    window.addEventListener("resize", () => { if (S.sizes) buildDiagram(); });
  }

  function setPlaying(on) {
    S.playing = on;
    $("play").textContent = on ? "⏸ pause" : "▶ play";
  }

  // ------------------------------------------------------------------------------- diagram
  function nodeName(layer, j) {
    if (layer === 0) return `x${j + 1}`;
    return layer === S.sizes.length - 1 ? `out ${j}` : `${layer}.${j}`;
  }

  function buildDiagram() {
    const box = $("diagram");
    const svg = $("edges");
    box.querySelectorAll(".node, .col-buttons, .col-label").forEach((el) => el.remove());
    svg.replaceChildren();
    const W = box.clientWidth;
    const H = box.clientHeight;
    const n = S.sizes.length;
    const maxHidden = S.limits ? S.limits.max_neurons : 8;
    // Narrow views get smaller nodes, so the edges between the columns stay visible.
    const node = W / n < 90 ? 26 : NODE;
    // Room for the inputs' tags (x1, x2) on the left and the outputs' (out j) on the right;
    // in step mode on a wide view the output's numbers sit to its right too.
    const room = S.walkMode && W >= 700 ? 120 : 0;
    const gap = (W - 30 - 44 - node - room) / Math.max(1, n - 1);
    const pos = S.sizes.map((count, c) => {
      const x = 30 + c * gap;
      const top = 40 + (H - 40 - count * 46) / 2 + (NODE - node) / 2;
      return Array.from({ length: count }, (_, j) => ({ x, y: top + j * 46 }));
    });
    S.nodes = pos;
    S.nodeSize = node;
    S.neuronCanvases = [];
    S.outputCanvases = [];
    // Edges first, so the nodes sit on top of them.
    S.edges = [];
    for (let layer = 1; layer < n; layer++) {
      const rows = [];
      for (let j = 0; j < S.sizes[layer]; j++) {
        const row = [];
        for (let k = 0; k < S.sizes[layer - 1]; k++) {
          const a = pos[layer - 1][k];
          const b = pos[layer][j];
          const coords = { x1: a.x + node, y1: a.y + node / 2, x2: b.x, y2: b.y + node / 2 };
          const edge = svgLine(coords, "edge");
          const hit = svgLine(coords, "hit");
          hit.dataset.layer = layer; hit.dataset.j = j; hit.dataset.k = k;
          hit.id = `w-${layer}-${j}-${k}`;
          const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
          hit.appendChild(title);
          hit.addEventListener("click", () => select({ kind: "weight", layer, j, k }));
          svg.append(edge, hit);
          row.push({ edge, hit, title });
        }
        rows.push(row);
      }
      S.edges.push(rows);
    }
    for (let c = 0; c < n; c++) {
      const label = document.createElement("div");
      label.className = "col-label";
      label.style.left = `${pos[c][0].x + node / 2}px`;
      label.style.top = "0px";
      const short = gap < 100; // narrow: "l = 0" and "L = 3" instead of "input (l = 0)"
      label.textContent = c === 0 ? (short ? "l = 0" : "input (l = 0)")
        : c === n - 1 ? (short ? `L = ${c}` : `output (L = ${c})`) : `l = ${c}`;
      box.appendChild(label);
      if (c > 0 && c < n - 1) {
        const btns = document.createElement("div");
        btns.className = "col-buttons";
        btns.style.left = `${pos[c][0].x + node / 2}px`;
        btns.style.top = "16px";
        const plus = document.createElement("button");
        plus.textContent = "+";
        plus.title = "add a neuron";
        plus.disabled = S.sizes[c] >= maxHidden;
        plus.addEventListener("click", () => changeWidth(c - 1, +1));
        const minus = document.createElement("button");
        minus.textContent = "−";
        minus.title = "remove a neuron";
        minus.disabled = S.sizes[c] <= 1;
        minus.addEventListener("click", () => changeWidth(c - 1, -1));
        btns.append(plus, minus);
        box.appendChild(btns);
      }
      for (let j = 0; j < S.sizes[c]; j++) {
        const p = pos[c][j];
        const div = document.createElement("div");
        div.className = c === n - 1 ? "node out" : "node";
        div.id = `node-${c}-${j}`;
        div.style.left = `${p.x}px`;
        div.style.top = `${p.y}px`;
        div.style.width = div.style.height = `${node}px`;
        const canvas = document.createElement("canvas");
        const res = c === n - 1 ? S.limits.grid : S.limits.neuron_grid;
        canvas.width = canvas.height = res;
        div.appendChild(canvas);
        div.title = `${nodeName(c, j)}: node ${j} of layer ${c} (click for z, a, δ)`;
        if (c === 0 || c === n - 1) {
          const tag = document.createElement("span");
          tag.className = "tag";
          tag.textContent = nodeName(c, j);
          div.appendChild(tag);
        }
        div.addEventListener("click", () => select({ kind: "neuron", layer: c, j }));
        box.appendChild(div);
        if (c === 0) drawInput(canvas, j);
        else if (c < n - 1) S.neuronCanvases.push(canvas);
        else S.outputCanvases.push(canvas);
      }
    }
    $("add-layer").disabled = S.config.hidden.length >= (S.limits ? S.limits.max_hidden_layers : 8);
    $("remove-layer").disabled = S.config.hidden.length === 0;
    markSelection();
    if (S.walk) walkView.render();
    // A resize rebuilds the diagram while paused: repaint it from the last update.
    if (S.update && S.update.weights.length === n - 1 && S.update.weights.every((w, l) => w.length === S.sizes[l + 1] && w[0].length === S.sizes[l])) drawUpdate(S.update);
  }

  function svgLine(c, cls) {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    for (const [k, v] of Object.entries(c)) line.setAttribute(k, v);
    line.setAttribute("class", cls);
    return line;
  }

  function changeWidth(i, delta) {
    const hidden = [...S.config.hidden];
    hidden[i] += delta;
    sendConfig({ hidden });
  }

  // -------------------------------------------------------------------------------- drawing
  function colour(v) { // v in [0, 1]: 0 → orange (label 0 / negative), ½ → white, 1 → blue
    const t = Math.abs(v - 0.5) * 2;
    const c = v < 0.5 ? NEG : POS;
    return [255 + (c[0] - 255) * t, 255 + (c[1] - 255) * t, 255 + (c[2] - 255) * t];
  }

  function paint(canvas, bytes, offset, res) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(res, res);
    for (let p = 0; p < res * res; p++) {
      const [r, g, b] = colour(bytes[offset + p] / 255);
      img.data[4 * p] = r; img.data[4 * p + 1] = g; img.data[4 * p + 2] = b; img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function drawInput(canvas, j) {
    const res = canvas.width;
    const [lo, hi] = S.extent;
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    const bytes = new Uint8Array(res * res);
    for (let r = 0; r < res; r++) {
      for (let c = 0; c < res; c++) {
        const x1 = lo + (c + 0.5) * (hi - lo) / res;
        const x2 = hi - (r + 0.5) * (hi - lo) / res;
        bytes[r * res + c] = Math.round(255 * (0.5 + (j === 0 ? x1 : x2) / (2 * m)));
      }
    }
    paint(canvas, bytes, 0, res);
  }

  function decode(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function scheduleDraw() {
    if (S.drawScheduled) return;
    S.drawScheduled = true;
    requestAnimationFrame(() => {
      S.drawScheduled = false;
      const m = S.pending;
      S.pending = null;
      if (m && S.sizes) drawUpdate(m);
    });
  }

  function drawUpdate(m) {
    S.update = m;
    $("step-count").textContent = m.step;
    $("epoch-count").textContent = Number(m.epoch).toFixed(1);
    $("train-loss").textContent = Number(m.train_loss).toPrecision(4);
    $("test-loss").textContent = Number(m.test_loss).toPrecision(4);
    $("train-acc").textContent = (100 * m.train_accuracy).toFixed(1) + "%";
    $("test-acc").textContent = (100 * m.test_accuracy).toFixed(1) + "%";
    const grid = decode(m.grid);
    drawRegions(grid);
    // The grid is the belief in label 1: a_0 of a sigmoid or tanh output, a_1 of a 2-unit
    // softmax, whose a_0 = 1 − a_1 is painted from the same bytes turned over.
    S.outputCanvases.forEach((c, j) => {
      const last = j === S.outputCanvases.length - 1;
      paint(c, last ? grid : grid.map((v) => 255 - v), 0, S.limits.grid);
    });
    const neurons = m.neurons ? decode(m.neurons) : new Uint8Array(0);
    const res = S.limits.neuron_grid;
    S.neuronCanvases.forEach((c, i) => paint(c, neurons, i * res * res, res));
    drawEdges(m.weights);
    drawCurves();
    if (m.health) drawHealth(m.health);
  }

  // The health monitor's verdicts beside the network; dead and saturated neurons marked.
  function drawHealth(health) {
    const list = $("health-verdicts");
    list.replaceChildren();
    const lines = health.healthy ? ["healthy: no dead or saturated layers, gradients reach every layer"] : health.verdicts;
    for (const text of lines) {
      const li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    }
    $("health").classList.toggle("unhealthy", !health.healthy);
    health.dead.forEach((units, l) => units.forEach((isDead, j) => {
      const node = $(`node-${l + 1}-${j}`);
      if (node) node.classList.toggle("dead", isDead);
    }));
    health.saturated.forEach((units, l) => units.forEach((isSat, j) => {
      const node = $(`node-${l + 1}-${j}`);
      if (node) node.classList.toggle("saturated", isSat);
    }));
  }

  function drawRegions(grid) {
    const res = S.limits.grid;
    const off = document.createElement("canvas");
    off.width = off.height = res;
    paint(off, grid, 0, res);
    const canvas = $("regions");
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
    const [lo, hi] = S.extent;
    const px = (x) => ((x - lo) / (hi - lo)) * canvas.width;
    const py = (y) => ((hi - y) / (hi - lo)) * canvas.height;
    for (const [set, ring] of [[S.train, "#ffffff"], [S.test, "#1d2430"]]) {
      set.x.forEach((p, i) => {
        ctx.beginPath();
        ctx.arc(px(p[0]), py(p[1]), 3.6, 0, 2 * Math.PI);
        ctx.fillStyle = set.y[i] === 1 ? "rgb(31,111,209)" : "rgb(232,119,28)";
        ctx.fill();
        ctx.lineWidth = ring === "#ffffff" ? 1 : 1.6;
        ctx.strokeStyle = ring;
        ctx.stroke();
      });
    }
  }

  function drawEdges(weights) {
    S.edges.forEach((rows, l) => rows.forEach((row, j) => row.forEach((e, k) => {
      const w = weights[l][j][k];
      const c = w >= 0 ? POS : NEG;
      e.edge.setAttribute("stroke", `rgb(${c[0]},${c[1]},${c[2]})`);
      e.edge.setAttribute("stroke-width", (0.6 + Math.min(Math.abs(w), 3) * 2).toFixed(2));
      e.edge.setAttribute("stroke-opacity", (0.35 + Math.min(Math.abs(w), 1) * 0.6).toFixed(2));
      e.title.textContent = `w_${j}${k}^(${l + 1}) = ${w}  (click for its chain rule)`;
    })));
  }

  function drawCurves() {
    const canvas = $("curves");
    const ctx = canvas.getContext("2d");
    const W = canvas.width;
    const H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    const h = S.history;
    if (h.step.length < 2) return;
    const x0 = h.step[0];
    const x1 = Math.max(h.step[h.step.length - 1], x0 + 1);
    const ymax = Math.max(...h.train, ...h.test, 1e-9);
    ctx.strokeStyle = "#e4e7ec";
    ctx.beginPath(); ctx.moveTo(0, H - 0.5); ctx.lineTo(W, H - 0.5); ctx.stroke();
    for (const [key, col, width] of [["train", "#98a2b3", 1.5], ["test", "#1d2430", 1.8]]) {
      ctx.strokeStyle = col;
      ctx.lineWidth = width;
      ctx.beginPath();
      h[key].forEach((v, i) => {
        const x = ((h.step[i] - x0) / (x1 - x0)) * (W - 2) + 1;
        const y = H - 2 - (Math.min(v, ymax) / ymax) * (H - 14);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
    ctx.fillStyle = "#667085";
    ctx.font = "10px system-ui";
    ctx.fillText(ymax.toPrecision(3), 2, 10);
  }

  // ----------------------------------------------------------------------------- explanation
  function selectionValid(sel) {
    if (sel.layer >= S.sizes.length || sel.j >= S.sizes[sel.layer]) return false;
    return sel.kind !== "weight" || (sel.layer >= 1 && sel.k < S.sizes[sel.layer - 1]);
  }

  function select(sel) {
    S.selected = sel;
    S.reveal = true; // bring the panel into view when its answer arrives
    markSelection();
    requestExplanation(true);
  }

  function clearSelection() {
    S.selected = null;
    S.explanation = null;
    $("explain").hidden = true;
    markSelection();
  }

  function markSelection() {
    document.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    const sel = S.selected;
    if (!sel) return;
    if (sel.kind === "weight") {
      const e = S.edges[sel.layer - 1] && S.edges[sel.layer - 1][sel.j] && S.edges[sel.layer - 1][sel.j][sel.k];
      if (e) e.edge.classList.add("selected");
    } else {
      const node = $(`node-${sel.layer}-${sel.j}`);
      if (node) node.classList.add("selected");
    }
  }

  function requestExplanation(byHand) {
    const sel = S.selected;
    if (!sel) return;
    const last = S.config ? S.config.batch_size - 1 : 0;
    const sample = Math.min(last, Math.max(0, parseInt($("sample").value, 10) || 0));
    $("sample").value = sample;
    S.explainInFlight = true;
    S.lastExplainAt = performance.now();
    const ask = byHand ? act : send;
    if (sel.kind === "weight") ask({ type: "explain_weight", layer: sel.layer, j: sel.j, k: sel.k, sample });
    else ask({ type: "explain_neuron", layer: sel.layer, j: sel.j, sample });
  }

  function maybeRefreshExplanation() {
    // While training, keep the panel live, but at most 4 times a second.
    if (S.selected && !S.explainInFlight && performance.now() - S.lastExplainAt > 250) requestExplanation();
  }

  function katexInto(el, src, display) {
    katex.render(src, el, { displayMode: display, throwOnError: false, output: "html" });
  }

  const walkView = window.playgroundWalk({ $, S, katexInto, NODE });
  const panel = window.playgroundPanel({ $, S, katexInto });
  bindControls();
  connect();
})();
