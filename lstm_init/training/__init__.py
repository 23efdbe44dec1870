"""What one run is: the experiment interface, the shared update step, the
built-in supervised experiment and its tasks, the optimizer, recurrent A2C.

Imports only `lstm_init.core` (and `lstm_init.errors`).
"""
