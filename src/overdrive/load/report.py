"""The run's report: one self-contained HTML file (inline CSS and SVG) and a JSON summary.

The HTML opens from a CI artifact store or an e-mail with no network: no scripts, no
fonts, no CDN. The JSON is the same document the baseline stores, so any tool can read
what the report shows.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from overdrive.load.charts import Series, line_chart
from overdrive.load.units import format_duration, format_figure

__all__ = ["generator_lag_notice", "render_html", "write_html", "write_json"]

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2433;
background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.meta{color:#5b6475}.verdict{display:inline-block;padding:3px 10px;border-radius:12px;
font-weight:600;color:#fff}
.passed{background:#1f8a4c}.failed{background:#c23b3b}.run-failed{background:#8a5a00}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:10px;
margin-top:16px}
.card{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:20px}.card span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e1e4ea}
th,td{padding:6px 10px;border-bottom:1px solid #eceef2;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f0f2f5;font-weight:600}
td.ok{color:#1f8a4c;font-weight:600}td.bad{color:#c23b3b;font-weight:600}
.chart{width:100%;height:auto;background:#fff;border:1px solid #e1e4ea;border-radius:8px;
margin-bottom:12px}
.chart .grid{stroke:#eceef2}.chart .tick,.chart .legend{font-size:11px;fill:#5b6475}
.chart .chart-title{font-size:13px;font-weight:600;fill:#1d2433}.chart .unit{font-weight:400;
fill:#5b6475}
.notice{background:#fff4e5;border:1px solid #f0c36d;padding:8px 12px;border-radius:6px}
"""

LATE_GENERATOR_MS = 100.0
VERDICT_CLASS = {"passed": "passed", "failed": "failed", "run failed": "run-failed"}


def write_json(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")


def write_html(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(document), encoding="utf-8")


def render_html(document: dict[str, Any]) -> str:
    verdict = document["verdict"]
    sections = [
        f"<h1>Load test: {escape(document['scenario'])}</h1>",
        f'<p class="meta">{escape(document["target"] or "")} · {escape(document["started_at"])} ·'
        f' {escape(_plan_text(document["plan"]))} · <span class="verdict'
        f' {VERDICT_CLASS[verdict]}">{escape(verdict)}</span> (exit {document["exit_code"]})</p>',
    ]
    for notice in _notices(document):
        sections.append(f'<p class="notice">{escape(notice)}</p>')
    sections.append(_cards(document))
    sections.append("<h2>Over time</h2>" + _charts(document))
    if document["thresholds"]:
        sections.append("<h2>Thresholds</h2>" + _thresholds(document["thresholds"]))
    sections.append("<h2>Routes</h2>" + _routes(document))
    if document.get("baseline"):
        sections.append("<h2>Against the baseline</h2>" + _baseline(document["baseline"]))
    if document.get("arrivals"):
        sections.append("<h2>Open model</h2>" + _arrivals(document["arrivals"]))
    if document.get("server"):
        sections.append("<h2>Server side</h2>" + _server(document["server"]))
    if document.get("errors"):
        rows = "".join(
            f"<tr><td>{escape(error)}</td><td>{count}</td></tr>"
            for error, count in sorted(document["errors"].items(), key=lambda item: -item[1])
        )
        sections.append(
            f"<h2>Errors</h2><table><tr><th>Error</th><th>Count</th></tr>{rows}</table>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Load test · {escape(verdict)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>"
    )


def _plan_text(plan: dict[str, Any]) -> str:
    if plan["kind"] == "arrival_rate":
        steps = plan["stages"]
        if len(steps) == 1 and steps[0]["target"] == plan["start_rate"]:
            length = format_duration(steps[0]["duration"])
            return f"open model, {plan['start_rate']:g} req/s for {length}"
        ramps = ", ".join(f"{format_duration(s['duration'])}→{s['target']:g}/s" for s in steps)
        return f"open model from {plan['start_rate']:g}/s: {ramps}"
    stages = plan["stages"]
    first, *rest = stages
    if len(rest) == 1 and first["duration"] == 0 and first["target"] == rest[0]["target"]:
        return f"{stages[1]['target']} users for {format_duration(stages[1]['duration'])}"
    steps = ", ".join(f"{format_duration(s['duration'])}→{s['target']}" for s in plan["stages"])
    return f"stages {steps}"


def _notices(document: dict[str, Any]) -> list[str]:
    notices = []
    if document.get("run_error"):
        notices.append(f"The run failed: {document['run_error']}")
    if document.get("aborted_by"):
        notices.append(f"Aborted early: threshold {document['aborted_by']} was breached.")
    late = generator_lag_notice(document)
    if late:
        notices.append(late)
    if document.get("route_overflow"):
        notices.append(
            "More distinct request names than the report keeps: the excess is grouped under"
            " '(other routes)'. Give requests a name= to group URLs."
        )
    return notices


def generator_lag_notice(document: dict[str, Any]) -> str | None:
    """Say so when the open model's own lateness is a visible part of the latencies."""
    arrivals = document.get("arrivals")
    if not arrivals or arrivals["max_lag_ms"] < LATE_GENERATOR_MS:
        return None
    return (
        f"The load generator started iterations up to {arrivals['max_lag_ms']:.0f} ms late"
        " (CPU-bound); latencies count from the intended start, so they include that delay."
        " Spread the rate with --workers to measure the server alone."
    )


def _cards(document: dict[str, Any]) -> str:
    total = document["total"]
    cards = [
        ("requests", f"{total['requests']:.0f}"),
        ("req/s", f"{total['rps']:.1f}"),
        ("error rate", f"{total['error_rate']:.2%}"),
    ]
    cards += [(name, _ms(total.get(name))) for name in ("p50", "p95", "p99", "max")]
    if document.get("arrivals"):
        arrivals = document["arrivals"]
        cards.append(("target req/s", f"{arrivals['target_rate']:.4g}"))
        cards.append(("dropped arrivals", f"{arrivals['dropped']}"))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'
            for label, value in cards
        )
        + "</div>"
    )


