"""The MNIST CNN course's package, in two wings: autograder.student (what students receive) and
autograder.instructor (the grader and the commands)."""
