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
cluster, the node's cell daemon).
"""

from __future__ import annotations


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
    client = NotebookClient(nb, timeout=timeout, on_cell_executed=record, allow_errors=False)
    failed = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = 1
        print(exc)
    nbformat.write(nb, output or path)
    return failed
