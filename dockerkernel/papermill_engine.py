"""papermill engine ``dockerkernel``: papermill's nbclient engine that also records provenance.

    papermill --engine dockerkernel IN.ipynb OUT.ipynb

Registered in setup.cfg under the ``papermill.engine`` entry point group. A module of its own
because papermill imports it while papermill itself is still loading.
"""

from papermill.engines import NBClientEngine

from .provenance import keep_requirements, record, requirement_arguments


class PapermillEngine(NBClientEngine):
    """papermill's default engine plus the hook that copies each reply's provenance into its cell,
    and the packages of the notebook's last run (``metadata.dockerkernel.requirements``)
    installed before its first cell and recorded again after it."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        """Execute like the default engine, recording provenance in every code cell."""
        kwargs.setdefault("on_cell_executed", record)
        extra = requirement_arguments(nb_man.nb)
        if extra:
            kwargs["extra_arguments"] = [*kwargs.get("extra_arguments", []), *extra]
        try:
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
        finally:
            keep_requirements(nb_man.nb)
