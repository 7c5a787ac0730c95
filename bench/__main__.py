"""``python -m bench``: run the benchmark figures (see bench/run.py)."""

import sys

from bench.run import main

if __name__ == "__main__":  # a spawned load-generator process (bench/device_load.py) imports this module again
    sys.exit(main())
