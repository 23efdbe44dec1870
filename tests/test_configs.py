"""Every config file loads, plans its default sweep and documents its command."""

import glob
import importlib.util
import os

import pytest

from lstm_init.engine.spec import plan as plan_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not p.endswith("__init__.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_plans_and_documents_its_command(path):
  spec = importlib.util.spec_from_file_location("cfg", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  assert "python -m experiments." in (mod.__doc__ or "")
  config = mod.get_config()
  plan = plan_lib.plan_sweep(config)
  assert len(plan.conditions) >= 1
  exp = plan.experiments[0]
  # A supervised task has a no-learning loss; a return (higher is better) has none.
  assert exp.baseline > 0 if exp.baseline is not None else not exp.lower_is_better
