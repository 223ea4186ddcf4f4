"""semlevel.data."""
