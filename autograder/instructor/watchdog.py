"""Stopping a submission's processes at their limits, and cleaning up after them."""
import os
import signal
import subprocess
import time

import psutil

from autograder.instructor import processes


def watch(proc, scratch, rules):
    """Wait for nbgrader; stop it and its kernel when a limit of the rules is passed: time (the budget
    and its grace), the memory of all its processes together, their number, or the disk the submission
    writes. Return the reasons."""
    seconds = rules.budget_s + rules.grace_s
    deadline = time.monotonic() + seconds
    while proc.poll() is None:
        tree = processes.descendants(proc.pid)
        if time.monotonic() > deadline:
            reason = f"killed after {seconds} s"
        elif sum(processes.threads(p) for p in tree) > rules.processes:
            reason = f"stopped: more than {rules.processes} processes and threads"
        elif disk_usage(scratch) > rules.disk_mb * 2**20:
            reason = f"stopped: more than {rules.disk_mb} MiB written"
        elif sum(processes.rss(p) for p in tree) > rules.memory_bytes:
            reason = "stopped: the memory cap was reached"
        else:
            time.sleep(0.25)
            continue
        kill_tree(proc)
        return [reason]
    kill_tree(proc)                              # a kernel left behind by nbgrader
    return []


def kill_tree(proc):
    for process in processes.descendants(proc.pid):
        try:
            process.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def disk_usage(folder):
    """Bytes of disk that everything under folder takes (blocks, not sizes: a preallocated file counts, and
    every directory does), walked without recursion, however deep a kernel made the tree."""
    total, folders = 0, [str(folder)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
            except OSError:
                pass
    return total


def remove(folder):
    """Remove a scratch folder whatever a kernel left in it (rm does not recurse on the stack, as
    shutil.rmtree does, which a tree thousands of folders deep overflows)."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=False)

