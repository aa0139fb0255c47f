"""`pantau report sla`: the limits a service is judged on, the table's rows, the chart's layout."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

from pantau.history.report import Limits, build_chart, limits_by_service, report_rows


def test_limits_say_which_were_judged() -> None:
    """Service limit and step limits, either alone, or none; a service without a row of its own
    but with step limits still has them."""
    limits = limits_by_service(
        [("pbg", "28 working_days"), ("fines", ""), ("nib", "")],
        [("pbg", "verified", "3 working_days"), ("fines", "send_fine", "90 days")],
    )
    assert limits["pbg"].judged == "service+steps"
    assert limits["fines"].judged == "steps"
    assert limits["nib"].judged == "none"
    assert Limits("5 working_days").judged == "service"
    assert limits["fines"].describe() == "no service limit; steps send_fine 90 days"
    assert limits["pbg"].describe() == "service 28 working_days; steps verified 3 working_days"
    assert limits_by_service([], [("x", "a", "1 days")])["x"].judged == "steps"


def test_rows_partition_the_closed_cases_and_total_them() -> None:
    """Within, past the service limit and past a step limit only add up to the cases closed;
    the share is of cases within every limit."""
    limits = {"fines": Limits("", (("send_fine", "90 days"),))}
    rows = report_rows([("fines", 100, 65, 0, 35), ("pbg", 4, 1, 2, 1)], limits)
    assert rows == [
        ("fines", "steps", 100, 65, 0, 35, 65.0),
        ("pbg", "none", 4, 1, 2, 1, 25.0),
        ("all services", "", 104, 66, 2, 36, 63.5),
    ]
    assert report_rows([], {}) == [("all services", "", 0, 0, 0, 0, None)]


def _box(artist: object, renderer: object) -> Bbox:
    return artist.get_window_extent(renderer)  # type: ignore[attr-defined, no-any-return]


def test_the_legend_is_clear_of_every_label() -> None:
    """The legend overlaps neither the axis label, the tick labels, the title, the share
    labels nor the plot itself."""
    rows = report_rows([("pbg", 2, 1, 0, 1), ("a-service-with-a-long-code", 9, 3, 4, 2)], {})
    figure = build_chart("kota-malang.dpmptsp", "2026-11", rows[:-1])
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    (legend,) = figure.legends
    legend_box = _box(legend, renderer)
    (axes,) = figure.axes
    others = [
        axes.xaxis.label,
        axes.title,
        *axes.get_xticklabels(),
        *axes.get_yticklabels(),
        *axes.texts,
    ]
    for label in others:
        assert not legend_box.overlaps(_box(label, renderer)), label
    assert not legend_box.overlaps(axes.get_window_extent(renderer))
    assert len(axes.texts) == 2
    assert [t.get_text() for t in legend.get_texts()] == [
        "within every limit",
        "past the service limit",
        "past a step limit only",
    ]
