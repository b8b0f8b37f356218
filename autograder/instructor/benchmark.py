"""How fast and how accurate the course is on this machine: every solution and lecture notebook
executed and measured, the CNN recipe against the seed recipe, and the grader's evaluation time.

`python -m autograder benchmark` writes benchmark.md and benchmark.json; `--class 300` instead grades a
generated class of 300 (and a solved 03) and writes reports/benchmark-class.md and .json.
"""
import collections
import json
import os
import platform
import resource
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import psutil
import torch
import torchvision
from nbclient import NotebookClient
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from autograder.instructor import models, processes
from autograder.instructor.reference import batches
from autograder.student import evaluate, spec
from autograder.student.data import mnist_root

# Run after a notebook: its device and the final accuracy of every training history in it (a
# variable named *history whose "val_acc", or "test_acc" where a notebook has no validation split,
# lists one accuracy per epoch).
REPORT_CELL = """
import json as _json
print("BENCHMARK " + _json.dumps({
    "device": str(globals().get("device", "cpu")),
    "accuracies": {k: round((v.get("val_acc") or v["test_acc"])[-1], 4) for k, v in dict(globals()).items()
                   if k.endswith("history") and isinstance(v, dict) and (v.get("val_acc") or v.get("test_acc"))},
}))
"""


class PeakMemory(threading.Thread):
    """Samples the resident memory of a process and its children until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, sum(processes.rss(p) for p in processes.tree(self.pid)))
            time.sleep(0.5)


def run_notebook(path):
    """Execute a notebook in its folder; return wall time, peak kernel memory, device and accuracies."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(REPORT_CELL))
    client = NotebookClient(nb, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        sampler = PeakMemory(client.km.provisioner.process.pid)
        sampler.start()
        sections, section = {}, "(before the first heading)"
        for index, cell in enumerate(nb.cells):
            headings = [line[2:] for line in cell.source.splitlines() if line.startswith("# ")]
            if cell.cell_type == "markdown" and headings:
                section = headings[-1]
            cell_start = time.perf_counter()
            client.execute_cell(cell, index)
            sections[section] = sections.get(section, 0) + time.perf_counter() - cell_start
        sampler.running = False
    seconds = time.perf_counter() - start
    report = next(o["text"] for o in nb.cells[-1].outputs if "BENCHMARK" in o.get("text", ""))
    return {"notebook": str(path), "seconds": round(seconds, 1), "peak_memory_mb": round(sampler.peak / 2**20),
            "sections": {name: round(t, 1) for name, t in sections.items()}, **json.loads(report.split("BENCHMARK ", 1)[1])}


def synchronize(device):
    """Wait for the GPU's queued work, so that the clock read next includes it (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_to_accuracy(loader, num_epochs, make_optimizer, target=spec.TARGET_ACCURACY, device="cpu", smoothing=0.0,
                     memory_format=torch.contiguous_format):
    """Train the course CNN; return seconds of training until the test accuracy first reached target."""
    torch.manual_seed(0)
    model = models.course_cnn().to(device, memory_format=memory_format)
    optimizer, scheduler = make_optimizer(model, len(loader), num_epochs)
    loss_fn, trained, curve, reached = nn.CrossEntropyLoss(label_smoothing=smoothing), 0.0, [], None
    for _ in range(num_epochs):
        model.train()
        start = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler:
                scheduler.step()
        synchronize(device)
        trained += time.perf_counter() - start
        curve.append(round(evaluate.accuracy(model, device), 4))
        if reached is None and curve[-1] >= target:
            reached = round(trained, 1)
    return {"seconds_to_99": reached, "training_seconds": round(trained, 1), "test_acc_per_epoch": curve}


def recipes(device="cpu"):
    """The course recipe, with its convolution weights stored channels-last and without, against the one
    it replaced (Adam one-cycle 3e-3, batch 128, 3 epochs) and the seed's (Adam 1e-3, batch 64, 5 epochs,
    per-image ToTensor loader); the last row is the reference."""
    per_image = torchvision.datasets.MNIST(mnist_root(), train=True, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((evaluate.MEAN,), (evaluate.STD,))]))
    raw = torchvision.datasets.MNIST(mnist_root(), train=True)
    tensors = TensorDataset(((raw.data.float() / 255 - evaluate.MEAN) / evaluate.STD).unsqueeze(1), raw.targets)
    course = spec.RECIPE

    def one_cycle(max_lr, pct_start=0.3):
        def make(model, steps, epochs):
            opt = torch.optim.Adam(model.parameters(), lr=max_lr)
            return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr, epochs=epochs, steps_per_epoch=steps,
                                                            pct_start=pct_start)
        return make

    def seed(model, steps, epochs):
        return torch.optim.Adam(model.parameters(), lr=1e-3), None

    def course_recipe(memory_format):
        return time_to_accuracy(batches(tensors, course["batch_size"], shuffle=True), course["epochs"],
                                one_cycle(course["max_lr"], course["pct_start"]), device=device,
                                smoothing=course["label_smoothing"], memory_format=memory_format)

    name = (f"course: Adam + one-cycle {course['max_lr']:g} ({course['pct_start']:g} warm-up), label smoothing "
            f"{course['label_smoothing']:g}, batch {course['batch_size']}, {course['epochs']} epoch, batches indexed at once")
    return {
        f"{name}, weights channels-last (03 to 06, the lecture)": course_recipe(torch.channels_last),
        f"{name}, weights in the default layout": course_recipe(torch.contiguous_format),
        "seed: Adam 1e-3, batch 64, 5 epochs, per-image ToTensor DataLoader":
            time_to_accuracy(DataLoader(per_image, batch_size=64, shuffle=True), 5, seed, device=device),
        "before: Adam + one-cycle 3e-3, batch 128, 3 epochs, DataLoader over tensors":
            time_to_accuracy(DataLoader(tensors, batch_size=128, shuffle=True), 3, one_cycle(3e-3), device=device),
    }


def grader_seconds(device="cpu"):
    """Seconds for the grader's own accuracy evaluation of the course CNN on 10,000 digits."""
    model = models.course_cnn().to(device)
    evaluate.accuracy(model, device)                      # data loaded and cached once
    synchronize(device)
    start = time.perf_counter()
    evaluate.accuracy(model, device)            # returns a Python float: the GPU has finished
    return round(time.perf_counter() - start, 2)


