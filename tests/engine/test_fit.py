import pytest

from graft.engine.config import TrainerSpec
from graft.engine.fit import use_channels_last


@pytest.mark.parametrize(("setting", "accelerator", "expected"), [
    ("auto", "gpu", True), ("auto", "cpu", False), (True, "cpu", True), (False, "gpu", False)])
def test_channels_last_auto_means_gpus_only(setting, accelerator, expected):
    assert use_channels_last(setting, accelerator) is expected


def test_channels_last_spec_values():
    assert TrainerSpec().channels_last == "auto"
    assert TrainerSpec(channels_last=True).channels_last is True
    assert TrainerSpec(channels_last="false").channels_last is False
    with pytest.raises(ValueError):
        TrainerSpec(channels_last="sometimes")
