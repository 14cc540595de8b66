"""The test matrix: one environment per Keras backend (Keras fixes its backend at import).

``nox`` runs the default sessions (tests on every backend, cross-backend
files, distribution, export, lint, docs, the built distributions, the test-suite at
the oldest versions pyproject.toml claims); ``nox -l`` lists them all. Arguments after
``--`` go to pytest (or to the tool a session runs).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Callable

import nox

# uv creates and fills the environments where it is installed (.ci/run installs
# it); plain venv and pip elsewhere.
nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "crossbackend", "distribution", "export", "lint", "docs", "build",
                        "minimums"]

# uv does not read pip's settings: where pip is told of a folder of wheels (a
# machine's CPU build of torch, say), uv is told of it too.
if "PIP_FIND_LINKS" in os.environ:
    os.environ.setdefault("UV_FIND_LINKS", os.environ["PIP_FIND_LINKS"])

BACKENDS = ["jax", "torch", "tensorflow", "numpy"]
# Quiet TF's start-up chatter; keep the CPU deterministic enough for the tests.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}
# The test-suite on every core (pytest-xdist): most of a test's time is one
# compilation, on one core. On a 2-core machine the jax tests took 503 s
# against 722 one at a time. Pass `-- -n 0` to run in one process.
PARALLEL = ("-n", "auto")


def ci_cleanup(func: Callable[..., None]) -> Callable[..., None]:
    """Under CI, delete the session's virtualenv when it ends, pass or fail.

    The thirteen environments hold about 19 GB together (export alone 3.3 GB); CI runs on a
    shared disk, and one run failed with "No space left on device" in the twelfth. Deleting
    each one as it finishes keeps the peak near the largest single environment. Locally the
    environments stay, for reuse.
    """
    @functools.wraps(func)
    def run(session: nox.Session, **kwargs: str) -> None:
        try:
            func(session, **kwargs)
        finally:
            location = getattr(session.virtualenv, "location", None)
            if os.environ.get("CI") and location:
                shutil.rmtree(location, ignore_errors=True)
    return run


def install(session: nox.Session, *requirement_files: str) -> None:
    """Install requirement files from backends/ and this package (no re-resolution of torch)."""
    for name in requirement_files:
        session.install("-r", f"backends/{name}.txt")
    session.install("--no-deps", "-e", ".")


@nox.session
@nox.parametrize("backend", BACKENDS)
@ci_cleanup
def tests(session: nox.Session, backend: str) -> None:
    """Run the test-suite on one Keras backend."""
    # Exactly one backend per environment: the tests that need torch beside
    # another backend (porting, the benchmark's yardstick) run in `crossbackend`.
    install(session, backend)
    env = {"KERAS_BACKEND": backend, **QUIET}
    if backend != "tensorflow":
        session.run("pytest", *PARALLEL, *session.posargs, env=env)
        return
    # TF's CPU kernels are oneDNN's or Eigen's, by the CPU and TF_ENABLE_ONEDNN_OPTS; the
    # graph is the same with either (tests/test_host_independence.py), the kernels are not:
    # the whole suite with oneDNN, about a third of it with Eigen's.
    session.run("pytest", *PARALLEL, *session.posargs, env={**env, "TF_ENABLE_ONEDNN_OPTS": "1"})
    session.run("pytest", *PARALLEL, "--sample=3", *session.posargs,
                env={**env, "TF_ENABLE_ONEDNN_OPTS": "0"})


@nox.session
@ci_cleanup
def crossbackend(session: nox.Session) -> None:
    """Save .keras files on each backend and load them on every other one.

    With every backend installed, this session also runs the tests whose
    oracle is torch on jax and tensorflow: weights ported from PyTorch modules,
    and the benchmark suite (torch's native op is its yardstick).
    """
    install(session, "jax", "torch", "tensorflow")
    folder = session.create_tmp()
    for backend in BACKENDS[:3]:
        session.run("python", "tests/crossbackend/save_models.py", folder,
                    env={"KERAS_BACKEND": backend, **QUIET})
    for backend in BACKENDS[:3]:
        session.run("pytest", "tests/crossbackend/test_load_models.py", "-p", "no:cacheprovider",
                    *session.posargs, env={"KERAS_BACKEND": backend, "KERAS_DECONV_MODELS": folder, **QUIET})
    for backend in ("jax", "tensorflow"):
        session.run("pytest", "tests/test_porting.py", "tests/test_bench.py", "-p", "no:cacheprovider",
                    *session.posargs, env={"KERAS_BACKEND": backend, **QUIET})


@nox.session
@ci_cleanup
def distribution(session: nox.Session) -> None:
    """Run the layers under Keras's distribution API (JAX), tf.distribute and torch DDP."""
    install(session, "jax", "tensorflow", "torch")
    jax_env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=8", **QUIET}
    session.run("pytest", "tests/distribution", "-m", "distribution", *session.posargs, env=jax_env)
    tf_env = {"KERAS_BACKEND": "tensorflow", **QUIET}
    session.run("pytest", "tests/distribution", "-m", "distribution", *session.posargs, env=tf_env)
    torch_env = {"KERAS_BACKEND": "torch", **QUIET}
    session.run("pytest", "tests/distribution", "-m", "distribution", *session.posargs, env=torch_env)


@nox.session
@ci_cleanup
def export(session: nox.Session) -> None:
    """Export models with model.export to every format of each backend and run them in each runtime."""
    install(session, "jax", "torch", "tensorflow", "export")
    for backend in BACKENDS[:3]:
        session.run("pytest", "tests/export", "-m", "export", "-p", "no:cacheprovider", *session.posargs,
                    env={"KERAS_BACKEND": backend, **QUIET})


@nox.session
@ci_cleanup
def lint(session: nox.Session) -> None:
    """Check style (ruff) and types (mypy)."""
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("mypy")


@nox.session
@ci_cleanup
def docs(session: nox.Session) -> None:
    """Build the documentation site with mkdocs --strict; run its examples and figure script."""
    install(session, "tensorflow", "docs")
    env = {"KERAS_BACKEND": "tensorflow", **QUIET}
    session.run("pytest", "tests/test_docs.py", env=env)
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp() + "/site", *session.posargs,
                env=env)


