"""``python -m keras_deconv.cli.bench``: the suite without the CLI's backend choice (memory probes)."""

import sys

from keras_deconv.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
