"""Record how each cell ran (image digest, limits, exit status, wall time) in the notebook.

The kernel puts this in every ``execute_reply``'s metadata under ``dockerkernel``. Jupyter
clients do not copy reply metadata into the notebook by themselves, so this module offers
the hook that does, for each way notebooks are run unattended:

* ``dockerkernel execute NOTEBOOK [-o OUT]`` (nbclient with the hook);
* papermill: ``papermill --engine dockerkernel IN OUT`` (``papermill_engine.py``, registered
  as a papermill entry point), or ``execute_notebook(..., on_cell_executed=record)``;
* nbconvert / nbclient: ``c.ExecutePreprocessor.on_cell_executed = record`` in a config file,
  or ``NotebookClient(nb, on_cell_executed=record)``.

The cell then carries ``metadata.dockerkernel`` = ``{"image", "image_id", "runtime", "limits",
"outcome", "exit_code", "signal", "wall_time", "warm_container", "daemon", "started"}``;
``daemon`` is ``{"name", "id"}`` of the Docker daemon that ran the cell (`docker info`; on a
cluster, the node's cell daemon). Once packages are installed it also has ``"requirements"``
(language → list); ``execute_notebook`` also keeps the last of these in the notebook's
``metadata.dockerkernel.requirements`` and installs them in the kernel before the first cell
the next time (``DockerKernel.requirements``).
"""

from __future__ import annotations

import json


def record(cell=None, cell_index=None, execute_reply=None, **_):
    """nbclient ``on_cell_executed`` hook: copy the reply's provenance into the cell metadata."""
    if cell is None or not execute_reply:
        return
    provenance = (execute_reply.get("metadata") or {}).get("dockerkernel")
    if provenance:
        cell.setdefault("metadata", {})["dockerkernel"] = provenance


def execute_notebook(path: str, output: str | None = None, timeout: int | None = None) -> int:
    """Run a notebook with nbclient, recording provenance; returns the number of error cells."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, on_cell_executed=record, allow_errors=False,
                            extra_arguments=requirement_arguments(nb))
    failed = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = 1
        print(exc)
    keep_requirements(nb)
    nbformat.write(nb, output or path)
    return failed


def requirement_arguments(nb) -> list[str]:
    """The kernel arguments that install the packages a notebook's last run had (its
    ``metadata.dockerkernel.requirements``, language → list) before its first cell."""
    recorded = (nb.metadata.get("dockerkernel") or {}).get("requirements")
    return [f"--DockerKernel.requirements={json.dumps(recorded)}"] if recorded else []


def keep_requirements(nb) -> None:
    """After a run: the requirements of its last cell that had packages go into the notebook's metadata."""
    installed = [cell.metadata["dockerkernel"]["requirements"] for cell in nb.cells
                 if "requirements" in (cell.get("metadata") or {}).get("dockerkernel", {})]
    if installed:
        nb.metadata.setdefault("dockerkernel", {})["requirements"] = installed[-1]
