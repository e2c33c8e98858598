"""The command's own local Ray, started in the background while the driver builds and opens
the store (:func:`ablate.run.session.start_local`)."""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.integration


def test_a_background_ray_outlives_its_start_and_gives_workers_the_env() -> None:
    import ray

    from ablate.run import session

    before = os.environ.get("RAY_CHDIR_TO_TRIAL_DIR")
    session.start_local(env={"ABLATE_PROBE_ENV": "yes"})
    try:
        session.connect(None)  # waits for the background start
        assert ray.is_initialized()
        # Ray's processes die with the thread that forked them (PR_SET_PDEATHSIG): a
        # starter thread that had returned would have taken the GCS down by now.
        time.sleep(2)

        @ray.remote(num_cpus=1)
        def env() -> dict[str, str | None]:
            keys = ("RAY_CHDIR_TO_TRIAL_DIR", "ABLATE_PROBE_ENV", "PYTHONPATH")
            return {k: os.environ.get(k) for k in keys}

        seen = ray.get(env.remote(), timeout=120)
        assert seen["RAY_CHDIR_TO_TRIAL_DIR"] == "0" and seen["ABLATE_PROBE_ENV"] == "yes"
        assert seen["PYTHONPATH"] == session.worker_env()["PYTHONPATH"]  # custom_imports
        # The driver's own environment is as it was: the raylet keeps the copy.
        assert os.environ.get("RAY_CHDIR_TO_TRIAL_DIR") == before
        assert "ABLATE_PROBE_ENV" not in os.environ
    finally:
        ray.shutdown()


def test_a_background_ray_nobody_used_is_stopped() -> None:
    import ray

    from ablate.run import session

    session.start_local()
    session.stop_local()  # the command ended before its sweep (exit 2, say)
    assert not ray.is_initialized()
    session.stop_local()  # and a second call has nothing left to stop
