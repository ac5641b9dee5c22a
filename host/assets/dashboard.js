// The dashboard: reads the JSON API (or the data a report carries), fills
// the page. Money arrives as exact decimal text; it is rounded to cents for
// display only, by decimal string arithmetic, and the exact value stays in
// each figure's title and data-exact attribute. Text from the data is only
// ever set as text, never as HTML.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  const token = query.get("token");

  // "1234.5678" -> "1,234.57": half away from zero, on the digits.
  function cents(exact) {
    let s = String(exact).trim();
    let sign = "";
    if (s.startsWith("-")) { sign = "-"; s = s.slice(1); }
    let [int, frac = ""] = s.split(".");
    frac = (frac + "000").slice(0, 3);
    let digits = (int.replace(/^0+(?=\d)/, "") + frac.slice(0, 2)).split("").map(Number);
    if (Number(frac[2]) >= 5) {
      let i = digits.length - 1;
      while (i >= 0) {
        if (digits[i] === 9) { digits[i] = 0; i--; } else { digits[i]++; break; }
      }
      if (i < 0) digits.unshift(1);
    }
    const all = digits.join("").padStart(3, "0");
    const whole = all.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const out = whole + "." + all.slice(-2);
    return (sign && /[1-9]/.test(out) ? "-" : "") + out;
  }

  function isZero(exact) { return !/[1-9]/.test(String(exact)); }

  function count(n) { return Number(n).toLocaleString("en-US"); }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function moneyCell(exact) {
    return el("td", { class: "num money", title: "$" + exact, "data-exact": exact }, "$" + cents(exact));
  }

  function table(id, head, rows, empty) {
    const t = $(id);
    t.replaceChildren();
    const tr = el("tr");
    head.forEach(([name, numeric]) => tr.append(el("th", { class: numeric ? "num" : null }, name)));
    t.append(el("thead", {}, tr));
    const body = el("tbody");
    if (rows.length === 0) {
      body.append(el("tr", {}, el("td", { colspan: head.length, class: "muted" }, empty)));
    }
    rows.forEach((cells) => body.append(el("tr", {}, ...cells)));
    t.append(body);
  }

  function sortable(id) {
    const t = $(id);
    t.querySelectorAll("th").forEach((th, col) => {
      th.addEventListener("click", () => {
        const up = th.getAttribute("aria-sort") !== "ascending";
        t.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        const rows = Array.from(t.tBodies[0].rows);
        const key = (r) => {
          const c = r.cells[col];
          if (!c) return "";
          const v = c.dataset.exact ?? c.dataset.value;
          return v !== undefined ? Number(v) : c.textContent;
        };
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const d = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
          return up ? d : -d;
        });
        rows.forEach((r) => t.tBodies[0].append(r));
      });
    });
  }

  function card(label, exactOrText, note, opts) {
    const o = opts || {};
    const value = o.money
      ? el("div", { class: "value", id: o.id, title: "$" + exactOrText, "data-exact": exactOrText }, "$" + cents(exactOrText))
      : el("div", { class: "value", id: o.id }, exactOrText);
    return el("div", { class: "card" + (o.warn ? " warn" : "") }, el("div", { class: "label" }, label), value,
      note ? el("div", { class: "note", title: o.title || null }, note) : "");
  }

  function renderCards(d) {
    const s = d.summary, b = s.budget;
    const cards = $("cards");
    cards.replaceChildren();
    cards.append(card(`Billed ${s.period.from} to ${s.period.to}`, s.total_cost, "from the providers' cost reports",
      { money: true, id: "total-cost" }));
    if (s.estimated) {
      const e = s.estimated;
      cards.append(card("Estimated from local logs (not billed)", e.total_cost,
        `${count(e.calls)} calls at list prices (${e.price_table})`, { money: true, id: "estimated" }));
    }
    // A month with a forecast is under way; any other is over (or has no
    // collected day yet): its spend is not "to date".
    const spentLabel = (b.forecast ? `Month to date (${b.month})` : `Spent in ${b.month}`) +
      (b.provider ? ", all providers" : "");
    cards.append(card(spentLabel, b.month_to_date,
      `${b.percent_used} % of the $${cents(b.monthly_budget)} budget` +
        (b.estimated ? `; $${cents(b.estimated)} of it estimated` : "") +
        (b.provider ? `; ${b.provider}: $${cents(b.provider_month_to_date)}` : ""),
      { money: true, id: "month-to-date", warn: Number(b.percent_used) >= 100 }));
    if (b.forecast) {
      cards.append(card("Forecast at month end", b.forecast.month_end, "run rate over collected days (hover for the method)",
        { money: true, id: "forecast", title: b.forecast.method, warn: isZero(b.monthly_budget) ? false :
          Number(b.forecast.month_end) > Number(b.monthly_budget) }));
    }
    const without = s.providers.reduce((n, p) => n + p.tokens_without_billed_cost, 0);
    cards.append(card("Tokens", count(s.total_tokens),
      without > 0 ? `${count(without)} of them have no billed cost` : "", { id: "tokens-total" }));
    const finished = d.coverage.plugins.length ? d.coverage.plugins[0].days_finished : 0;
    const missing = d.daily.days.filter((x) => x.state === "missing").length;
    cards.append(card("Days without data", String(missing), `of ${finished} finished days in the period`,
      { id: "days-missing", warn: missing > 0 }));
  }

  function renderChart(d) {
    const days = d.daily.days;
    const names = d.daily.providers;
    const xs = days.map((x) => Date.parse(x.date + "T00:00:00Z") / 1000);
    // Heights only: the chart draws numbers, the tables keep the exact text.
    const per = names.map((n) => days.map((x) => (x.providers[n] ? parseFloat(x.providers[n].cost) : 0)));
    // Only collected days get a bar: a missing day is a full grey column and
    // a day still to come gets nothing (not a zero-height stub).
    const stacked = per.map((_, i) => days.map((x, j) => (x.state === "collected"
      ? per.slice(0, i + 1).reduce((a, s) => a + s[j], 0) : null)));
    // Local logs' estimate of each day: its own dashed line over the bars,
    // never stacked with billed spend.
    const estimates = new Map((d.summary.daily || []).filter((x) => x.estimated_cost != null)
      .map((x) => [x.date, parseFloat(x.estimated_cost)]));
    const estimated = days.map((x) => (estimates.has(x.date) ? estimates.get(x.date) : null));
    const highest = Math.max(0, ...(stacked.length ? stacked[stacked.length - 1].map((v) => v || 0) : [0]),
      ...estimated.map((v) => v || 0));
    // Without any spend the axis is $0 to $1, not fractions of a cent.
    const top = highest > 0 ? highest * 1.05 : 1;
    const gaps = days.map((x) => (x.state === "missing" ? top : null));
    const palette = ["#3559e0", "#12b76a", "#f79009", "#7a5af8", "#ee46bc", "#06aed4"];
    const bars = uPlot.paths.bars({ size: [0.8, 40] });
    const series = [{ label: "Day" }];
    for (let i = names.length - 1; i >= 0; i--) {
      series.push({ label: names[i], fill: palette[i % palette.length], stroke: palette[i % palette.length],
        paths: bars, points: { show: false } });
    }
    series.push({ label: "no data", fill: "rgba(152,162,179,0.35)", stroke: "rgba(152,162,179,0.6)",
      paths: bars, points: { show: false } });
    const data = [xs, ...stacked.slice().reverse(), gaps];
    if (estimated.some((v) => v != null)) {
      series.push({ label: "estimated from local logs (not billed)", stroke: "#b54708", width: 2, dash: [6, 4],
        points: { show: true, size: 6, stroke: "#b54708", fill: "#fff" }, spanGaps: false });
      data.push(estimated);
    }
    const box = $("chart");
    box.replaceChildren();
    const width = Math.max(320, box.clientWidth || 900);
    // Half a day of room on each side, so the first and last bars are whole.
    const half = 43200;
    const dollars = (v) => "$" + (top >= 10 ? v.toFixed(0) : v.toFixed(2));
    new uPlot({ width, height: 260, series,
      scales: { x: { time: true, range: (u, min, max) => [min - half, max + half] },
        y: { range: () => [0, top] } },
      axes: [{}, { values: (u, vs) => vs.map(dollars) }],
      // A key of colours, not a read-out: hovering a day's box below gives its figures.
      legend: { live: false },
      // The ranges drawn, for the browser tests (scales are set once drawn).
      hooks: { ready: [(u) => {
        box.dataset.xMin = String(u.scales.x.min);
        box.dataset.xMax = String(u.scales.x.max);
        box.dataset.yMax = String(u.scales.y.max);
        box.dataset.estimatedDays = String(estimated.filter((v) => v != null).length);
      }] } }, data, box);
    box.dataset.firstDay = String(xs[0]);
    box.dataset.lastDay = String(xs[xs.length - 1]);

    const strip = $("strip");
    strip.replaceChildren();
    strip.style.marginRight = "20px";
    days.forEach((x) => {
      const costs = Object.values(x.providers).map((p) => p.cost);
      let state = x.state;
      if (state === "collected" && costs.every(isZero)) state = "zero";
      const total = Object.entries(x.providers).map(([n, p]) => `${n} $${p.cost}`).join(", ");
      const title = `${x.date}: ` + (state === "missing" ? "no data collected" : state === "future" ? "not finished"
        : total) + (x.revisions ? ` (${x.revisions} value(s) revised later)` : "");
      strip.append(el("span", { class: `day ${state}${x.revisions ? " revised" : ""}`, "data-date": x.date,
        "data-state": state, title }));
    });
  }

  function renderTables(d) {
    const lines = (rows) => rows.map((r) => [el("td", {}, r.provider), el("td", {}, r.key), moneyCell(r.cost),
      el("td", { class: "num", "data-value": r.tokens }, count(r.tokens))]);
    table("models", [["Provider"], ["Model or line item"], ["Cost", 1], ["Tokens", 1]], lines(d.models), "No data");
    table("projects", [["Provider"], ["Project"], ["Cost", 1], ["Tokens", 1]], lines(d.projects), "No data");
    sortable("models");
    sortable("projects");
    const notes = Object.fromEntries(d.summary.providers.map((p) => [p.provider, p.without_billed_cost_note]));
    const totals = {};
    d.tokens.forEach((t) => { totals[t.provider] = (totals[t.provider] || 0) + t.tokens; });
    table("tokens", [["Provider"], ["Kind"], ["Tokens", 1], ["Share", 1], ["Without billed cost", 1], ["Why"]],
      d.tokens.map((t) => [el("td", {}, t.provider), el("td", {}, t.metric.replace(/_/g, " ")),
        el("td", { class: "num" }, count(t.tokens)),
        el("td", { class: "num" }, totals[t.provider] ? (100 * t.tokens / totals[t.provider]).toFixed(1) + " %" : ""),
        el("td", { class: "num" }, count(t.without_billed_cost)),
        el("td", { class: "muted" }, t.without_billed_cost ? notes[t.provider] || "" : "")]), "No data");
    const when = (t) => (t ? t.slice(0, 16).replace("T", " ") : "never");
    table("health", [["Plugin"], ["Days complete (or calls read)", 1], ["Last success"], ["Last run"], ["Status"], ["Why"]],
      d.coverage.plugins.map((p) => {
        const r = p.last_run;
        // A plugin reading local logs has no days to complete: its calls say how it is doing.
        const health = p.calls === undefined ? `${p.days_complete} of ${p.days_finished}`
          : `${count(p.calls)} calls` + (p.last_call_at ? `, last ${when(p.last_call_at)}` : "");
        return [el("td", {}, p.plugin), el("td", { class: "num" }, health),
          el("td", {}, when(p.last_success_at)), el("td", {}, when(r && r.started_at)),
          el("td", { class: r ? "status-" + r.status : "" }, r ? r.status : ""),
          el("td", { class: "muted" }, (r && r.error) || "")];
      }), "No plugin has run yet");
    table("missing", [["Plugin"], ["Day"], ["Why"], ["Tries", 1]],
      d.coverage.missing.map((m) => [el("td", {}, m.plugin), el("td", {}, m.day),
        el("td", { class: "muted" }, m.reason || ""), el("td", { class: "num" }, m.attempts)]),
      "Every day asked for was collected");
    table("runs", [["Started (UTC)"], ["Plugin"], ["Status"], ["Days"], ["Rows", 1], ["Started by"], ["Error"]],
      d.runs.slice(0, 20).map((r) => [el("td", {}, r.started_at.slice(0, 19).replace("T", " ")), el("td", {}, r.plugin_name),
        el("td", { class: "status-" + r.status }, r.status),
        el("td", {}, r.window_from ? `${r.window_from}..${r.window_to}` : "-"),
        el("td", { class: "num" }, count(r.records_written)),
        el("td", {}, r.trigger ? "trigger " + r.trigger : "-"), el("td", { class: "muted" }, r.error || "")]), "No runs yet");
    table("incidents", [["Updated (UTC)"], ["Page"], ["Incident"], ["Status"], ["Impact"], ["Plugin"]],
      (d.incidents || []).map((i) => [el("td", {}, when(i.updated_at)), el("td", {}, i.fields.page || ""),
        el("td", { "data-key": i.key || "" }, i.fields.name || i.key || ""),
        el("td", {}, i.fields.status || ""), el("td", {}, i.fields.impact || ""),
        el("td", { class: "muted" }, i.plugin)]),
      "No incident recorded (a plugin such as status_watch records them)");
    table("alerts", [["Sent (UTC)"], ["Channel"], ["Rule"], ["Message"]],
      d.alerts.map((a) => [el("td", {}, a.sent_at.slice(0, 16).replace("T", " ")), el("td", {}, a.channel),
        el("td", {}, a.key), el("td", { class: "muted" }, a.message)]), "No alerts sent");
  }

  function renderControls(d, live) {
    const p = d.summary.period;
    $("period").textContent = `${p.from} to ${p.to}, UTC days`;
    const month = $("month");
    month.value = p.from.slice(0, 7);
    const select = $("provider");
    // The provider the data is of (a saved report has no address to ask).
    const chosen = d.provider || query.get("provider") || "";
    const names = new Set(d.daily.providers);
    if (chosen) names.add(chosen);
    select.replaceChildren(el("option", { value: "" }, "All providers"));
    [...names].sort().forEach((n) => select.append(el("option", { value: n }, n)));
    select.value = chosen;
    if (!live) { month.disabled = true; select.disabled = true; return; }
    const go = () => {
      const next = new URLSearchParams();
      if (month.value) next.set("month", month.value);
      if (select.value) next.set("provider", select.value);
      if (token) next.set("token", token);
      location.search = next.toString();
    };
    month.addEventListener("change", go);
    select.addEventListener("change", go);
  }

  function render(d, live) {
    renderControls(d, live);
    renderCards(d);
    renderChart(d);
    renderTables(d);
    $("status").textContent = live ? "" : "A saved report: the figures are as of when it was written.";
    document.body.dataset.ready = "yes";
  }

  function fail(message) {
    const s = $("status");
    s.textContent = message;
    s.className = "error";
    document.body.dataset.error = message;
  }

  if (window.AGENT_DATA) {
    render(window.AGENT_DATA, false);
    return;
  }
  const api = new URLSearchParams();
  for (const k of ["month", "from", "to", "provider"]) if (query.get(k)) api.set(k, query.get(k));
  const headers = token ? { Authorization: "Bearer " + token } : {};
  fetch("/api/everything?" + api.toString(), { headers })
    .then((r) => r.json().then((body) => {
      if (!r.ok) throw new Error(body.error || r.statusText);
      return body;
    }))
    .then((d) => render(d, true))
    .catch((e) => fail("Could not load the data: " + e.message));
})();
