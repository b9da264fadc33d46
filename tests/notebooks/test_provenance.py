"""A notebook run unattended records in each cell how it ran (issue 5: provenance)."""

import nbformat
import papermill
import pytest

from dockerkernel.cli import main as cli_main
from dockerkernel.languages import IMAGE_PREFIX

pytestmark = pytest.mark.docker

NOTEBOOK = nbformat.v4.new_notebook(cells=[
    nbformat.v4.new_code_cell("print('hi')"),
    nbformat.v4.new_code_cell("%timeout 7\nimport sys\nprint(sys.version_info[0])"),
])
NOTEBOOK.metadata["kernelspec"] = {"name": "docker-python", "display_name": "Python 3 (Docker)", "language": "python"}


def check(cells):
    first, second = [c.metadata["dockerkernel"] for c in cells]
    for prov in (first, second):
        assert prov["image"] == f"{IMAGE_PREFIX}python:latest"
        assert prov["image_id"].startswith("sha256:")
        assert prov["outcome"] == "ok" and prov["exit_code"] == 0
        assert prov["wall_time"] > 0
        assert prov["limits"]["memory"] == 512 << 20 and prov["limits"]["network"] == "none"
    assert first["limits"]["timeout"] == 30 and second["limits"]["timeout"] == 7


def test_dockerkernel_execute_records_provenance(tmp_path, images):
    path = tmp_path / "nb.ipynb"
    nbformat.write(NOTEBOOK, path)
    assert cli_main(["execute", str(path), "-o", str(tmp_path / "out.ipynb")]) == 0
    check(nbformat.read(tmp_path / "out.ipynb", 4).cells)


def test_papermill_engine_records_provenance(tmp_path, images):
    path = tmp_path / "nb.ipynb"
    nbformat.write(NOTEBOOK, path)
    papermill.execute_notebook(str(path), str(tmp_path / "out.ipynb"), engine_name="dockerkernel", progress_bar=False)
    check(nbformat.read(tmp_path / "out.ipynb", 4).cells)
