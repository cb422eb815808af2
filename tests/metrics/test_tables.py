"""Result tables: CSV text and console tables of the same rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from graft.console import GraftConsole
from graft.metrics.tables import csv_text, metrics_table, show, table, write_metrics_csv


def test_csv_from_sequences_and_mappings(tmp_path: Path) -> None:
    text = csv_text(["name", "AP", "n"], [["car", 0.5, 3], {"name": "a,b", "AP": -1.0}])
    assert text == "name,AP,n\ncar,0.500000,3\n\"a,b\",-1.000000,\n"
    path = write_metrics_csv(tmp_path / "m.csv", {"AP": 0.25, "images": 4})
    assert list(csv.reader(path.open())) == [["metric", "value"], ["AP", "0.250000"],
                                            ["images", "4"]]


def test_console_tables_show_missing_values_as_na() -> None:
    assert show(-1.0) == "n/a" and show(0.12345) == "0.1235" and show(3) == "3"
    out = GraftConsole(width=200, record=True, file=io.StringIO())
    out.print(table(["name", "AP"], [{"name": "car", "AP": 0.5}, {"name": "ship", "AP": -1.0}],
                    title="per class"))
    out.print(metrics_table({"AP": 0.5}, {"AP": "AP @ IoU 0.50:0.95"}))
    text = out.export_text()
    assert "per class" in text and "0.5000" in text and "n/a" in text
    assert "AP @ IoU 0.50:0.95" in text
