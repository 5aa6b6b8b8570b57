"""``python -m pipeline.cli``: the same command line as the ``newswire`` script (pipeline.ops.cli)."""
import sys

from pipeline.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
