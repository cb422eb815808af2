"""The toy networks and task of the optimization tests (one thread, seeded) serve here too."""

from __future__ import annotations

from ..optimize.conftest import _one_thread_and_a_seed, toy_task  # noqa: F401 (fixtures)
