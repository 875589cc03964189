"""What runs on the chip: the offline datasets, the task suite of the adaptation, the model
zoo (with each architecture's classifier head) and plain float training."""
