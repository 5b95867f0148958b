"""Obstruction sweep of 10^4 initialisations: serial against two Dask worker processes.

Each initialisation is drawn, its balances computed, its pathological units counted
and its fiber's connectivity decided exactly (one topo.connectivity call per sample).
The same seeded chunks run in this process and on a LocalCluster of two single-threaded
worker processes on 127.0.0.1; the results must be identical.  Cluster start-up is timed
separately from the sweep.

Run:  python benchmarks/experiments.py [--samples N] [--widths 2,32,1]
"""

import argparse
import time

from _table import print_table


def main(samples: int, widths: tuple):
    from distributed import Client, LocalCluster

    from topo.experiments import obstruction_probability

    kw = dict(init="kaiming", bias=True, method="monte_carlo", n_samples=samples, seed=0, chunk_size=500,
              progress=False)
    t0 = time.perf_counter()
    serial = obstruction_probability(widths, **kw)
    t_serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("topo.experiments"))  # warm the workers' imports
        t_up = time.perf_counter() - t0
        t0 = time.perf_counter()
        dask = obstruction_probability(widths, **kw, client=client)
        t_dask = time.perf_counter() - t0
    assert dask == serial, "Dask result differs from the serial one"
    size = (f"{samples:,} inits of {'-'.join(map(str, widths))} (kaiming, bias): per unit {serial.per_unit:.4f}, "
            f"disconnected {serial.disconnected:.4f}")
    print_table([
        ("serial (1 process)", size, f"{t_serial:.2f} s", "baseline"),
        ("Dask, 2 worker processes", "identical to serial", f"{t_dask:.2f} s (+ {t_up:.1f} s cluster start)",
         f"ratio serial/Dask {t_serial / t_dask:.2f}x"),
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--widths", default="2,32,1")
    args = parser.parse_args()
    main(args.samples, tuple(int(w) for w in args.widths.split(",")))
