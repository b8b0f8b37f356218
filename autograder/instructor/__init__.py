"""The instructor's wing: the class grader, the sandbox, the verdicts, the course's own answers and the commands
(`python -m autograder`). Never handed to students, never bound into a grading kernel."""
