"""Sub-commands of the ``consroute`` CLI, one module each (see ``consroute_hf.cli``)."""
