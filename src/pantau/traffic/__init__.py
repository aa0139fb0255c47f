"""Traffic for Pantau: a case simulator with ground truth, replay of real logs, and evaluation."""
