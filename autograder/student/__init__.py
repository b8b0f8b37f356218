"""The student wing: what students install and their notebooks import (data, the course's numbers, visible
checks, observe/claim, submit). It holds no graded answer and imports nothing of autograder.instructor."""
