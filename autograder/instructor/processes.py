"""Looking at processes that may end, or turn zombie, while they are being looked at."""
import psutil


def tree(pid):
    """The process `pid` and every process it started, directly or not; none if it has ended."""
    try:
        process = psutil.Process(pid)
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def descendants(pid):
    """Every process started, directly or not, by `pid`."""
    return tree(pid)[1:]


def rss(process):
    """Resident memory of a process; 0 for one that ended or turned zombie while being read."""
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def threads(process):
    """Threads of a process (each takes a process id); 0 for one that ended."""
    try:
        return process.num_threads()
    except psutil.Error:
        return 0