def _charts(document: dict[str, Any]) -> str:
    timeline = document["timeline"]
    ends = [point["start"] + point["span"] for point in timeline]
    rps = [
        (end, p["requests"] / p["span"] if p["span"] else 0.0)
        for end, p in zip(ends, timeline, strict=True)
    ]
    errors = [
        (end, p["failures"] / p["span"] if p["span"] else 0.0)
        for end, p in zip(ends, timeline, strict=True)
    ]
    latency = [
        Series(
            label,
            color,
            [(end, p[label]) for end, p in zip(ends, timeline, strict=True) if p["requests"]],
        )
        for label, color in (("p50", "#2f6fde"), ("p95", "#e08a00"), ("p99", "#c23b3b"))
    ]
    users_label = "in flight" if document["plan"]["kind"] == "arrival_rate" else "users"
    users = [(end, float(p["users"])) for end, p in zip(ends, timeline, strict=True)]
    return "".join(
        [
            line_chart("Throughput", "requests/s", [Series("req/s", "#2f6fde", rps)]),
            line_chart("Latency", "ms", latency),
            line_chart("Errors", "failures/s", [Series("errors/s", "#c23b3b", errors)]),
            line_chart(users_label.capitalize(), "count", [Series(users_label, "#5b6475", users)]),
        ]
    )


def _thresholds(results: list[dict[str, Any]]) -> str:
    rows = []
    for result in results:
        observed = result["observed"]
        metric = result["metric"]
        shown = "no data" if observed is None else format_figure(metric, observed)
        status = '<td class="ok">pass</td>' if result["passed"] else '<td class="bad">FAIL</td>'
        rows.append(
            f"<tr><td>{escape(result['expression'])}</td><td>{escape(shown)}</td>{status}</tr>"
        )
    return (
        "<table><tr><th>Threshold</th><th>Observed</th><th>Result</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _routes(document: dict[str, Any]) -> str:
    head = _header("Route", "Requests", "req/s", "Errors", "p50", "p95", "p99", "max")
    rows = []
    for name, figures in [*document["routes"].items(), ("all", document["total"])]:
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{figures['requests']:.0f}</td><td>{figures['rps']:.1f}</td>"
            f"<td>{figures['error_rate']:.2%}</td>"
            + "".join(f"<td>{_ms(figures.get(key))}</td>" for key in ("p50", "p95", "p99", "max"))
            + "</tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _baseline(baseline: dict[str, Any]) -> str:
    rows = []
    for row in baseline["movements"]:
        change = "n/a" if row["change"] is None else f"{row['change']:+.1%}"
        status = (
            '<td class="bad">regressed</td>'
            if row["regressed"]
            else ("<td>—</td>" if row["limit"] is None else '<td class="ok">ok</td>')
        )
        rows.append(
            f"<tr><td>{escape(row['scope'])}</td><td>{escape(row['metric'])}</td>"
            f"<td>{escape(format_figure(row['metric'], row['baseline']))}</td>"
            f"<td>{escape(format_figure(row['metric'], row['current']))}</td>"
            f"<td>{escape(change)}</td>"
            f"<td>{escape(row['limit'] or '')}</td>{status}</tr>"
        )
    head = _header("Scope", "Metric", "Baseline", "Now", "Change", "Limit", "Result")
    source = f'<p class="meta">Baseline: {escape(baseline["path"])}</p>'
    if baseline.get("warning"):
        source += f'<p class="notice">Note: {escape(baseline["warning"])}.</p>'
    return f"{source}<table>{head}{''.join(rows)}</table>"


def _arrivals(arrivals: dict[str, Any]) -> str:
    rows = [
        ("requested rate (mean)", f"{arrivals['target_rate']:.4g}/s"),
        ("achieved rate", f"{arrivals['achieved_rate']:.1f}/s"),
        ("iterations started", f"{arrivals['issued']} of {arrivals['intended']}"),
        ("dropped (in-flight bound reached)", f"{arrivals['dropped']}"),
        (
            "largest start delay (added to latency)",
            format_figure("latency", arrivals["max_lag_ms"]),
        ),
    ]
    rows += [
        (f"task error: {error}", str(count)) for error, count in arrivals["task_errors"].items()
    ]
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table><tr><th>Figure</th><th>Value</th></tr>{body}</table>"


def _server(server: dict[str, Any]) -> str:
    rows = []
    if server.get("cache_hit_ratio") is not None:
        rows.append(("cache hit ratio", f"{server['cache_hit_ratio']:.1%}"))
        for tier, ratio in server.get("cache_hit_ratio_by_tier", {}).items():
            rows.append((f"cache hit ratio, {tier}", "n/a" if ratio is None else f"{ratio:.1%}"))
    if server.get("db_statements_per_request") is not None:
        rows.append(("DB statements per request", f"{server['db_statements_per_request']:.2f}"))
    if server.get("server_requests") is not None:
        rows.append(("requests the server counted", f"{server['server_requests']:.0f}"))
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table><tr><th>Figure</th><th>Over the run</th></tr>{body}</table>"


def _ms(value: float | None) -> str:
    return "—" if value is None else format_figure("latency", value)


def _header(*names: str) -> str:
    return "<tr>" + "".join(f"<th>{escape(name)}</th>" for name in names) + "</tr>"
