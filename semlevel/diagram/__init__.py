"""semlevel.diagram."""
