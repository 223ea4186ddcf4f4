"""Linear-algebra kernels of the engine (batched small blocks, blocked sparse systems)."""
