"""``python -m keras_deconv``: the same as the ``keras-deconv`` command."""

import sys

from keras_deconv.cli import main

if __name__ == "__main__":
    sys.exit(main())
