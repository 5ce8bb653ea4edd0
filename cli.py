"""Run the nndsl command line from a source checkout: `python cli.py validate spec.yaml`.

The installed `nndsl` console script calls the same `nndsl.cli.main`.
"""

from nndsl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
