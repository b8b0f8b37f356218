"""The instructor's command line: `python -m autograder <command>` (or `mnist-course <command>`)."""
import argparse
from pathlib import Path

import nbformat

from autograder.instructor import (
    course,
    demo,
    executors,
    export,
    grading,
    handout,
    notebooks,
    rules,
    split,
)
from autograder.student import data


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mnist-course", description=__doc__)
    parser.add_argument("--course", type=Path, default=Path.cwd(),
                        help="nbgrader course directory (default: the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="prepare and verify MNIST in the course data directory")
    rel = sub.add_parser("release", help="generate release/ from source/ with nbgrader, and the students' copy "
                                         "of each lecture (notebooks/students/: blanks for the live "
                                         "coding, no outputs)")
    rel.add_argument("assignments", nargs="*", help="default: every assignment in source/")
    exp_ = sub.add_parser("expect", help="run the solutions once; write each source/<assignment>/expected.json")
    exp_.add_argument("assignments", nargs="*", help="default: every assignment whose expected.json is stale")
    sub.add_parser("demo", help="release everything, autograde the sample submissions, print grades")
    grd = sub.add_parser("grade", help="grade every new submission of the assignments, in parallel")
    grd.add_argument("assignments", nargs="+")
    grd.add_argument("--workers", type=int, help="submissions at a time (default: GradingRules.workers)")
    grd.add_argument("--regrade", action="store_true", help="grade unchanged submissions again")
    grd.add_argument("--budget", type=int, help="wall-clock seconds per submission (default: GradingRules.budget_s)")
    grd.add_argument("--memory-gb", type=float, help="memory cap per submission (default: GradingRules.memory_gb)")
    grd.add_argument("--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786")
    sub.add_parser("rules", help="every grading rule and limit, with this course's values (c.GradingRules.<name> "
                                 "in nbgrader_config.py sets them)")
    fbk = sub.add_parser("feedback", help="HTML feedback per student, hidden tests hidden")
    fbk.add_argument("assignment")
    exp = sub.add_parser("export", help="grades CSV: a column per graded test cell, or for Canvas or Moodle")
    exp.add_argument("assignment", help="with --format canvas or moodle, `all` for every assignment")
    exp.add_argument("--format", choices=["cells", "canvas", "moodle"], default="cells",
                     help="cells (default): a column per test cell; canvas, moodle: the LMS's grade import")
    exp.add_argument("--output", type=Path, help="default: grades-, canvas- or moodle-<assignment>.csv")
    rep = sub.add_parser("report", help="a graded assignment's class report: scores, test cells, failure "
                                        "reasons, time, ungraded students, similar submissions (HTML)")
    rep.add_argument("assignment")
    rep.add_argument("--output", type=Path, help="default: reports/<assignment>/ in the course")
    ben = sub.add_parser("benchmark", help="execute and measure every notebook; CNN recipe vs the seed's")
    ben.add_argument("--class", dest="class_size", type=int, metavar="N",
                     help="instead: grade a generated class of N submissions of a small assignment and solved 03s")
    ben.add_argument("--workers", type=int, help="with --class: submissions at a time (default: one per core)")
    ben.add_argument("--cnn", type=int, default=1, help="with --class: solved 03s to grade (default 1)")
    lab = sub.add_parser("lab", help="open the course in JupyterLab (the instructor's view, or --student ID's); "
                                     "other options go to jupyter lab, e.g. --port 8890")
    lab.add_argument("--student", help="a student's view: their folder, Assignment List and Validate only")
    stu = sub.add_parser("student-package", help="write the student wing of the package, to hand to students")
    stu.add_argument("destination", type=Path)
    hub = sub.add_parser("hub", help="the course on JupyterHub with real accounts (as root): setup, start, stop")
    hub.add_argument("hub", choices=["setup", "start", "stop"])
    hub.add_argument("--instructor", default="instr", help="the instructor's account (default: instr)")
    hub.add_argument("--students", nargs="*", default=[], help="the students' accounts")
    hub.add_argument("--tas", nargs="*", default=[], help="teaching assistants' accounts: Formgrader, submissions")
    hub.add_argument("--create-accounts", action="store_true", help="for a trial: make missing accounts")
    rec = sub.add_parser("record", help="execute notebooks and keep the outputs nbval checks (and expected.json)")
    rec.add_argument("notebooks", nargs="+", type=Path)
    args, jupyter_args = parser.parse_known_args(argv)
    if jupyter_args and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(jupyter_args)}")

    if args.command == "data":
        print(prepare_data())
    elif args.command == "release":
        for name in args.assignments or course.assignments(args.course):
            course.release(args.course, name)
            print(f"released {name}")
        for lecture, copy in notebooks.lectures(args.course).items():
            copy.parent.mkdir(exist_ok=True)
            nbformat.write(notebooks.blank_copy(lecture), copy)
            print(f"students' copy of {lecture.name} written to {copy}")
    elif args.command == "expect":
        for name in args.assignments or notebooks.stale(args.course):
            notebooks.expect(args.course / "source" / name)
            print(f"expected.json written for {name}")
    elif args.command == "demo":
        executors.fresh_processes()     # the grading server imports the grader while the data are checked
        prepare_data()
        demo.run(args.course)
    elif args.command == "grade":
        if not args.scheduler:
            executors.fresh_processes()
        prepare_data()
        grading.grade(args.course, args.assignments, args.regrade, args.scheduler, workers=args.workers,
                      budget_s=args.budget, memory_gb=args.memory_gb)
    elif args.command == "rules":
        print(rules.describe(args.course))
    elif args.command == "feedback":
        course.feedback(args.course, args.assignment)
        print(f"feedback written to {args.course / 'feedback'}")
    elif args.command == "export" and args.format == "cells":
        path = args.output or args.course / f"grades-{args.assignment}.csv"
        rows = grading.export(args.course, args.assignment, path)
        print(f"{len(rows)} students written to {path}")
    elif args.command == "export":
        path = args.output or args.course / f"{args.format}-{args.assignment}.csv"
        names = [] if args.assignment == "all" else [args.assignment]
        with course.gradebook(args.course) as gb:
            if not set(names) <= {a.name for a in gb.assignments}:
                exp.error(f"no assignment {args.assignment} in the gradebook")
            rows = export.LMS[args.format](gb, names)
        export.write_table(rows, path)
        print(f"{args.format} grades written to {path}")
    elif args.command == "report":
        from autograder.instructor import report

        with course.gradebook(args.course) as gb:
            if args.assignment not in {a.name for a in gb.assignments}:
                rep.error(f"no assignment {args.assignment} in the gradebook")
        print(f"class report written to {report.write(args.course, args.assignment, args.output)}")
    elif args.command == "benchmark":
        from autograder.instructor import benchmark

        prepare_data()
        if args.class_size:
            benchmark.run_class(args.course, args.class_size, args.workers, args.cnn)
        else:
            benchmark.run(args.course)
    elif args.command == "lab":
        from autograder.instructor import lab

        lab.run(args.course, args.student, jupyter_args)
    elif args.command == "student-package":
        print(f"the student package is in {handout.student_package(args.destination)}: pip install it")
    elif args.command == "hub":
        from autograder.instructor import hub

        hub.main(args)
    elif args.command == "record":
        for path in args.notebooks:
            notebooks.record(path)
            print(f"recorded {path}")


def prepare_data():
    """Verified MNIST, and the course's validation split checked against it (written where it differs)."""
    root = data.mnist_root()
    split.write(root)
    return root
