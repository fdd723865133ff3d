/* nautilus-ai dashboard: renders the state snapshot, follows /ui/events, sends the controls. No dependencies. */
(function () {
  "use strict";
  const page = document.body.dataset.page;
  const csrf = document.body.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  const SVGNS = "http://www.w3.org/2000/svg";

  function num(v, digits) {
    if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }
  function pct(v) { return v === null || v === undefined ? "–" : (100 * Number(v)).toFixed(2) + "%"; }
  function nsTime(ns) {
    const ms = Number(ns) / 1e6;
    return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "–";
  }
  function setText(id, text) { const el = $(id); if (el) el.textContent = text; }
  function fillTable(id, rows, cells) {
    const table = $(id);
    if (!table) return;
    const body = table.tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      const tr = body.insertRow();
      const td = tr.insertCell();
      td.colSpan = table.tHead.rows[0].cells.length;
      td.className = "muted";
      td.textContent = "none";
      return;
    }
    for (const row of rows) {
      const tr = body.insertRow();
      for (const cell of cells(row)) {
        const td = tr.insertCell();
        if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      }
    }
  }
  function bar(id, value, limit) {
    const el = $(id);
    if (!el) return;
    const frac = limit ? Math.min(1, Math.max(0, value / limit)) : 0;
    el.replaceChildren();
    const fill = document.createElement("span");
    fill.style.width = (100 * frac).toFixed(1) + "%";
    fill.className = frac >= 1 ? "over" : frac >= 0.75 ? "near" : "";
    el.appendChild(fill);
  }
  function attributionList(items) {
    const span = document.createElement("span");
    for (const a of items) {
      const tag = document.createElement("span");
      tag.className = "attr " + (a.value >= 0 ? "pos" : "neg");
      tag.textContent = a.feature + " " + (a.value >= 0 ? "+" : "") + Number(a.value).toFixed(3);
      span.appendChild(tag);
    }
    return span;
  }
  function direction(d) { return d > 0 ? "LONG" : d < 0 ? "SHORT" : "FLAT"; }

  function chart(series) {
    const w = 640, h = 160, pad = 28;
    const svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("class", "chart");
    const x = (i) => pad + (series.length > 1 ? (i * (w - 2 * pad)) / (series.length - 1) : (w - 2 * pad) / 2);
    const y = (p) => h - pad - p * (h - 2 * pad);
    const add = (tag, attrs, text) => {
      const el = document.createElementNS(SVGNS, tag);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (text !== undefined) el.textContent = text;
      svg.appendChild(el);
      return el;
    };
    for (const p of [0, 0.5, 1]) {
      add("line", { x1: pad, x2: w - pad, y1: y(p), y2: y(p), class: p === 0.5 ? "mid" : "grid" });
      add("text", { x: 2, y: y(p) + 4, class: "axis" }, p.toFixed(1));
    }
    const points = series.map((s, i) => `${x(i).toFixed(1)},${y(Number(s.probability)).toFixed(1)}`);
    if (points.length) add("polyline", { points: points.join(" "), class: "line" });
    series.forEach((s, i) => {
      const c = add("circle", { cx: x(i), cy: y(Number(s.probability)), r: 3, class: "dot " + direction(s.direction).toLowerCase() });
      const t = document.createElementNS(SVGNS, "title");
      t.textContent = `${nsTime(s.ts_event)}  p=${num(s.probability, 3)} conf=${num(s.confidence, 3)} ${direction(s.direction)}`;
      c.appendChild(t);
    });
    return svg;
  }

  let lastMapKey = null;
  function render(snap) {
    if (!snap) return;
    const state = snap.trading_state || {};
    const risk = snap.risk || {};
    const limits = risk.limits || {};
    const badge = $("trading-state");
    if (badge) { badge.textContent = state.state || "UNKNOWN"; badge.dataset.state = state.state || "UNKNOWN"; }
    setText("ov-state", state.state || "UNKNOWN");
    setText("ov-state-reason", state.reason ? `${state.reason} (${nsTime(state.ts)})` : "");
    setText("ov-equity", risk.equity !== undefined ? `${num(risk.equity)} ${risk.currency || ""}` : "–");
    setText("ov-peak", risk.peak_equity !== undefined ? `peak ${num(risk.peak_equity)}` : "");
    setText("ov-drawdown", risk.drawdown !== undefined ? pct(risk.drawdown) : "–");
    setText("ov-dd-limit", limits.halt_drawdown !== undefined ? `halt at ${pct(limits.halt_drawdown)}` : "");
    fillTable("positions-table", snap.positions || [], (p) => [p.position_id, p.instrument_id, p.side, num(p.quantity, 6), num(p.avg_px_open, 6), p.unrealized_pnl]);
    fillTable("regimes-table", Object.entries(snap.regimes || {}), ([iid, r]) => [iid, r.regime,
      Object.entries(r.probabilities || {}).map(([k, v]) => `${k} ${pct(v)}`).join(", "), r.model_version || ""]);
    fillTable("signals-table", snap.signals || [], (s) => [s.instrument_id, direction(s.direction), num(s.probability, 3),
      num(s.confidence, 3), s.regime || "", s.model_version || "", attributionList(s.attributions || []), nsTime(s.ts_event)]);
    const charts = $("signal-charts");
    if (charts) {
      charts.replaceChildren();
      for (const [iid, series] of Object.entries(snap.history || {})) {
        const box = document.createElement("div");
        box.className = "chart-box";
        box.dataset.instrument = iid;
        const title = document.createElement("h3");
        title.textContent = `${iid}: probability of the last ${series.length} signals`;
        box.append(title, chart(series));
        charts.appendChild(box);
      }
    }
    setText("rk-gross", risk.gross_exposure !== undefined ? `${num(risk.gross_exposure)} ${risk.currency || ""}` : "–");
    setText("rk-net", risk.net_exposure !== undefined ? `net ${num(risk.net_exposure)}` : "");
    setText("rk-cvar", risk.cvar !== undefined ? `${pct(risk.cvar)} @ ${num(risk.cvar_alpha, 3)}` : "–");
    const budget = limits.cvar_budget !== undefined ? limits.cvar_budget : limits.max_cvar;
    setText("rk-cvar-budget", budget !== undefined ? `budget ${pct(budget)}` : "no CVaR budget in the limits");
    bar("rk-cvar-bar", Number(risk.cvar || 0), budget);
    const ddLimit = limits.halt_drawdown !== undefined ? limits.halt_drawdown : limits.max_drawdown;
    setText("rk-drawdown", risk.drawdown !== undefined ? pct(risk.drawdown) : "–");
    const reduceAt = limits.reduce_drawdown !== undefined ? `reduce at ${pct(limits.reduce_drawdown)}, ` : "";
    setText("rk-dd-limit", ddLimit !== undefined ? `${reduceAt}halt at ${pct(ddLimit)}` : "no drawdown limit");
    bar("rk-dd-bar", Number(risk.drawdown || 0), ddLimit);
    fillTable("exposure-table", Object.entries(risk.exposures || {}), ([iid, v]) => [iid, num(v)]);
    fillTable("limits-table", Object.entries(limits), ([k, v]) => [k, num(v, 4)]);
    fillTable("decisions-table", (snap.decisions || []).slice().reverse(), (d) => [nsTime(d.ts_event), d.instrument_id,
      d.action, d.reason, num(d.requested_qty, 4), num(d.approved_qty, 4), d.trading_state]);
    const map = $("system-map");
    if (map) {
      const first = (snap.signals || [])[0] || {};
      const key = [state.state, first.regime, first.model_version, first.confidence].join("|");
      if (lastMapKey !== null && key !== lastMapKey) map.src = "/ui/map.svg?t=" + Date.now();
      lastMapKey = key;
    }
  }

  function toast(text, bad) {
    const el = $("toast");
    el.textContent = text;
    el.className = "toast " + (bad ? "bad" : "good");
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 8000);
  }

  async function sendControl(button) {
    const kind = button.dataset.control;
    if (!window.confirm(button.dataset.confirm || `Send ${kind}?`)) return;
    const reasonInput = $("control-reason");
    const body = { reason: (reasonInput && reasonInput.value.trim()) || `${kind} from the dashboard` };
    if (button.dataset.version) body.version_id = button.dataset.version;
    if (button.dataset.name) body.name = button.dataset.name;
    button.disabled = true;
    try {
      const response = await fetch(`/ui/actions/${kind}`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-UI-CSRF": csrf }, body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        toast(`${kind}: ${answer.status}${answer.message ? " – " + answer.message : ""}`, false);
        if (page === "models" && answer.status === "ok") setTimeout(() => location.reload(), 800);
      } else {
        toast(`${kind} failed (${response.status}): ${answer.detail || response.statusText}`, true);
      }
    } catch (error) {
      toast(`${kind} failed: ${error}`, true);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-control]");
    if (button) { event.preventDefault(); sendControl(button); }
  });
  for (const cell of document.querySelectorAll("td.ts[data-epoch]")) {
    cell.textContent = new Date(1000 * Number(cell.dataset.epoch)).toISOString().replace("T", " ").slice(0, 19);
  }

  const initial = $("initial-snapshot");
  if (initial) render(JSON.parse(initial.textContent));
  if (window.EventSource) {
    const source = new EventSource("/ui/events");
    const status = $("live-status");
    source.onopen = () => { if (status) { status.textContent = "live"; status.className = "live"; } };
    source.onerror = () => { if (status) { status.textContent = "reconnecting…"; status.className = "muted"; } };
    source.addEventListener("state", (event) => {
      document.body.dataset.lastEvent = event.lastEventId;
      render(JSON.parse(event.data));
    });
    source.addEventListener("problem", (event) => toast(JSON.parse(event.data).detail, true));
    source.addEventListener("logout", () => { source.close(); location.href = "/ui/login"; });
  }
})();
