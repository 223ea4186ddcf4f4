"""semlevel.model."""
