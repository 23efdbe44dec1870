"""Reinforcement learning with the project's LSTM: the A2C loss, written once.

  advantages, returns = gae(rewards, values, dones, bootstrap_value, gamma, lam)
  loss, metrics = a2c_loss(logits, values, actions, advantages, returns,
                           value_coef=0.5, entropy_coef=0.01)

See `lstm_init.training.rl.loss`.
"""

from lstm_init.training.rl.loss import (a2c_loss, a2c_terms, categorical_log_prob_entropy, gae,
                               gaussian_a2c_loss, gaussian_log_prob_entropy)

__all__ = ["a2c_loss", "a2c_terms", "categorical_log_prob_entropy", "gae",
           "gaussian_a2c_loss", "gaussian_log_prob_entropy"]
