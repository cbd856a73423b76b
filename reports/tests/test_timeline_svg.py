"""{% timeline_svg %}: a store's week as inline SVG, each segment a rect
with its tooltip, closures hatched with the page's pattern for that store."""
import datetime as dt
import re

from django.template import engines

from reports.templatetags.timelines import timeline_svg
from reports.timeline import DayMark, Segment, StoreWeek

UTC = dt.timezone.utc
AS_OF = dt.datetime(2024, 1, 8, 23, 0, tzinfo=UTC)
CLOSED = Segment("closed", 0, 1, 50.0, 10.0, "Mon 08 Jan 09:00 – 12:00 CST (3 h 00 min)", "Stock <take> & co")
WEEK = StoreWeek(
    segments=[Segment("open", 0, 1, 12.5, 25.0, "Mon 08 Jan 09:00 – 17:00 CST (8 h 00 min)"), CLOSED],
    down_periods=[],
    day_marks=[DayMark(100 / 7, "Tue 02")],
    closed_periods=[CLOSED],
)


def test_segments_are_rects_in_percent_of_the_week_with_their_tooltips_escaped():
    svg = str(timeline_svg(WEEK, AS_OF, height=18, hatch_id="closed-hatch-7"))
    assert 'aria-label="Business hours, closures and downtime over the 7 days to 2024-01-08 23:00 UTC"' in svg
    assert 'height="18"' in svg
    assert '<rect class="open" x="12.5000" y="0" width="25.0000" height="10"><title>Open: Mon 08 Jan 09:00 – 17:00 CST (8 h 00 min)</title></rect>' in svg
    assert "Closed (Stock &lt;take&gt; &amp; co): Mon 08 Jan 09:00" in svg
    assert '<line class="day-line" vector-effect="non-scaling-stroke" x1="14.2857" x2="14.2857" y1="0" y2="10"><title>Tue 02</title></line>' in svg


def test_closures_are_hatched_with_the_pattern_named_for_the_store():
    svg = str(timeline_svg(WEEK, AS_OF, hatch_id="closed-hatch-7"))
    assert re.findall(r'<pattern id="([^"]+)"', svg) == ["closed-hatch-7"]
    assert '<rect class="closed" fill="url(#closed-hatch-7)" x="50.0000"' in svg


def test_a_week_without_closures_defines_no_pattern_and_the_default_height_is_20():
    svg = str(timeline_svg(WEEK._replace(segments=WEEK.segments[:1], closed_periods=[]), AS_OF))
    assert "<pattern" not in svg and 'height="20"' in svg


def test_the_tag_is_safe_markup_in_a_template():
    rendered = engines["django"].from_string("{% load timelines %}{% timeline_svg week as_of %}").render({"week": WEEK, "as_of": AS_OF})
    assert rendered.startswith('<svg class="timeline"') and "&lt;svg" not in rendered
