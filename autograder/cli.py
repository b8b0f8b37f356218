"""The instructor's command line: `python -m autograder <command>` (or `mnist-course <command>`)."""
import argparse
from pathlib import Path

from autograder import course, data, notebooks


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mnist-course", description=__doc__)
    parser.add_argument("--course", type=Path, default=Path.cwd(),
                        help="nbgrader course directory (default: the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="prepare and verify MNIST in the course data directory")
    rel = sub.add_parser("release", help="generate release/ from source/ with nbgrader")
    rel.add_argument("assignments", nargs="*", help="default: every assignment in source/")
    sub.add_parser("demo", help="release everything, autograde the sample submissions, print grades")
    rec = sub.add_parser("record", help="execute source notebooks and keep the outputs nbval checks")
    rec.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)

    if args.command == "data":
        print(data.mnist_root())
    elif args.command == "release":
        for name in args.assignments or course.assignments(args.course):
            course.release(args.course, name)
            print(f"released {name}")
    elif args.command == "demo":
        data.mnist_root()
        course.run_demo(args.course)
    elif args.command == "record":
        for path in args.notebooks:
            notebooks.record(path)
            print(f"recorded {path}")
