"""Multi-process starts: the variables checked before anything connects, a
partner that never comes reported in bounded time, processes that planned
different sweeps refused on every process before any collective."""

import os
import socket

import pytest

from lstm_init.engine.runtime import cluster, processes
from lstm_init.errors import ConfigError
from tests import forked

TINY = ["--config.train.steps=20", "--config.train.log_every=10", "--config.task.length=6",
        "--config.model.hidden_size=4", "--config.task.eval_size=32", "--config.seed_group=1",
        "--cpu_devices=1", "--config.report=False", "--compilation_cache=off"]


def _env(**variables):
  return {"LSTM_INIT_" + k: str(v) for k, v in variables.items()}


@pytest.mark.parametrize("variables, message", [
    (_env(COORDINATOR="127.0.0.1:1", PROCESS_ID=0), "LSTM_INIT_NUM_PROCESSES not"),
    (_env(COORDINATOR="127.0.0.1:1", NUM_PROCESSES=2), "LSTM_INIT_PROCESS_ID not"),
    (_env(NUM_PROCESSES=2, PROCESS_ID=0), "LSTM_INIT_COORDINATOR not"),
    (_env(COORDINATOR="127.0.0.1:1", NUM_PROCESSES="two", PROCESS_ID=0),
     "LSTM_INIT_NUM_PROCESSES='two' is not a whole number"),
    (_env(COORDINATOR="127.0.0.1:1", NUM_PROCESSES=2, PROCESS_ID="1.0"),
     "LSTM_INIT_PROCESS_ID='1.0' is not a whole number"),
    (_env(COORDINATOR="127.0.0.1:1", NUM_PROCESSES=2, PROCESS_ID=5),
     "LSTM_INIT_PROCESS_ID=5 is out of range for LSTM_INIT_NUM_PROCESSES=2; valid: 0 to 1"),
    (_env(COORDINATOR="127.0.0.1:1", NUM_PROCESSES=2, PROCESS_ID=-1),
     "LSTM_INIT_PROCESS_ID=-1 is out of range"),
    (_env(COORDINATOR="127.0.0.1:1", NUM_PROCESSES=0, PROCESS_ID=0),
     "LSTM_INIT_NUM_PROCESSES=0: at least one process"),
    (_env(COORDINATOR="127.0.0.1", NUM_PROCESSES=2, PROCESS_ID=0), "does not end in a port"),
    (_env(COORDINATOR="node7:http", NUM_PROCESSES=2, PROCESS_ID=0), "does not end in a port"),
    (_env(COORDINATOR=":12355", NUM_PROCESSES=2, PROCESS_ID=0), "does not end in a port"),
    (_env(COORDINATOR="127.0.0.1:70000", NUM_PROCESSES=2, PROCESS_ID=0),
     "port from 1 to 65535"),
])
def test_each_bad_cluster_variable_is_one_line(variables, message):
  with pytest.raises(ConfigError, match=message) as e:
    cluster.cluster_from_environment(variables)
  assert "\n" not in str(e.value)


def test_good_cluster_variables_and_one_process():
  got = cluster.cluster_from_environment(
      _env(COORDINATOR="[::1]:12355", NUM_PROCESSES=4, PROCESS_ID=3))
  assert got == cluster.Cluster("[::1]:12355", 4, 3)
  assert cluster.cluster_from_environment({}) is None
  assert cluster.cluster_from_environment({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}) is None
  assert cluster.cluster_from_environment({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}) == \
      cluster.Cluster("", 0, -1)


def test_the_join_timeout_defaults_well_under_jax_and_is_checked():
  assert cluster.join_timeout_s({}) == 60.0 < 300
  assert cluster.join_timeout_s({cluster.JOIN_TIMEOUT: "2.5"}) == 2.5
  for bad in ("0", "-1", "soon", "nan", "inf"):
    with pytest.raises(ConfigError, match=f"LSTM_INIT_JOIN_TIMEOUT_S='{bad}'"):
      cluster.join_timeout_s({cluster.JOIN_TIMEOUT: bad})


