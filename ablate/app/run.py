"""``ablate run``: the sweep's driver here, or on the cluster through Ray Client."""

from __future__ import annotations

from ablate.app.cluster import run_through_client
from ablate.app.options import SweepOptions
from ablate.app.sweep import run_here
from ablate.run.session import client_address


def run_sweep(opts: SweepOptions) -> int:
    """Run (or resume) the sweep: with a ``ray://`` address (or ``RAY_ADDRESS``) its driver
    runs on the cluster's head node and streams back (:mod:`ablate.app.cluster`); else this
    process drives it (:func:`ablate.app.sweep.run_here`), on a local Ray or ``--address``."""
    if client_address(opts.address):
        return run_through_client(opts)
    return run_here(opts)


__all__ = ["run_sweep"]
