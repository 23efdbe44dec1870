"""Studies built on the rest: is the best seed a hyperparameter
(`best_seed`), signal propagation at initialization (`signal`,
`diagnostics`)."""
