"""Is the state reset between windows, and what does carrying it change?

  python -m experiments.seed_sweep --config=configs/stateful.py
  python -m experiments.seed_sweep --config=configs/stateful.py --config.task.delay=10 \
      --config.num_seeds=32

Delayed recall y_t = x_(t-d) over long streams cut into windows of 20 steps;
the delay d = 5 crosses window boundaries, so the first 5 targets of each
window were shown in the previous window. Stateless training starts every
window from an initial state (zeros, noisy, learned, learned + noise); the
`carried` strategy is stateful training: the final state of window k, without
gradient, starts window k + 1 (Keras `stateful=True`; truncated BPTT with
truncation = window length), reset to zeros at each new sequence.
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "stateful"
  config.num_seeds = 16
  config.sweep = ("model.initial_state.strategy=zeros,noisy,learned,learned_noisy,carried",)
  config.task.name = "delayed_recall"
  config.task.delay = 5
  config.task.window = 20
  config.task.windows_per_sequence = 10
  config.task.eval_rows = 32
  config.model.hidden_size = 32
  config.model.initial_state.noise_std = 0.3
  config.train.steps = 1000
  config.train.learning_rate = 5e-3
  return config