def test_the_plan_differs_line_names_the_fields_that_differ():
  mine = {"identity": {"conditions": ["a"], "seeds": [2]}, "fields": {"num_seeds": 2, "x": 1}}
  theirs = {"identity": {"conditions": ["a"], "seeds": [3]}, "fields": {"num_seeds": 3, "x": 1}}
  line = processes.plan_differs_line(1, theirs, mine)
  assert "process 1 planned another sweep than process 0" in line
  assert "num_seeds 3 there, 2 here" in line and "x " not in line
  # Without the fields: the identity's first difference.
  line = processes.plan_differs_line(1, {"identity": theirs["identity"]},
                                     {"identity": mine["identity"]})
  assert "seeds [3] there, [2] here" in line


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(process_id, port, *args, count=2, timeout_s=20):
  env = dict(os.environ, **_env(COORDINATOR=f"127.0.0.1:{port}", NUM_PROCESSES=count,
                                PROCESS_ID=process_id, JOIN_TIMEOUT_S=timeout_s))
  return forked.start(["-m", "experiments.seed_sweep", *TINY, *args], env=env)


def _finish(procs, timeout=90):
  outs = []
  try:
    for p in procs:
      outs.append(p.communicate(timeout=timeout))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  return outs


def _one_line(proc, out, status, *pieces):
  _, err = out
  assert proc.returncode == status, err[-2000:]
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
  for piece in pieces:
    assert piece in lines[0], (piece, lines[0])
  return lines[0]


def test_a_bad_variable_is_one_line_from_the_command_line(tmp_path):
  env = dict(os.environ, **_env(COORDINATOR="127.0.0.1:12355", NUM_PROCESSES=2, PROCESS_ID=5))
  out = forked.run(["-m", "experiments.seed_sweep", *TINY, "--dry_run",
                    f"--workdir={tmp_path / 'w'}"], env=env, timeout=120)
  assert out.returncode == 2 and out.stderr.strip() == (
      "error: LSTM_INIT_PROCESS_ID=5 is out of range for LSTM_INIT_NUM_PROCESSES=2; valid: 0 "
      "to 1, a different one for each process"), out.stderr[-2000:]


def test_a_partner_that_never_comes_is_named_within_the_join_timeout(tmp_path):
  # Process 0 alone (it serves the coordinator) and process 1 alone (nobody
  # serves it), each waiting 2 s instead of JAX's 300.
  ports = [_free_port(), _free_port()]
  procs = [_start(0, ports[0], "--dry_run", timeout_s=2),
           _start(1, ports[1], "--dry_run", timeout_s=2)]
  outs = _finish(procs)
  _one_line(procs[0], outs[0], 1, "process 0 of 2 waited 2 s at coordinator "
            f"127.0.0.1:{ports[0]} (which it serves)", "process 1 did not come",
            "LSTM_INIT_JOIN_TIMEOUT_S")
  _one_line(procs[1], outs[1], 1, "process 1 of 2 waited 2 s to join at coordinator "
            f"127.0.0.1:{ports[1]}", "process 0 did not come")


def test_processes_that_planned_different_sweeps_are_refused_on_every_process(tmp_path):
  port, wd = _free_port(), tmp_path / "w"
  procs = [_start(0, port, "--config.num_seeds=2", f"--workdir={wd}"),
           _start(1, port, "--config.num_seeds=3", f"--workdir={wd}")]
  outs = _finish(procs)
  _one_line(procs[0], outs[0], 2, "process 1 planned another sweep than process 0 (this one): "
            "num_seeds 3 there, 2 here", "nothing was trained")
  _one_line(procs[1], outs[1], 2, "process 0 planned another sweep than process 1 (this one): "
            "num_seeds 2 there, 3 here")
  assert not wd.exists()  # refused before anything was written


def test_a_process_that_stops_before_the_sweep_tells_the_others(tmp_path):
  port, wd = _free_port(), tmp_path / "w"
  procs = [_start(0, port, "--config.num_seeds=2", f"--workdir={wd}", timeout_s=60),
           _start(1, port, "--config.num_seeds=2", "--config.train.learning_rate=-1",
                  f"--workdir={wd}", timeout_s=60)]
  outs = _finish(procs)
  own = _one_line(procs[1], outs[1], 2, "bad value -1.0 for train.learning_rate")
  # Told through the coordinator, not found out by waiting 60 s for its plan.
  _one_line(procs[0], outs[0], 2, "process 1 of 2 stopped before the sweep began ("
            + own.removeprefix("error: ") + ")")
  assert not wd.exists()
