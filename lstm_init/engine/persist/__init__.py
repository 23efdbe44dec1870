"""What a sweep leaves in its workdir: records, results, checkpoints, metrics."""
