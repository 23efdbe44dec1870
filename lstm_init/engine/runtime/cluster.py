"""Where the processes of a sweep meet: the environment's cluster, checked, and
a bounded wait for the others.

  cluster = cluster_from_environment()   # None for one process; one line for a bad variable
  with deadline(join_timeout_s(), join_failed_line(cluster, seconds)):
    jax.distributed.initialize(...)

  LSTM_INIT_COORDINATOR=host:port LSTM_INIT_NUM_PROCESSES=2 LSTM_INIT_PROCESS_ID=0 python -m ...
  LSTM_INIT_JOIN_TIMEOUT_S=60     # how long a process waits for the others (default 60 s)

The variables are checked before anything connects (one line each). A
process whose partners do not all come within the join timeout says so in
one line, naming the coordinator and the processes it waited for, and exits
1 (JAX's own wait, 300 s by default, ends in an abort).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import threading
from typing import Iterator, Mapping

from lstm_init.errors import ConfigError

COORDINATOR, NUM_PROCESSES, PROCESS_ID = ("LSTM_INIT_COORDINATOR", "LSTM_INIT_NUM_PROCESSES",
                                          "LSTM_INIT_PROCESS_ID")
JOIN_TIMEOUT = "LSTM_INIT_JOIN_TIMEOUT_S"
DEFAULT_JOIN_TIMEOUT_S = 60.0   # JAX's own default is 300 s
JAX_MARGIN_S = 30               # JAX's bound lies past ours, so that our line comes first
JOIN_FAILED = 1                 # the exit status of a process whose partners did not come
USAGE = (f"valid: every process with the same {COORDINATOR}=host:port and {NUM_PROCESSES}=N "
         f"(N >= 1), and its own {PROCESS_ID}=i (0 <= i < N); or none of the three (one "
         "process)")


@dataclasses.dataclass(frozen=True)
class Cluster:
  """Where the processes of a sweep meet, as the environment gives it."""

  coordinator: str    # host:port ("" when the cluster's launcher names it: SLURM, Open MPI)
  num_processes: int  # 0 when the launcher's
  process_id: int     # -1 when the launcher's


def cluster_from_environment(environ: Mapping[str, str] | None = None) -> Cluster | None:
  """The cluster the environment describes, checked; None for one process.

  Args:
    environ: the environment (default `os.environ`).

  Returns:
    The `Cluster` of the `LSTM_INIT_*` variables, or an auto-detected one
    under SLURM or Open MPI with more than one task, else None.

  Raises:
    ConfigError: for a variable missing beside the others, a count or id that
      is not a whole number or out of range, or a coordinator without a port.
  """
  env = os.environ if environ is None else environ
  names = (COORDINATOR, NUM_PROCESSES, PROCESS_ID)
  given = {n: env[n].strip() for n in names if env.get(n, "").strip()}
  if not given:
    tasks = env.get("SLURM_NTASKS", env.get("OMPI_COMM_WORLD_SIZE", "1"))
    launched = any(v in env for v in ("SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE"))
    return Cluster("", 0, -1) if launched and tasks.strip().isdigit() and int(tasks) > 1 \
        else None
  missing = [n for n in names if n not in given]
  if missing:
    have = ", ".join(f"{n}={v}" for n, v in given.items())
    raise ConfigError(f"{have} set, but {' and '.join(missing)} not; {USAGE}")
  coordinator = given[COORDINATOR]
  host, colon, port = coordinator.rpartition(":")
  if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise ConfigError(f"{COORDINATOR}={coordinator!r} does not end in a port; valid: host:port "
                      "with a port from 1 to 65535, e.g. 127.0.0.1:12355 (the same on every "
                      "process)")
  count = _whole(NUM_PROCESSES, given[NUM_PROCESSES])
  me = _whole(PROCESS_ID, given[PROCESS_ID])
  if count < 1:
    raise ConfigError(f"{NUM_PROCESSES}={count}: at least one process; {USAGE}")
  if not 0 <= me < count:
    raise ConfigError(f"{PROCESS_ID}={me} is out of range for {NUM_PROCESSES}={count}; valid: "
                      f"0 to {count - 1}, a different one for each process")
  return Cluster(coordinator, count, me)


def _whole(name: str, text: str) -> int:
  try:
    return int(text)
  except ValueError:
    raise ConfigError(f"{name}={text!r} is not a whole number; {USAGE}") from None


def join_timeout_s(environ: Mapping[str, str] | None = None) -> float:
  """How long a process waits for the others: `LSTM_INIT_JOIN_TIMEOUT_S`, else 60 s.

  Args:
    environ: the environment (default `os.environ`).

  Returns:
    Seconds (> 0).

  Raises:
    ConfigError: for a value that is not a positive number.
  """
  text = (os.environ if environ is None else environ).get(JOIN_TIMEOUT, "").strip()
  if not text:
    return DEFAULT_JOIN_TIMEOUT_S
  try:
    seconds = float(text)
  except ValueError:
    seconds = math.nan
  if not (math.isfinite(seconds) and seconds > 0):
    raise ConfigError(f"{JOIN_TIMEOUT}={text!r}; valid: a number of seconds > 0 (default "
                      f"{DEFAULT_JOIN_TIMEOUT_S:g})")
  return seconds


def join_failed_line(cluster: Cluster, seconds: float) -> str:
  """What a process says when its partners did not all come within `seconds`.

  Args:
    cluster: where it waited.
    seconds: how long it waited.

  Returns:
    One line naming the coordinator, the processes waited for and what to do.
  """
  where = (f"coordinator {cluster.coordinator}" if cluster.coordinator
           else "the coordinator the cluster's launcher names")
  fix = (f"start every process with the same {COORDINATOR}"
         + (f" and {NUM_PROCESSES}={cluster.num_processes}" if cluster.num_processes else "")
         + f", or wait longer with {JOIN_TIMEOUT}=<seconds>")
  if cluster.num_processes < 1:
    return f"the processes of this sweep did not all join at {where} within {seconds:g} s; {fix}"
  n, me = cluster.num_processes, cluster.process_id
  others = [p for p in range(n) if p != me]
  missing = (f"process {others[0]} did not come" if len(others) == 1 else
             f"processes {', '.join(map(str, others))} did not all come" if len(others) <= 6
             else f"the processes 0 to {n - 1} other than {me} did not all come")
  if me == 0:
    return (f"process 0 of {n} waited {seconds:g} s at {where} (which it serves) for the others "
            f"to join: {missing}; {fix}")
  return (f"process {me} of {n} waited {seconds:g} s to join at {where} (served by process 0): "
          f"{missing}, or the address cannot be reached from here; {fix}")


@contextlib.contextmanager
def deadline(seconds: float, line: str, status: int = JOIN_FAILED) -> Iterator[None]:
  """Ends the process with `line` on stderr and `status` if the block runs past
  `seconds`: a wait inside JAX's runtime cannot be interrupted from Python, so
  a timer thread ends the process itself.

  Args:
    seconds: the bound.
    line: what to say (without "error: ").
    status: the exit status.

  Yields:
    Nothing; the timer is cancelled when the block ends.
  """
  timer = threading.Timer(seconds, _give_up, (line, status))
  timer.daemon = True
  timer.start()
  try:
    yield
  finally:
    timer.cancel()


def _give_up(line: str, status: int) -> None:
  sys.stdout.flush()
  print(f"error: {line}", file=sys.stderr, flush=True)
  os._exit(status)
