"""CPU seconds per process over a run, to see which processes a phase's cores went to.

    python bench/cpu_by_process.py /tmp/cpu.tsv & SP=$!; bash scripts/demo.sh; kill $SP
    python bench/cpu_by_process.py --report /tmp/cpu.tsv 09:05:36 09:06:39   # a phase's window (wall clock)

Samples /proc/<pid>/stat every second: `<unix time> <pid> <cpu seconds so far> <name>` for each process that
used CPU since the last sample, where name is Ray's process title (`ray::ServeReplica:...`) or the command.
The report sums each name's CPU in the window, so a process that started or ended inside it still counts.
"""
import os
import sys
import time
from collections import defaultdict
from datetime import datetime

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[float, str]]:
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
        out[int(pid)] = (cpu, " ".join(cmd.split()[:3])[:90] or stat[stat.index("(") + 1:stat.rindex(")")])
    return out


def sample(path: str) -> None:
    seen: dict[int, float] = {}
    with open(path, "w") as f:
        while True:
            now = time.time()
            for pid, (cpu, name) in _processes().items():
                if cpu != seen.get(pid):
                    f.write(f"{now:.1f}\t{pid}\t{cpu:.2f}\t{name}\n")
                    seen[pid] = cpu
            f.flush()
            time.sleep(1)


def report(path: str, start: str, end: str) -> None:
    day = datetime.fromtimestamp(float(open(path).readline().split("\t")[0])).date()
    lo, hi = (datetime.combine(day, datetime.strptime(t, "%H:%M:%S").time()).timestamp() for t in (start, end))
    first: dict[int, float] = {}
    last: dict[int, tuple[float, str]] = {}
    for line in open(path):
        t, pid, cpu, name = line.rstrip("\n").split("\t", 3)
        t, pid, cpu = float(t), int(pid), float(cpu)
        if t < lo:
            first[pid] = cpu  # CPU it had used before the window
        elif t <= hi:
            last[pid] = (cpu, name)
    by_name: dict[str, float] = defaultdict(float)
    for pid, (cpu, name) in last.items():
        by_name[name] += cpu - first.get(pid, 0.0)
    total = sum(by_name.values())
    print(f"{total:.1f} CPU-s in {hi - lo:.0f} s of wall ({total / (hi - lo):.2f} cores)")
    for name, cpu in sorted(by_name.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{cpu:8.1f}  {name}")


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        report(*sys.argv[2:5])
    else:
        sample(sys.argv[1])