def run(course_dir, out_dir=None):
    course_dir = Path(course_dir)
    out_dir = Path(out_dir or course_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    paths = sorted((course_dir / "source").glob("*/*.ipynb")) + sorted((course_dir / "notebooks").glob("*.ipynb"))
    result = {"machine": f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
                         f"{'GPU ' + torch.cuda.get_device_name() if device == 'cuda' else 'no GPU'}, torch {torch.__version__}",
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "notebooks": [], "grader_eval_seconds": grader_seconds(device)}
    for path in paths:
        print(f"running {path.relative_to(course_dir)} ...", flush=True)
        result["notebooks"].append(run_notebook(path))
    result["total_seconds"] = round(sum(n["seconds"] for n in result["notebooks"]), 1)
    print("training the recipes ...", flush=True)
    result["recipes"] = recipes(device)
    (out_dir / "benchmark.json").write_text(json.dumps(result, indent=1))
    (out_dir / "benchmark.md").write_text(markdown(result, course_dir))
    print(markdown(result, course_dir))
    return result


def markdown(result, course_dir):
    lines = [f"Machine: {result['machine']}; measured {result.get('date', 'at an unknown date')}", "",
             "| notebook | wall time (s) | peak memory (MB) | device | final accuracies (validation, else test) |", "|---|---|---|---|---|"]
    for n in result["notebooks"]:
        accs = ", ".join(f"{k} {100 * v:.2f} %" for k, v in n["accuracies"].items()) or "-"
        lines.append(f"| {Path(n['notebook']).relative_to(course_dir)} | {n['seconds']} | {n['peak_memory_mb']} "
                     f"| {n['device']} | {accs} |")
    lines.append(f"| **all notebooks** | **{result['total_seconds']}** | | | |")
    for n in result["notebooks"]:
        if len(n.get("sections", {})) > 2:      # a lecture: what each part costs, for the timing plan
            lines += ["", f"Seconds of computation per section of {Path(n['notebook']).relative_to(course_dir)}: "
                      + "; ".join(f"{name} {t:g}" for name, t in n["sections"].items()) + "."]
    lines += ["",
              "| CNN recipe | seconds of training to 99.0 % | against the last row | test accuracy per epoch |",
              "|---|---|---|---|"]
    reference = list(result["recipes"].values())[-1]["seconds_to_99"]
    for name, r in result["recipes"].items():
        reached = r["seconds_to_99"] if r["seconds_to_99"] is not None else f"not reached in {r['training_seconds']}"
        ratio = f"{r['seconds_to_99'] / reference:.2f}x" if r["seconds_to_99"] and reference else "-"
        lines.append(f"| {name} | {reached} | {ratio} | {', '.join(f'{100 * a:.2f}' for a in r['test_acc_per_epoch'])} |")
    lines += ["", f"The grader's evaluation of a model on the 10,000 test digits: {result['grader_eval_seconds']} s."]
    return "\n".join(lines) + "\n"


# A class of generated submissions (`python -m autograder benchmark --class 300`): a small assignment made
# for it, graded with the course's grader, to measure throughput, the grader's overhead, memory and disk.
SMALL = "warmup"
SMALL_CELLS = [   # (grade id, source, points: None for an answer cell)
    ("square", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION", None),
    ("test_square", '"""square squares."""\nfrom autograder.student.observe import observe\nassert square(3) == 9\n'
                    '### BEGIN HIDDEN TESTS\nobserve("square of -2", square(-2))\n### END HIDDEN TESTS', 2),
    ("mean", "def mean(values):\n    ### BEGIN SOLUTION\n    return sum(values) / len(values)\n    ### END SOLUTION",
     None),
    ("test_mean", '"""mean averages."""\nfrom autograder.student.observe import observe\nassert mean([1, 2, 3]) == 2\n'
                  '### BEGIN HIDDEN TESTS\nobserve("mean of four", mean([1, 2, 3, 4]))\n### END HIDDEN TESTS', 3),
]
# What students hand in, one of each per 25 submissions: {kind: (answers by grade id, or a notebook-wide change)}
KINDS = {
    **{f"solution {i}": {"square": s, "mean": m} for i, (s, m) in enumerate(
        [("def square(x):\n    return x * x", "def mean(values):\n    return sum(values) / len(values)"),
         ("def square(x):\n    return x ** 2", "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n"
                                                 "    return total / len(xs)"),
         ("def square(n):\n    return pow(n, 2)", "import statistics\n\ndef mean(values):\n"
                                                  "    return statistics.fmean(values)")] * 5)},
    **{f"partial {i}": {"square": "def square(x):\n    return x * x", "mean": m} for i, m in enumerate(
        ["def mean(values):\n    return sum(values)", "def mean(values):\n    return max(values)",
         "def mean(values):\n    return sum(values) // len(values)", "def mean(values):\n    return values[0]"])},
    "syntax error": {"square": "def square(x)\n    return x * x"},
    "infinite loop": {"mean": "while True:\n    pass"},
    "raises": {"mean": "def mean(values):\n    return sum(values) / len(values)\nraise ValueError('not done')"},
    "kernel crash": {"mean": "import os\nos.kill(os.getpid(), 9)"},
    "deleted test": {"square": "def square(x):\n    return x + x", "test_square": None},
    "slow": {"square": "import time\ntime.sleep(5)\n\ndef square(x):\n    return x * x"},
    "not a notebook": None,
}


def small_assignment(course_dir):
    """The small assignment's instructor notebook in course_dir/source/warmup/."""
    cells = []
    for grade_id, source, points in SMALL_CELLS:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": grade_id, "solution": points is None,
                                     "grade": points is not None, "locked": points is not None,
                                     **({"points": points} if points else {})}
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = Path(course_dir) / "source" / SMALL
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{SMALL}.ipynb")


def submission(released, kind):
    """The bytes of a submission of the kind: the released notebook with the first solution's answers,
    then the kind's."""
    if KINDS[kind] is None:
        return b"{this is not a notebook"
    answers = KINDS["solution 0"] | KINDS[kind]
    nb = nbformat.read(released, as_version=4)
    for cell in list(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers and answers[grade_id] is None:
            nb.cells.remove(cell)
        elif grade_id in answers:
            cell.source = answers[grade_id]
    return nbformat.writes(nb).encode()


def generated_class(course_dir, size):
    """Submit `size` generated submissions of the small assignment (KINDS in turn); return {student: kind}."""
    released = Path(course_dir) / "release" / SMALL / f"{SMALL}.ipynb"
    kinds = list(KINDS)
    students = {f"student{i:04d}": kinds[i % len(kinds)] for i in range(size)}
    for student, kind in students.items():
        folder = Path(course_dir) / "submitted" / student / SMALL
        folder.mkdir(parents=True)
        (folder / f"{SMALL}.ipynb").write_bytes(submission(released, kind))
    return students


def solved_03(course_dir, students):
    """The instructor's 03 with its solutions as students write them, submitted by `students`."""
    from autograder.instructor import course

    nb = nbformat.read(Path(course_dir) / "source" / "03_mnist_cnn" / "mnist_cnn.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = course.strip_markers(cell.source)
    for student in students:
        folder = Path(course_dir) / "submitted" / student / "03_mnist_cnn"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "mnist_cnn.ipynb")


def timed_grading(course_dir, assignment, workers, budget_s):
    """Grade the assignment; return its wall time, throughput, overhead, peak memory and disk."""
    from autograder.instructor import grading, watchdog

    sampler = PeakMemory(os.getpid())
    sampler.start()
    started = time.monotonic()
    rows = grading.grade(course_dir, assignment, workers=workers, budget_s=budget_s, memory_gb=2)
    wall = time.monotonic() - started
    sampler.running = False
    state = grading.load_state(course_dir)[assignment]
    timed = [e.phases for e in state.values() if e.phases]
    overhead = [sum(p.values()) - p.get("the student's cells", 0) for p in timed]
    cores = min(workers, os.cpu_count() or 1)
    return {"assignment": assignment, "submissions": len(rows), "workers": workers, "wall_seconds": round(wall, 1),
            "per_hour_per_core": round(len(rows) * 3600 / wall / cores, 1),
            "overhead_mean_seconds": round(sum(overhead) / len(overhead), 2), "overhead_max_seconds": round(max(overhead), 2),
            "overhead_over_5_seconds": sum(o > 5 for o in overhead),
            "test_cells_mean_seconds": round(sum(p.get("test cells", 0) for p in timed) / len(timed), 2),
            "timed": len(overhead), "peak_tree_rss_mb": round(sampler.peak / 2**20),
            "peak_grader_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "course_disk_mb": round(watchdog.disk_usage(course_dir) / 2**20, 1),
            "mean_points": round(sum(r["score"] for r in rows) / len(rows), 2)}


def run_class(course_dir, size, workers=None, with_03=1, out_dir=None):
    """Grade a generated class of `size` (and `with_03` solved 03s) in a scratch copy of the course; write
    reports/benchmark-class.md and .json in the course; return the figures."""
    from autograder.instructor import course, executors, notebooks, rules

    course_dir = Path(course_dir).resolve()
    workers = workers or executors.default_workers(rules.load(course_dir))
    with tempfile.TemporaryDirectory(prefix="class-") as scratch:
        scratch = Path(scratch)
        shutil.copy(course_dir / "nbgrader_config.py", scratch)
        small_assignment(scratch)
        course.release(scratch, SMALL)
        notebooks.expect(scratch / "source" / SMALL)
        kinds = generated_class(scratch, size)
        results = [timed_grading(scratch, SMALL, workers, budget_s=15)]
        if with_03:
            shutil.copytree(course_dir / "source" / "03_mnist_cnn", scratch / "source" / "03_mnist_cnn")
            course.release(scratch, "03_mnist_cnn")
            solved_03(scratch, [f"cnn{i}" for i in range(with_03)])
            results.append(timed_grading(scratch, "03_mnist_cnn", workers, budget_s=900))
    figures = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "kinds": collections.Counter(k.rstrip("0123456789 ") for k in kinds.values()),
               "results": results}
    out = Path(out_dir or course_dir / "reports")
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark-class.json").write_text(json.dumps(figures, indent=1))
    (out / "benchmark-class.md").write_text(class_markdown(figures))
    print(class_markdown(figures))
    return figures


def machine():
    return (f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.system()} {platform.release()}")


def class_markdown(figures):
    lines = [f"# Grading a class: {figures['date']}", "", f"Machine: {figures['machine']}", "",
             "| assignment | submissions | workers | wall time (s) | submissions per hour per core | grader overhead per "
             "submission, mean / max (s) | peak memory, grader / sum over its processes (MB) | course on disk (MB) | mean points |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in figures["results"]:
        lines.append(f"| {r['assignment']} | {r['submissions']} | {r['workers']} | {r['wall_seconds']} | "
                     f"{r['per_hour_per_core']} | {r['overhead_mean_seconds']} / {r['overhead_max_seconds']} "
                     f"({r['overhead_over_5_seconds']} of {r['timed']} over 5 s; test cells {r['test_cells_mean_seconds']}) | "
                     f"{r['peak_grader_rss_mb']} / {r['peak_tree_rss_mb']} | {r['course_disk_mb']} | {r['mean_points']} |")
    lines += ["", "The grader's overhead is everything but the student's cells (grading_state.json's phases: a fresh "
              "process, the grader's data, nbgrader and the kernel, the test cells, the verdicts, recording), over "
              "the submissions graded to the end; the test cells' share (the assignment's own checks) is given "
              "apart. The memory of all processes sums each one's resident memory (pages the grading processes "
              "share with their server count once per process).", "",
              "Submissions of the small assignment, by kind: "
              + ", ".join(f"{kind} {n}" for kind, n in sorted(figures["kinds"].items())) + "."]
    return "\n".join(lines) + "\n"
