"""cropwatch datasets: what the data is and how it is split."""
