"""Every notebook in notebooks/ runs top to bottom (headless, short mode) without error."""

import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_six_notebooks_are_there():
    assert [p.stem[0] for p in NOTEBOOKS] == ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("XBAR_NOTEBOOK_SHORT", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(tmp_path)}}  # the notebook's working directory
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3", resources=resources)
    client.execute()  # raises CellExecutionError on any error
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "expected at least one figure"
