"""How a plan runs: compiled programs, seed groups on devices, memory, the host loop."""
