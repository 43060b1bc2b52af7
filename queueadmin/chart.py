"""Render the throughput chart of the queue overview as inline SVG, on the server."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 720
HEIGHT = 200
MARGIN = 32


def _points(values: list[int], top: int) -> str:
    step = (WIDTH - 2 * MARGIN) / max(1, len(values) - 1)
    scale = (HEIGHT - 2 * MARGIN) / max(1, top)
    return " ".join(
        f"{MARGIN + index * step:.1f},{HEIGHT - MARGIN - value * scale:.1f}"
        for index, value in enumerate(values)
    )


def render_throughput_chart(series: list[tuple[int, int, int]]) -> SafeString:
    """Return an SVG line chart of ``(minute, processed, failed)`` tuples, oldest first."""
    processed = [row[1] for row in series]
    failed = [row[2] for row in series]
    top = max([1, *processed, *failed])
    lines = format_html_join(
        "",
        '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title>'
        "</polyline>",
        (
            ("#2b6cb0", _points(processed, top), "finished per minute"),
            ("#c53030", _points(failed, top), "failed per minute"),
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="throughput-chart" width="{w}" '
        'height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="Jobs finished and failed '
        'per minute over the last hour">'
        '<rect x="0" y="0" width="{w}" height="{h}" fill="#fff" stroke="#ccc"/>'
        '<line x1="{m}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>'
        '<text x="4" y="{m}" font-size="11">{top}/min</text>'
        '<text x="{m}" y="{label}" font-size="11">60 min ago</text>'
        '<text x="{now}" y="{label}" font-size="11">now</text>'
        '<text x="{legend}" y="16" font-size="11" fill="#2b6cb0">finished</text>'
        '<text x="{legend2}" y="16" font-size="11" fill="#c53030">failed</text>'
        "{lines}</svg>",
        w=WIDTH,
        h=HEIGHT,
        m=MARGIN,
        base=HEIGHT - MARGIN,
        right=WIDTH - MARGIN,
        top=top,
        label=HEIGHT - 10,
        now=WIDTH - MARGIN - 20,
        legend=WIDTH - 170,
        legend2=WIDTH - 100,
        lines=lines,
    )
