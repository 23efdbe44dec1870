"""A sweep from a notebook: no flags, three DataFrames, a figure.

  python examples/notebook_sweep.py        # as a script
  # or paste the cells (between the `# %%` lines) into Jupyter: the same code,
  # with a progress bar instead of progress lines

Two initializations of the default task (the adding problem), 8 seeds each,
trained for 200 steps: about 20 seconds on 2 CPU cores. Interrupting the
kernel during `lstm_init.sweep` leaves a checkpoint; running the cell again
resumes from it, and running it after it finished reads the results back.
"""

# %%
import os
import sys

import matplotlib

if "ipykernel" not in sys.modules:
  matplotlib.use("Agg")  # a script writes the figure to a file; a notebook shows it
import matplotlib.pyplot as plt

import lstm_init

config = lstm_init.config(None, **{"num_seeds": 8, "train.steps": 200, "report": False})
result = lstm_init.sweep(config, sweep=["model.init.preset=keras,pytorch"],
                         workdir=os.environ.get("LSTM_INIT_WORKDIR"))

# %%
runs = result.runs          # one row per run: condition, seeds, final scores, divergence
print(runs.groupby("condition", observed=True)["final_eval_loss"].describe())

# %%
curves = result.curves      # long: condition, seed, step, split, value
val = curves[curves["split"] == "val"]
median = val.groupby(["step", "condition"], observed=True)["value"].median().unstack()
low = val.groupby(["step", "condition"], observed=True)["value"].quantile(0.25).unstack()
high = val.groupby(["step", "condition"], observed=True)["value"].quantile(0.75).unstack()
fig, ax = plt.subplots(figsize=(6, 3.5))
for name in median.columns:
  ax.plot(median.index, median[name], label=name)
  ax.fill_between(median.index, low[name], high[name], alpha=0.25)
ax.set_yscale("log")
ax.set_xlabel("training step")
ax.set_ylabel("validation loss (median, 25-75%)")
ax.legend()
fig.savefig(os.path.join(result.workdir, "notebook_curves.png"), dpi=100)

# %%
summary = result.summary    # one row per condition, summary.json's names
print(summary[["condition", "n", "n_diverged", "iqm", "iqm_ci95_low", "iqm_ci95_high"]])
