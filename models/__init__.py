"""cropwatch models: how a network is built, trained, evaluated and exported (training needs the `train` extra)."""
