from autograder.instructor.cli import main

main()
