"""Server-side costs read from /proc: CPU time and memory of a process tree.

A server is a tree of processes (Postfix master and its daemons, Dovecot
master with its login/imap/lmtp children, or correio alone). Costs are
summed over the whole tree so that multi-process and single-process servers
are measured the same way.

CPU: utime+stime of every live process in the tree plus cutime+cstime of
each (the time of children that already exited and were reaped). A child
that exits between two samples moves its time from "live" to its parent's
"cutime", so the difference of two samples is the CPU spent in between.

Memory: the sum of Pss from /proc/PID/smaps_rollup (proportional set size:
shared pages are split among the processes that map them, so summing PSS
over many processes of the same binary does not count libraries N times).
"""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split
    # after the last ')'.
    rest = data[data.rfind(")") + 2:].split()
    # rest[0] is field 3 (state); fields 4 (ppid), 14..17 (utime, stime,
    # cutime, cstime) per proc(5).
    return {
        "ppid": int(rest[1]),
        "utime": int(rest[11]),
        "stime": int(rest[12]),
        "cutime": int(rest[13]),
        "cstime": int(rest[14]),
    }


def tree_pids(root_pids):
    """root_pids and all their descendants that are alive now."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _read_stat(int(name))
        if st is None:
            continue
        children.setdefault(st["ppid"], []).append(int(name))
    out, todo = [], list(root_pids)
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen or not os.path.exists(f"/proc/{pid}"):
            continue
        seen.add(pid)
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(root_pids):
    """CPU seconds used so far by the trees under root_pids (see module doc)."""
    ticks = 0
    for pid in tree_pids(root_pids):
        st = _read_stat(pid)
        if st is None:
            continue
        ticks += st["utime"] + st["stime"] + st["cutime"] + st["cstime"]
    return ticks / CLK_TCK


def _sum_kb_field(root_pids, proc_file, field):
    """The sum (bytes) of one `field: N kB` line of /proc/PID/proc_file over
    the trees under root_pids."""
    total = 0
    for pid in tree_pids(root_pids):
        try:
            with open(f"/proc/{pid}/{proc_file}") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1]) * 1024
                        break
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def pss_bytes(root_pids):
    """Summed PSS (bytes) of the trees under root_pids."""
    return _sum_kb_field(root_pids, "smaps_rollup", "Pss")


def rss_bytes(root_pids):
    return _sum_kb_field(root_pids, "status", "VmRSS")


def reset_peak(root_pids):
    """Resets each process's peak RSS (VmHWM) to its RSS now (proc(5),
    clear_refs value 5), so that peak_rss_bytes later gives the peak since
    this call."""
    for pid in tree_pids(root_pids):
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def peak_rss_bytes(root_pids):
    """Summed peak RSS (VmHWM) of the trees under root_pids: since
    reset_peak for the processes that existed then, since their start for
    the others."""
    return _sum_kb_field(root_pids, "status", "VmHWM")


def process_count(root_pids):
    return len(tree_pids(root_pids))
