"""config.json: exactly what ran, and reading it back.

  record = config_record(plan)          # the shared config, the conditions, the groups
  config = config_from_record(record)   # the first condition's config, for the studies
  same = comparable(a) == comparable(b) # records that resume each other

`config` is the config every condition shares; a field that conditions vary
holds the list of its values instead (no value that no run used). `sweep` is
the axes that ran, `notes` says which default axes a `--config` value
replaced, `unused` the fields that no condition reads (their values in
`config` are defaults that did not act), `collapsed` which requested
combinations were copies of another condition (a swept value that does not
act on them) and were trained once, `identity` the plan's identity (what
its checkpoint and result files carry), and each condition lists its own
values and what its experiment records (for the LSTM: the initializer as
resolved, the preset's parts with the overrides applied).
"""

from __future__ import annotations

import json
from typing import Any

import ml_collections

from lstm_init import dotted, records
from lstm_init.engine.spec.plan import SweepPlan, unused_by
from lstm_init.engine.spec.schema import RESUMABLE_FIELDS, conditional_fields


def swept_paths(plan: SweepPlan) -> list[str]:
  """The config fields that some condition overrides, in order of first appearance."""
  return list(dict.fromkeys(p for c in plan.conditions for p in c.overrides))


def unused_fields(plan: SweepPlan) -> list[str]:
  """Config fields no condition reads; a section no condition reads at all
  appears once, as its name.

  Args:
    plan: the sweep's plan.

  Returns:
    Dotted paths and section names.
  """
  flat = sorted(dotted.flatten(plan.config.to_dict()))
  candidates = list(dict.fromkeys(conditional_fields() + [p for p in flat if "." in p]))
  unused = [p for p in candidates
            if all(unused_by(c, e, p) is not None
                   for c, e in zip(plan.conditions, plan.experiments))]
  out = []
  for section in dict.fromkeys(p.split(".")[0] for p in unused):
    fields = [p for p in flat if p.startswith(section + ".")]
    whole = fields and all(p in unused for p in fields)
    out += [section] if whole else [p for p in unused if p.startswith(section + ".")]
  return out


def config_record(plan: SweepPlan) -> dict[str, Any]:
  """What config.json records: exactly what ran (see the module docstring).

  Args:
    plan: the sweep's plan.

  Returns:
    {"config", "notes", "unused", "conditions", "groups", "identity"}, JSON-ready.
  """
  config = plan.config.to_dict()
  for path in swept_paths(plan):
    dotted.assign(config, path, list(dict.fromkeys(c.overrides[path] for c in plan.conditions
                                                   if path in c.overrides)))
  config["sweep"] = list(plan.axes)
  return {"config": config, "notes": list(plan.notes), "unused": unused_fields(plan),
          "conditions": [{"name": c.name, "overrides": c.overrides, **exp.record}
                         for c, exp in zip(plan.conditions, plan.experiments)],
          "groups": plan.groups, "collapsed": dict(plan.collapsed), "identity": plan.identity}


def recorded_config(record: dict[str, Any], condition: int = 0) -> dict[str, Any]:
  """The recorded config with every swept field set to one value: the
  condition's own, else the first value a condition used (a condition that
  collapsed a field it does not read records no value for it).

  Args:
    record: a config.json record (`config_record`).
    condition: which condition's values come first.

  Returns:
    The config as a nested dict, every field a single value.
  """
  config = json.loads(json.dumps(record["config"]))
  conditions = record.get("conditions") or []
  order = conditions[condition:condition + 1] + conditions
  for path in dict.fromkeys(p for c in conditions for p in c["overrides"]):
    value = next(c["overrides"][path] for c in order if path in c["overrides"])
    dotted.assign(config, path, value)
  return config


def config_from_record(record: dict[str, Any]) -> ml_collections.ConfigDict:
  """The config of a recorded sweep's first condition, as a ConfigDict.

  Args:
    record: a config.json record (`config_record`).

  Returns:
    The shared config with the first condition's values set.
  """
  return ml_collections.ConfigDict(recorded_config(record))


def comparable(record: dict[str, Any]) -> dict[str, Any]:
  """A record without what may change between a sweep and its resumption
  (`RESUMABLE_FIELDS`, and the identity, which follows from the rest)."""
  rec = json.loads(json.dumps(record, default=records.json_default))
  for f in RESUMABLE_FIELDS:
    rec["config"].pop(f, None)
  rec.pop("identity", None)
  return rec


def differences(old: dict[str, Any], new: dict[str, Any], most: int = 3) -> list[str]:
  """The first fields in which two records' configs and conditions differ, as
  "path: old -> new" (for the line that refuses a workdir of another config).

  Args:
    old, new: `comparable` records.
    most: how many to name.

  Returns:
    Up to `most` lines.
  """
  a = dotted.flatten({"config": old.get("config", {}), "notes": old.get("notes", [])})
  b = dotted.flatten({"config": new.get("config", {}), "notes": new.get("notes", [])})
  out = [f"{k.removeprefix('config.')}: {a.get(k, '(absent)')!r} there, "
         f"{b.get(k, '(absent)')!r} here" for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
  if not out:
    names = lambda r: [c.get("name") for c in r.get("conditions", [])]
    if names(old) != names(new):
      out.append(f"conditions: {names(old)} there, {names(new)} here")
    elif old.get("conditions") != new.get("conditions"):
      out.append("the conditions' recorded initializers")
  return out[:most]
