"""Whole-machine idle CPU share, one line per second: `<seconds since start> <idle %>`.

    python bench/idle_sampler.py /tmp/idle.txt & SP=$!; bash scripts/demo.sh; kill $SP

Run beside the demo to see where cores are left idle (BENCHMARKS.md, "The embedded study"). Reads /proc/stat
(Linux); idle includes iowait.
"""
import sys
import time


def _read() -> tuple[int, int]:
    fields = list(map(int, open("/proc/stat").readline().split()[1:]))
    return sum(fields), fields[3] + fields[4]


def main(path: str) -> None:
    start = time.time()
    total, idle = _read()
    with open(path, "w") as out:
        while True:
            time.sleep(1)
            t, i = _read()
            out.write(f"{time.time() - start:.0f} {100 * (i - idle) / max(1, t - total):.0f}\n")
            out.flush()
            total, idle = t, i


if __name__ == "__main__":
    main(sys.argv[1])
