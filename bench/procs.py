"""CPU and memory of a whole process tree (Python, Playwright's driver, every Chromium process).

CPU: utime + stime + cutime + cstime of every process in the tree, from /proc/<pid>/stat.
A process that exited and was reaped has its time in its parent's cutime/cstime, so two
readings bracket everything the tree did in between, renderers that came and went included;
`become_subreaper` keeps orphans (a Chromium child whose parent exited first) in the tree.

Memory: the peak of a cgroup of its own (`MemoryCgroup`), where one may be created; else
one reading of the tree's proportional set size (PSS, /proc/<pid>/smaps_rollup), which
counts pages shared between Chromium's processes once. Summing RSS over-counts them 3-5x.
Reading smaps is slow on Chromium (seconds per pass on a loaded machine): a benchmark takes
a handful of readings, never one in a loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from collections import defaultdict
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to us rather than to init (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _by_parent() -> dict[int, list[int]]:
    """Every process's children, from one read of /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children[int(fields[1])].append(int(entry))
    return children


def children(pid: int) -> list[int]:
    """The direct children of `pid`."""
    return _by_parent().get(pid, [])


def tree(root: int) -> list[int]:
    """`root` and every descendant, zombies included (their CPU is still readable)."""
    by_parent = _by_parent()
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(by_parent.get(pid, ()))
    return found


def names(pids: list[int]) -> list[str]:
    """Each live process's command name, a zombie's as `name <defunct>`."""
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        state = text[text.rindex(")") + 2 :].split()[0]
        found.append(f"{name} <defunct>" if state == "Z" else name)
    return found


def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU seconds used so far by the tree under `root` (default: this process)."""
    total = 0
    for pid in tree(root or os.getpid()):
        fields = _stat(pid)
        if fields is not None:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return total / CLOCK_TICKS


@dataclass(frozen=True)
class MemoryReading:
    pss_bytes: int
    rss_bytes: int
    processes: int
    cpu_cost_s: float  # what the reading itself cost (subtract it from the tree's CPU)


def rollup(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in bytes; zeros for one that exited or is a zombie."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # the process exited meanwhile, or is a zombie
    return pss, rss


def tree_memory(root: int | None = None) -> MemoryReading:
    """One reading of the tree's PSS and RSS (seconds on Chromium: call it rarely)."""
    started = time.thread_time()
    pids = tree(root or os.getpid())
    readings = [rollup(pid) for pid in pids]
    return MemoryReading(
        pss_bytes=sum(p for p, _ in readings),
        rss_bytes=sum(r for _, r in readings),
        processes=sum(1 for p, _ in readings if p),
        cpu_cost_s=time.thread_time() - started,
    )


class MemoryCgroup:
    """A memory cgroup of its own for this process and every child it starts afterwards.

    Its peak is the kernel's own accounting of the whole tree (Chromium included, pages
    shared between Chromium's processes counted once, page cache and shared memory
    included), read once at the end: cgroup v2 `memory.peak`, v1 `memory.max_usage_in_bytes`.
    Needs the right to create a cgroup (root, or a delegated subtree); `enter()` returns
    None where that is refused, and the bench falls back to PSS readings.
    """

    def __init__(self, path: str, peak_file: str) -> None:
        self.path = path
        self._peak = os.path.join(path, peak_file)

    @classmethod
    def enter(cls) -> MemoryCgroup | None:
        """A new group holding this process, or None where that is refused."""
        group = cls.create()
        if group is not None:
            try:
                group.join()
            except OSError:
                with contextlib.suppress(OSError):
                    os.rmdir(group.path)
                return None
        return group

    @classmethod
    def create(cls) -> MemoryCgroup | None:
        """A new, empty group (a child joins it with `join` as it starts), or None."""
        for found in (cls._v1(), cls._v2()):
            if found is None:
                continue
            path, peak_file = found
            try:
                os.mkdir(path)
            except OSError:
                continue
            return cls(path, peak_file)
        return None

    def pids(self) -> list[str]:
        """The processes in the group now (re-parented ones too, unlike a tree walk)."""
        try:
            with open(os.path.join(self.path, "cgroup.procs"), encoding="ascii") as procs:
                return procs.read().split()
        except OSError:
            return []

    def join(self) -> None:
        """Move the calling process into the group (its later children are born in it)."""
        with open(os.path.join(self.path, "cgroup.procs"), "w", encoding="ascii") as procs:
            procs.write(str(os.getpid()))

    def usage_bytes(self) -> int | None:
        """What the group holds now, page cache included (v2 memory.current, v1 usage)."""
        v2 = self._peak.endswith("memory.peak")
        name = "memory.current" if v2 else "memory.usage_in_bytes"
        try:
            with open(os.path.join(self.path, name), encoding="ascii") as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def anon_bytes(self) -> int | None:
        """Anonymous memory and shared memory now: what the processes hold, no file cache."""
        try:
            with open(os.path.join(self.path, "memory.stat"), encoding="ascii") as handle:
                stat = dict(line.split() for line in handle if line.count(" ") == 1)
        except (OSError, ValueError):
            return None
        keys = ("anon", "shmem") if "anon" in stat else ("total_rss", "total_shmem")
        return sum(int(stat.get(key, 0)) for key in keys)

    @staticmethod
    def _v1() -> tuple[str, str] | None:
        for line in _own_cgroups():
            _, controllers, where = line.split(":", 2)
            if "memory" in controllers.split(","):
                base = f"/sys/fs/cgroup/memory{where.rstrip('/')}"
                return f"{base}/wd-bench-{os.getpid()}", "memory.max_usage_in_bytes"
        return None

    @staticmethod
    def _v2() -> tuple[str, str] | None:
        for line in _own_cgroups():
            if line.startswith("0::"):
                base = f"/sys/fs/cgroup{line[3:].rstrip('/')}"
                if os.path.exists(f"{base}/memory.peak"):
                    return f"{base}/wd-bench-{os.getpid()}", "memory.peak"
        return None

    def peak_bytes(self) -> int | None:
        try:
            with open(self._peak, encoding="ascii") as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def leave(self) -> None:
        """Back to the parent cgroup (children still in it are moved too), then remove it."""
        parent = os.path.dirname(self.path)
        try:
            with open(os.path.join(self.path, "cgroup.procs"), encoding="ascii") as procs:
                pids = procs.read().split()
            for pid in pids:
                with open(os.path.join(parent, "cgroup.procs"), "w", encoding="ascii") as out:
                    out.write(pid)
            os.rmdir(self.path)
        except OSError:
            pass  # the kernel removes nothing on its own: a leftover empty group is harmless


def _own_cgroups() -> list[str]:
    try:
        with open("/proc/self/cgroup", encoding="ascii") as handle:
            return handle.read().splitlines()
    except OSError:
        return []
