"""{% timeline_svg %}: a store's week (reports.timeline.StoreWeek) as inline
SVG, x in percent of the week: business hours shaded, downtime in red,
closures hatched (the pattern defined here, named by hatch_id, unique on
the page); each segment's title is its tooltip.

Written in Python rather than as an included template: a list page draws
fifty of them, and the template's nodes cost about 15 ms of CPU a page.
"""
from __future__ import annotations

import datetime as dt

from django import template
from django.utils import dateformat, timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from reports.timeline import StoreWeek

register = template.Library()


@register.simple_tag
def timeline_svg(week: StoreWeek, as_of: dt.datetime | None, height: int = 20, hatch_id: str = "closed-hatch") -> SafeString:
    until = dateformat.format(timezone.localtime(as_of), "Y-m-d H:i") if as_of is not None else ""
    hatch = escape(hatch_id)
    parts = [
        f'<svg class="timeline" role="img" aria-label="Business hours, closures and downtime over the 7 days to {until} UTC"'
        f' viewBox="0 0 100 10" preserveAspectRatio="none" width="100%" height="{int(height)}">'
    ]
    if week.closed_periods:
        parts.append(
            f'<defs><pattern id="{hatch}" class="closed-hatch" patternUnits="userSpaceOnUse" x="0" y="0" width="1" height="10">'
            '<rect class="hatch-ground" x="0" y="0" width="1" height="10"/>'
            '<polygon class="hatch-stripe" points="0,10 0.35,10 1,0 0.65,0"/></pattern></defs>'
        )
    for segment in week.segments:
        fill = f' fill="url(#{hatch})"' if segment.kind == "closed" else ""
        parts.append(
            f'<rect class="{escape(segment.kind)}"{fill} x="{segment.x:.4f}" y="0" width="{segment.width:.4f}" height="10">'
            f"<title>{escape(segment.title)}</title></rect>"
        )
    for mark in week.day_marks:
        parts.append(
            f'<line class="day-line" vector-effect="non-scaling-stroke" x1="{mark.x:.4f}" x2="{mark.x:.4f}" y1="0" y2="10">'
            f"<title>{escape(mark.label)}</title></line>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every value above is a number or escaped
