"""One module per job: what to run, in which order, with which model."""
