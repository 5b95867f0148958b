"""Shared printing of benchmark tables (one row per case: case, size/result, time, target)."""


def print_table(rows, headers=("case", "size", "time", "target")):
    """Print rows of four strings as an aligned, pipe-separated table."""
    widths = [max(len(str(r[i])) for r in list(rows) + [headers]) for i in range(3)]
    line = " | ".join(f"{h:{w}s}" for h, w in zip(headers[:3], widths)) + f" | {headers[3]}"
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(f"{str(r[i]):{w}s}" for i, w in enumerate(widths)) + f" | {r[3]}")