@nox.session
@nox.parametrize("backend", BACKENDS[:3])
@ci_cleanup
def minimums(session: nox.Session, backend: str) -> None:
    """Run the test-suite, sampled, at the oldest versions pyproject.toml claims (backends/minimums*.txt)."""
    constraints = "backends/minimums-torch.txt" if backend == "torch" else "backends/minimums.txt"
    # The package's own requirements resolve against the pins, so a pin below a claim fails
    # here; tests/test_packaging.py checks that every pin equals its claim. The tensorflow
    # extra would install the `tensorflow` build: its CPU build is named instead.
    extras, others = {"jax": ("jax,test", []), "torch": ("torch,test", []),
                      "tensorflow": ("test", ["tensorflow-cpu"])}[backend]
    session.install("-c", constraints, "-e", f".[{extras}]", "pillow", *others)
    env = {"KERAS_BACKEND": backend, **QUIET}
    session.run("python", "-c", f"import keras, numpy, {backend}; print('keras', keras.__version__, "
                f"'numpy', numpy.__version__, '{backend}', {backend}.__version__)", env=env)
    # Every test function, on about a fifth of its parameter sets (tests/conftest.py's
    # --sample): what differs between versions is which APIs exist and how they
    # behave, which each function still reaches; the full grids run at the pinned
    # versions in `tests`.
    session.run("pytest", "-p", "no:cacheprovider", "--sample=5", *PARALLEL, *session.posargs, env=env)


