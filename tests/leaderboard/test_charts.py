from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from leaderboard.charts import Interval, heatmap, interval_bar, interval_plot, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \'Co\''


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # fails on anything that is not well-formed XML


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def plot(*intervals: Interval) -> ET.Element:
    return parse(interval_plot(list(intervals), chart_id="c", title="Ratings", description="Ratings with intervals."))


def test_the_interval_plot_is_an_accessible_image_with_a_title_a_description_and_axis_labels() -> None:
    root = plot(Interval("Alpha", 1050, 1020, 1080), Interval("Beta", 950, 920, 980))
    assert root.get("role") == "img"
    labelled_by = root.get("aria-labelledby", "").split()
    ids = {element.get("id"): element for element in root.iter() if element.get("id")}
    assert [ids[i].tag for i in labelled_by] == [f"{SVG}title", f"{SVG}desc"]
    assert ids["c-title"].text == "Ratings" and ids["c-desc"].text == "Ratings with intervals."
    labels = texts(root)
    assert any(label.startswith("Rating (Elo scale)") for label in labels) and "Model" in labels


def test_the_interval_plot_draws_one_row_per_model_with_the_better_model_further_right() -> None:
    root = plot(Interval("Alpha", 1050, 1020, 1080), Interval("Beta", 950, 920, 980))
    dots = [float(c.get("cx", "nan")) for c in root.iter(f"{SVG}circle")]
    assert len(dots) == 2 and dots[0] > dots[1]
    names = [t for t in texts(root) if t in ("AlphaAlpha", "BetaBeta")]  # the tooltip title, then the label
    assert names == ["AlphaAlpha", "BetaBeta"]


def test_a_wider_interval_draws_a_longer_bar() -> None:
    root = plot(Interval("Sure", 1000, 990, 1010), Interval("Unsure", 1000, 900, 1100))
    segments = [abs(float(line.get("x2", 0)) - float(line.get("x1", 0))) for line in root.iter(f"{SVG}line")
                if line.get("stroke-width") == "3"]
    assert len(segments) == 2 and segments[1] > 5 * segments[0]


def test_a_model_without_an_interval_is_drawn_as_a_dot_only() -> None:
    root = plot(Interval("Alone", 1000, None, None))
    assert len(list(root.iter(f"{SVG}circle"))) == 1
    assert not [line for line in root.iter(f"{SVG}line") if line.get("stroke-width") == "3"]


def test_model_names_are_escaped_so_that_they_show_as_text_and_never_as_markup() -> None:
    svg = interval_plot([Interval(HOSTILE, 1000, 990, 1010)], chart_id="c", title=HOSTILE, description=HOSTILE)
    assert "<script>" not in svg
    root = parse(svg)
    assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}title").text == HOSTILE  # type: ignore[union-attr]
    cells = heatmap([HOSTILE, "Plain"], [[None, 0.5], [0.5, None]], chart_id="h", title=HOSTILE, description="d",
                    kind="rate")
    assert "<script>" not in cells
    assert any(HOSTILE in t for t in texts(parse(cells)))


def test_long_model_names_are_shortened_on_the_chart_but_kept_whole_in_their_tooltip() -> None:
    name = "An extremely long model name that goes on and on"
    root = plot(Interval(name, 1000, 990, 1010))
    label = next(t for t in root.iter(f"{SVG}text") if t.find(f"{SVG}title") is not None)
    assert label.find(f"{SVG}title").text == name  # type: ignore[union-attr]
    assert (label.find(f"{SVG}title").tail or "").endswith("…")  # type: ignore[union-attr]


def test_the_win_rate_heatmap_writes_each_rate_in_its_cell_and_a_dash_where_the_pair_never_met() -> None:
    root = parse(heatmap(["A", "B", "C"], [[None, 0.75, None], [0.25, None, 0.5], [None, 0.5, None]], chart_id="h",
                         title="Win rate", description="Row against column.", kind="rate"))
    cells = [t.text for g in root.iter(f"{SVG}g") for t in g.iter(f"{SVG}text")]
    assert cells == ["–", "75%", "–", "25%", "–", "50%", "–", "50%", "–"]
    assert "Opponent (column)" in texts(root) and "Model (row)" in texts(root)


def test_the_win_rate_heatmap_colours_wins_blue_and_losses_red() -> None:
    root = parse(heatmap(["A", "B"], [[None, 0.9], [0.1, None]], chart_id="h", title="t", description="d", kind="rate"))
    winning, losing = (r.get("fill", "") for r in root.iter(f"{SVG}rect") if r.get("fill") != "#c9ccd3")
    assert int(winning[5:7], 16) > int(winning[1:3], 16)  # more blue than red
    assert int(losing[1:3], 16) > int(losing[5:7], 16)  # more red than blue


def test_the_battle_count_heatmap_shows_whole_numbers_with_the_busiest_pair_darkest() -> None:
    root = parse(heatmap(["A", "B", "C"], [[None, 120, 3], [120, None, 0], [3, 0, None]], chart_id="h",
                         title="Battles", description="d", kind="count"))
    cells = {t.text: r.get("fill", "") for g in root.iter(f"{SVG}g")
             for r, t in [(g.find(f"{SVG}rect"), g.find(f"{SVG}text"))] if r is not None and t is not None}
    assert set(cells) == {"–", "120", "3", "0"}
    brightness = {k: sum(int(v[i:i + 2], 16) for i in (1, 3, 5)) for k, v in cells.items() if k != "–"}
    assert brightness["120"] < brightness["3"] < brightness["0"] + 1


def test_a_heatmap_refuses_an_unknown_kind_of_value() -> None:
    with pytest.raises(ValueError, match="kind"):
        heatmap(["A"], [[None]], chart_id="h", title="t", description="d", kind="percent")


def test_the_table_interval_bar_is_hidden_from_screen_readers_which_read_the_numbers_instead() -> None:
    root = parse(interval_bar(Interval("A", 1000, 950, 1050), domain=(900, 1100)))
    assert root.get("aria-hidden") == "true"
    line = next(line for line in root.iter(f"{SVG}line") if line.get("stroke-width") == "4")
    assert float(line.get("x1", 0)) < 60 < float(line.get("x2", 0))


def test_axis_ticks_are_round_numbers_covering_the_range() -> None:
    assert nice_ticks(903, 1107) == [950, 1000, 1050, 1100]
    assert nice_ticks(0, 1, 4) == [0, 0.5, 1]
    assert nice_ticks(1000, 1000) == [1000]


def test_an_unbounded_side_runs_to_the_edge_of_the_plot_with_an_arrowhead() -> None:
    root = plot(Interval("Bounded", 1000, 950, 1050), Interval("Unbeaten", 1200, 1150, None, upper_unbounded=True),
                Interval("Winless", 800, None, 850, lower_unbounded=True))
    bars = [line for line in root.iter(f"{SVG}line") if line.get("stroke-width") == "3"]
    assert len(bars) == 3
    edges = [(float(b.get("x1", 0)), float(b.get("x2", 0))) for b in bars]
    right = max(x2 for _, x2 in edges)
    left = min(x1 for x1, _ in edges)
    assert edges[1][1] == right and edges[2][0] == left  # to the plot's edges
    assert len([p for p in root.iter(f"{SVG}polygon") if p.get("class") == "unbounded"]) == 2
    bar = parse(interval_bar(Interval("Unbeaten", 1200, 1150, None, upper_unbounded=True), domain=(900, 1300)))
    assert len(list(bar.iter(f"{SVG}polygon"))) == 1
