"""Jobs (issue 18): long work the worker runs in batches, with progress, cancel, resume and a report."""
