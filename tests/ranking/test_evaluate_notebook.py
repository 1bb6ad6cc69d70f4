"""notebooks/ranking_evaluation.ipynb runs top to bottom (so it never rots) and its report is well-formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_the_committed_report_has_the_issue_shape() -> None:
    report = json.loads((NOTEBOOKS / "ranking_evaluation.json").read_text())
    assert set(report["systems"]) == {"marquee", "ease", "als", "itemknn", "popular"}
    for metrics in report["systems"].values():
        assert {"ndcg@10", "recall@10", "recall@20", "coverage@10"} <= set(metrics)
    assert report["split"]["protocol"].startswith("held-out users")
    assert "personalized_search" in report and "embeddings_used" in report


@pytest.mark.slow
def test_the_notebook_runs() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOKS / "ranking_evaluation.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})  # fmt: skip
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "marquee" in text and "ease" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4, "metric by system, by history length, cold-start titles, personalized search"
