"""The bottom layer: the recurrent cells as pure functions and what initializes them.

`lstm` (the LSTM over layers, `lax.scan`), `fused` (its custom-VJP layer), `rnn`
(plain tanh/ReLU cells), `initializers` (named initializer functions),
`presets` (each framework's default), `initial_states` (zeros, learned, noisy,
carried), `keys` (a run's random streams), `perturb` (one-ulp flips), `stats`
(bootstrap intervals, IQM, variance components), `interop` and `flax_module`.
Nothing here imports from the layers above.
"""
