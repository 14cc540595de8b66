"""Run the benchmark suite on ``KERAS_BACKEND`` and write ``benchmarks/results/<backend>.{md,json}``.

With ``--markdown-all`` it merges every backend's results into
``benchmarks/results/README.md`` and the benchmark section of the top README.

``nox -s bench-<backend>`` runs this module; arguments are those of
``keras_deconv.bench`` (``--repeats``, ``--quick``, ``--paths``, ``--memory``,
``--markdown-all`` ...). Without ``--output`` the results go beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Sequence

from keras_deconv.bench import main as bench_main

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``keras_deconv.bench.main`` with ``--output benchmarks/results`` unless one is given.

    ``--markdown-all`` also rewrites the benchmark section of the repository's
    README.md unless a ``--readme`` is given.
    """
    arguments: List[str] = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--output" or a.startswith("--output=") for a in arguments):
        arguments += ["--output", str(RESULTS)]
    if "--markdown-all" in arguments and not any(a.startswith("--readme") for a in arguments):
        arguments += ["--readme", str(README)]
    return bench_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
