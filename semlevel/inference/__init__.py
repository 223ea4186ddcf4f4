"""semlevel.inference."""