def package_version() -> str:
    """``keras_deconv.__version__`` as written in the checkout (read, not imported)."""
    text = Path("keras_deconv/__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise ValueError("keras_deconv/__init__.py has no __version__ line")
    return match.group(1)


def check_distributions(dist: Path, version: str) -> Path:
    """Check the names and contents of the sdist and the wheel in ``dist``; return the wheel."""
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    expected = ([f"keras_deconv-{version}-py3-none-any.whl"], [f"keras_deconv-{version}.tar.gz"])
    if ([w.name for w in wheels], [s.name for s in sdists]) != expected:
        raise ValueError(f"expected {expected} in {dist}, found {sorted(p.name for p in dist.iterdir())}")
    modules = {path.as_posix() for path in Path("keras_deconv").rglob("*.py")}
    with zipfile.ZipFile(wheels[0]) as archive:
        names = set(archive.namelist())
    required = modules | {"keras_deconv/py.typed", f"keras_deconv-{version}.dist-info/licenses/LICENSE"}
    problems = [f"missing {name}" for name in sorted(required - names)]
    problems += [f"unexpected {name}" for name in sorted(names)
                 if not name.startswith(("keras_deconv/", f"keras_deconv-{version}.dist-info/"))]
    problems += [f"not a module of the checkout: {name}" for name in sorted(names)
                 if name.startswith("keras_deconv/") and name not in required]
    with tarfile.open(sdists[0]) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    problems += [f"sdist lacks {name}" for name in ("LICENSE", "CHANGELOG.md", "pyproject.toml", "README.md",
                                                    "keras_deconv/__init__.py", "keras_deconv/py.typed",
                                                    "tests/conftest.py", "docs/index.md")
                 if name not in members]
    problems += [f"sdist holds {name}" for name in sorted(members) if name.startswith("benchmarks/")]
    if problems:
        raise ValueError("distribution contents: " + "; ".join(problems))
    return wheels[0]


@nox.session
@ci_cleanup
def build(session: nox.Session) -> None:
    """Build the sdist and the wheel, check them, install the wheel alone and run it.

    The wheel goes into a new environment with one backend (jax), and runs from a
    folder outside the checkout: its docstring examples, then ``keras-deconv check``.
    """
    session.install("-r", "backends/build.txt")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), ".")
    session.run("twine", "check", "--strict", *[str(path) for path in sorted(dist.iterdir())])
    version = package_version()
    wheel = check_distributions(dist, version)
    session.log(f"{wheel.name}: contents and names as expected")

    env_dir = tmp / "wheel-env"
    shutil.rmtree(env_dir, ignore_errors=True)
    session.run("python", "-m", "venv", str(env_dir))
    python = str(env_dir / "bin" / "python")
    session.run(python, "-m", "pip", "install", "--quiet", "-r", "backends/jax.txt", f"{wheel}[jax]",
                external=True)
    outside = tmp / "outside"
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir()
    # pytest's rootdir is this folder: the checkout's configuration and tests stay out of it.
    (outside / "pytest.ini").write_text("[pytest]\ndoctest_optionflags = ELLIPSIS NORMALIZE_WHITESPACE\n")
    env = {"KERAS_BACKEND": "jax", **QUIET}
    where = (
        "import importlib.metadata, pathlib, sysconfig, keras_deconv; "
        "here = pathlib.Path(keras_deconv.__file__).resolve().parent; "
        "site = pathlib.Path(sysconfig.get_paths()['purelib']).resolve(); "
        "assert here.parent == site, f'keras_deconv imported from {here}, not {site}'; "
        f"assert keras_deconv.__version__ == importlib.metadata.version('keras-deconv') == {version!r}, "
        "(keras_deconv.__version__, importlib.metadata.version('keras-deconv')); "
        "print('keras_deconv', keras_deconv.__version__, 'from', here)"
    )
    with session.chdir(outside):
        session.run(python, "-c", where, env=env, external=True)
        session.run(python, "-m", "pytest", "-p", "no:cacheprovider", "--doctest-modules", "--pyargs",
                    "keras_deconv", env=env, external=True)
        session.run(str(env_dir / "bin" / "keras-deconv"), "check", "--backend", "jax", env=env,
                    external=True)


@nox.session
@nox.parametrize("backend", BACKENDS[:3])
def bench(session: nox.Session, backend: str) -> None:
    """Benchmark keras_deconv against Keras's layer and torch's native op (writes benchmarks/results/)."""
    install(session, backend, *(["torch"] if backend != "torch" else []))
    env = {"KERAS_BACKEND": backend, **QUIET}
    results = ["--output", "benchmarks/results"]
    session.run("keras-deconv", "bench", *(session.posargs or ["--memory"]), *results, env=env)
    # Merge every backend's results so far into benchmarks/results/README.md and the README's table.
    session.run("keras-deconv", "bench", "--markdown-all", *results, "--readme", "README.md", env=env)
