"""The MNIST CNN course's toolkit: verified data, grading checks and the instructor's commands."""
