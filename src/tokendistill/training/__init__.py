"""Training stage: teacher fine-tuning, the multi-task student, baselines and evaluation."""
