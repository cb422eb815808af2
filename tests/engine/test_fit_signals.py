"""PyTorch's reports of a dead loader worker, read back into the signal that stopped it."""

from graft.engine.fit import STOP_SIGNALS, _dead_loader_worker


def test_the_signal_name_is_read_from_pytorchs_messages() -> None:
    msg = "DataLoader worker (pid 17550) is killed by signal: Terminated. "
    assert _dead_loader_worker(RuntimeError(msg)) == "Terminated" in STOP_SIGNALS
    msg = "DataLoader worker (pid 12) is killed by signal: Killed."
    assert _dead_loader_worker(RuntimeError(msg)) == "Killed"
    assert "Killed" not in STOP_SIGNALS
    msg = "DataLoader worker (pid(s) 18403, 18404) exited unexpectedly"
    assert _dead_loader_worker(RuntimeError(msg)) == "unknown"
    assert _dead_loader_worker(RuntimeError("CUDA out of memory")) is None


def test_a_report_wrapped_by_another_error_is_found() -> None:
    # Lightning's TensorBoard logger turns any error while logging into a ValueError
    try:
        try:
            raise RuntimeError("DataLoader worker (pid 7) is killed by signal: Killed.")
        except RuntimeError as exc:
            raise ValueError("you tried to log 1.37 which is currently not supported") from exc
    except ValueError as wrapped:
        assert _dead_loader_worker(wrapped) == "Killed"
