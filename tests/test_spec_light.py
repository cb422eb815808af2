"""Issue 17: a spec is validated before PyTorch loads, so a typo is reported at once.

Checked by what gets imported (not by timing): the spec models of every task, and the whole
``graft TASK train -e typo.yaml`` path up to its error, leave torch and Lightning unloaded.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from graft import tasks

HEAVY = ("torch", "torchvision", "lightning", "cv2", "sklearn", "pandas")


def loaded_after(code: str) -> list[str]:
    probe = (f"{code}\nimport sys\n"
             f"print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.splitlines()[-1].split()[1:]


@pytest.mark.parametrize("name", tasks.available())
def test_spec_models_import_without_torch(name):
    code = (f"from graft import tasks\nfor m in tasks.get({name!r}).spec_models().values():\n"
            "    m.model_json_schema()")
    assert loaded_after(code) == []


@pytest.mark.parametrize("name", [n for n in tasks.available()
                                  if "train" in tasks.get(n).spec_models()])
def test_a_spec_typo_is_reported_before_torch_loads(name, tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text(yaml.safe_dump({"trainer": {"epochz": 3}}))
    code = ("from graft.cli import main\n"
            f"assert main([{name!r}, 'train', '-e', {str(spec)!r}, '-r', "
            f"{str(tmp_path / 'r')!r}]) == 2")
    assert loaded_after(code) == []
    assert not (tmp_path / "r").exists()


def test_help_loads_no_heavy_package():
    code = "from graft.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert loaded_after(code) == []
