"""semlevel.engine."""
