"""cropwatch inference: how a photo or a raster becomes scores, maps and zones (no torch, no web, no database)."""
