// Overdrive dashboard: polls feed.json and draws SVG line charts. No libraries, no build.
"use strict";
(function () {
  const base = document.body.dataset.base;
  const token = new URLSearchParams(location.search).get("token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 2000;

  const ms = (s) => (s == null ? "–" : s < 1 ? (s * 1000).toFixed(s < 0.01 ? 2 : 0) + " ms" : s.toFixed(2) + " s");
  const pct = (r) => (r == null ? "–" : (r * 100).toFixed(r < 0.1 ? 2 : 1) + " %");
  const num = (n) => (n == null ? "–" : n >= 100 ? n.toFixed(0) : n.toFixed(1));
  const bytes = (b) => (b == null ? "–" : b > 1e9 ? (b / 1e9).toFixed(2) + " GB" : (b / 1e6).toFixed(0) + " MB");
  const text = (id, value, bad) => {
    const el = document.getElementById(id);
    el.textContent = value;
    el.classList.toggle("bad", !!bad);
  };
  const node = (tag, attrs, parent) => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (parent) parent.appendChild(el);
    return el;
  };

  // series: [{name, cls, points: [[t, v], ...]}]; target: number or null.
  // span: [t0, t1] shared by every chart, so their time axes line up.
  function chart(id, series, target, format, span) {
    const svg = document.getElementById(id);
    const width = svg.clientWidth || 500, height = svg.clientHeight || 180;
    const pad = { l: 52, r: 8, t: 8, b: 18 };
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const all = series.flatMap((s) => s.points.filter((p) => p[1] != null));
    svg.dataset.points = String(all.length);
    if (!all.length) {
      node("text", { x: width / 2, y: height / 2, class: "axis", "text-anchor": "middle" }, svg).textContent = "no data yet";
      return;
    }
    const t0 = span[0], t1 = span[1];
    let vmax = Math.max(...all.map((p) => p[1]), target == null ? 0 : target * 1.15);
    if (vmax <= 0) vmax = 1;
    const x = (t) => pad.l + ((t - t0) / Math.max(t1 - t0, 1)) * (width - pad.l - pad.r);
    const y = (v) => height - pad.b - (v / vmax) * (height - pad.t - pad.b);
    for (let i = 0; i <= 4; i++) {
      const v = (vmax * i) / 4;
      node("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: "grid" }, svg);
      node("text", { x: pad.l - 6, y: y(v) + 3, class: "axis", "text-anchor": "end" }, svg).textContent = format(v);
    }
    const minutes = Math.round((t1 - t0) / 60);
    node("text", { x: pad.l, y: height - 4, class: "axis" }, svg).textContent = minutes ? `-${minutes} min` : "";
    node("text", { x: width - pad.r, y: height - 4, class: "axis", "text-anchor": "end" }, svg).textContent = "now";
    if (target != null) {
      const line = node("line", { x1: pad.l, x2: width - pad.r, y1: y(target), y2: y(target), class: "target" }, svg);
      line.dataset.value = String(target);
    }
    for (const s of series) {
      const pts = s.points.filter((p) => p[1] != null);
      if (!pts.length) continue;
      const d = pts.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
      const path = node("path", { d, class: `line series-${s.cls}` }, svg);
      path.dataset.last = String(pts[pts.length - 1][1]);
      node("title", {}, path).textContent = s.name;
      const last = pts[pts.length - 1];  // a dot on the latest value: visible with one point
      node("circle", { cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1), r: 2.5, class: `dot series-${s.cls}` }, svg);
    }
  }

  function alerts(list) {
    const box = document.getElementById("alerts");
    box.replaceChildren();
    for (const a of list) {
      const div = document.createElement("div");
      div.className = "alert " + a.state;
      div.dataset.name = a.name;
      div.dataset.state = a.state;
      const value = a.value == null ? "no data"
        : a.measure.startsWith("latency") || a.measure === "event_loop_lag" ? ms(a.value)
        : a.measure === "request_rate" ? num(a.value) + "/s" : pct(a.value);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = `${a.state.toUpperCase()} ${a.name}`;
      const rest = document.createElement("span");
      rest.textContent = ` (${a.severity}) — ${a.annotations.summary} — now ${value}`;
      div.append(name, rest);
      if (a.annotations.runbook_url) {
        const link = document.createElement("a");
        link.href = a.annotations.runbook_url;
        link.textContent = " runbook";
        div.append(link);
      }
      box.appendChild(div);
    }
  }

  function listing(id, items, render) {
    const box = document.getElementById(id);
    box.replaceChildren();
    if (!items.length) { box.textContent = "none"; return; }
    for (const item of items) {
      const pre = document.createElement("pre");
      pre.textContent = render(item);
      box.appendChild(pre);
    }
  }

  function render(feed) {
    const t = feed.targets, s1 = feed.summary["1m"];
    document.getElementById("service").textContent = feed.service;
    document.getElementById("updated").textContent = "updated " + new Date(feed.generated_at * 1000).toLocaleTimeString();
    text("tile-rate", num(s1.rate));
    text("tile-errors", pct(s1.error_rate), s1.error_rate != null && s1.error_rate > t.error_rate);
    text("tile-p95", ms(s1.p95), s1.p95 != null && s1.p95 > t.latency_p95);
    const hits = feed.cache.hit_ratio.overall;
    text("tile-hits", pct(hits), hits != null && hits < t.cache_hit_ratio);
    text("tile-rss", bytes(feed.process.resident_memory));
    text("tile-lag", ms(feed.process.event_loop_lag), feed.process.event_loop_lag > t.event_loop_lag);

    const pts = (key) => feed.series.map((p) => [p.t, p.count ? p[key] : null]);
    const span = [feed.series[0].t, feed.generated_at];
    chart("chart-rate", [{ name: "req/s", cls: "rate", points: feed.series.map((p) => [p.t, p.rate]) }], null, num, span);
    chart("chart-errors", [{ name: "error rate", cls: "errors", points: pts("error_rate") }], t.error_rate, pct, span);
    chart("chart-latency", [
      { name: "p50", cls: "p50", points: pts("p50") },
      { name: "p95", cls: "p95", points: pts("p95") },
      { name: "p99", cls: "p99", points: pts("p99") },
    ], t.latency_p95, ms, span);
    const tiers = ["overall", ...Object.keys(feed.cache.hit_ratio).filter((k) => k !== "overall").sort()];
    chart("chart-cache", tiers.map((tier, i) => ({
      name: tier, cls: i === 0 ? "hits" : "tier" + i,
      points: feed.cache.series.map((p) => [p.t, p[tier] == null ? null : p[tier]]),
    })), t.cache_hit_ratio, pct, span);
    document.getElementById("cache-tiers").textContent = Object.entries(feed.cache.hit_ratio)
      .map(([tier, r]) => `${tier}: ${pct(r)}`).join(" · ");

    const body = document.querySelector("#routes tbody");
    body.replaceChildren();
    for (const r of feed.routes) {
      const row = document.createElement("tr");
      for (const cell of [r.route, num(r.rate), pct(r.error_rate), ms(r.p50), ms(r.p95), ms(r.p99), ms(r.target_p95)]) {
        const td = document.createElement("td");
        td.textContent = cell;
        row.appendChild(td);
      }
      body.appendChild(row);
    }
    listing("slow-queries", feed.db.slow_queries, (q) => typeof q === "string" ? q : JSON.stringify(q, null, 2));
    listing("n-plus-one", feed.db.n_plus_one_reports, (r) => typeof r === "string" ? r : JSON.stringify(r, null, 2));
    alerts(feed.alerts);
    document.body.dataset.ready = "1";
  }

  async function poll() {
    try {
      const response = await fetch(base + "/feed.json", { headers, cache: "no-store" });
      if (response.ok) render(await response.json());
      else document.getElementById("updated").textContent = "feed answered " + response.status;
    } catch (error) {
      document.getElementById("updated").textContent = "feed unreachable: " + error;
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
