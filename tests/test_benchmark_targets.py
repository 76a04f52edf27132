"""The benchmarks' check of issue #12's targets: each measured figure judged against its bound, the right way round."""

from __future__ import annotations

import pytest

from benchmarks import targets
from benchmarks.photo_bench import check_targets as photo_targets
from benchmarks.raster_bench import check_targets as raster_targets
from benchmarks.targets import Targets


def _verdicts(check: Targets) -> dict[str, bool]:
    return {t.name: t.met for t in check.rows}


def test_a_bound_is_met_on_its_own_side() -> None:
    check = Targets("t")
    check.at_least("rate", 30.0, 30.0)
    check.at_least("slow rate", 29.9, 30.0)
    check.at_most("latency", 12.0, 12.0)
    check.at_most("slow latency", 12.1, 12.0)
    assert [t.met for t in check.rows] == [True, False, True, False]


def test_raster_targets_judge_every_size_and_the_largest_peak(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(26.2, "gdal_calc", {"seconds": 2.8, "peak_rss_mb": 365}),
            (26.2, "indices", {"seconds": 0.75, "peak_rss_mb": 297, "x_gdal_calc": 3.74}),
            (26.2, "model", {"seconds": 2.9, "peak_rss_mb": 365, "x_gdal_calc": 1.0}),
            (398.7, "indices", {"seconds": 14.0, "peak_rss_mb": 1100, "x_gdal_calc": 3.4})]
    v = _verdicts(raster_targets(rows))
    assert "2 of 6 met" in capsys.readouterr().out
    assert v["indices at 26 MP: MP/s end to end"] and v["indices at 26 MP: x gdal_calc"]
    assert not v["indices at 399 MP: MP/s end to end"]  # 28.5 MP/s
    assert not v["indices at 399 MP: x gdal_calc"]
    assert not v["indices at 399 MP: peak memory"]  # 1100 MB
    assert not v["damage model at 26 MP: MP/s of input"]  # 9.0 MP/s


def test_photo_targets_judge_the_floor_ratio_latency_and_load(capsys: pytest.CaptureFixture[str]) -> None:
    pipelines = {"12 MP (4000x3000)": (15.0, 22.0), "page (1600x1200 q85)": (2.0, 31.0)}
    api = {"12 MP (4000x3000)": {"per_s": 41.0, "errors": 0, "p50": 400.0, "p99": 2100.0},
           "page (1600x1200 q85)": {"per_s": 39.0, "errors": 2, "p50": 400.0, "p99": 500.0}}
    v = _verdicts(photo_targets(pipelines, api))
    assert "4 of 8 met" in capsys.readouterr().out
    assert v["12 MP (4000x3000): served p50 / decode floor p50"]  # 1.47x
    assert not v["page (1600x1200 q85): served p50"]
    assert v["API 12 MP (4000x3000): photos/s at 16 concurrent"]
    assert not v["API 12 MP (4000x3000): p99 / p50"]  # 5.25x
    assert not v["API page (1600x1200 q85): photos/s at 16 concurrent"]  # the page's bound is 80
    assert not v["API page (1600x1200 q85): errors"]
    assert targets.API_PER_S["page"] == 80.0
