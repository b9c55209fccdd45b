#!/usr/bin/env bash
# Install multiscale-run on a fresh Debian 12 / Ubuntu machine, idempotently, in two steps:
#
#   ./install.sh           the core: what the embedded default (NEURON + metabolism) needs, from
#                          binary packages only (Debian's Open MPI, PyPI wheels): a few minutes.
#   ./install.sh --steps   the full stack on top: the source builds that have no wheel (h5py with
#                          MPI-IO, petsc4py against Debian's PETSc, STEPS with its serial and MPI
#                          TetOpSplit solvers), built without debug information.
#
# Built wheels are kept in $MSR_WHEELHOUSE, so a second run takes seconds. Facts behind each
# step, and measured times: docs/install.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
VENV=${MSR_VENV:-$here/.venv}
WHEELS=${MSR_WHEELHOUSE:-$HOME/.cache/multiscale-run/wheels}
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

full=0
for arg in "$@"; do
  case "$arg" in
    --steps) full=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (expected --steps or --help)" >&2; exit 2 ;;
  esac
done
nstages=5; [ $full = 1 ] && nstages=8

stage() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

CORE_PACKAGES=(
  build-essential pkg-config
  openmpi-bin libopenmpi-dev
  libglu1-mesa libxcursor1 libxinerama1 libxft2 libgl1
  chromium
)
# What the source builds of the full stack compile against.
FULL_PACKAGES=(
  cmake gfortran libhdf5-openmpi-dev
  petsc-dev libopenblas-dev liblapack-dev
  libboost-dev libeigen3-dev libmetis-dev libgmsh-dev libsundials-dev
  slurm-wlm munge  # the one-node SLURM cluster the sweep tests run job arrays on
)

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    stage "    installing ${#missing[@]} package(s): ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    stage "    all present"
  fi
}

# build_progress LABEL: reads a build's output line by line; at every 10 % of its ninja steps
# ("[n/N] ...") prints a line with the elapsed time and a range for the time left (the last
# step, STEPS's Python bindings, takes about a sixth of the build, so a straight line is low).
build_progress() {
  local t0 line n total pct next_pct=0 el left
  t0=$(date +%s)
  while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*\[([0-9]+)/([0-9]+)\] ]] || continue
    n=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]} pct=$((100 * n / total))
    [ "$pct" -ge "$next_pct" ] || continue
    el=$(($(date +%s) - t0)) left=""
    [ "$n" -lt "$total" ] && left=", $((el * (total - n) / n / 60))-$((13 * el * (total - n) / n / 600 + 5)) min left"
    stage "    $1: step $n/$total ($pct%) after $((el / 60)) min $((el % 60)) s$left"
    next_pct=$((pct - pct % 10 + 10))
  done
}

n=0
next() { n=$((n + 1)); stage "$n/$nstages $*"; }

next "Debian packages"
if [ $full = 1 ]; then apt_install "${CORE_PACKAGES[@]}" "${FULL_PACKAGES[@]}"; else apt_install "${CORE_PACKAGES[@]}"; fi

next "virtual environment $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# quiet: a command without the "Location ... is ignored" lines some machines' pip config produces.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
PIP=(quiet "$VENV/bin/python" -m pip)
py() { "$VENV/bin/python" "$@"; }
"${PIP[@]}" install -q --upgrade pip "setuptools>=77" wheel

next "multiscale-run and its Python dependencies (binary wheels)"
# (setuptools warns on every editable install about same-named folders: not a problem here)
PYTHONWARNINGS="ignore:Editable installation" "${PIP[@]}" install -q -e "$here[test]"

if [ $full = 1 ]; then
  # Build requirements of the source builds below, installed first because those builds run
  # without build isolation (h5py's isolated build would compile mpi4py 4.0.0 from source: 21 GB).
  "${PIP[@]}" install -q "Cython>=3.0,<3.1" pkgconfig scikit-build-core ninja
  mkdir -p "$WHEELS"

  next "h5py with the MPI-IO driver"
  # STEPS 5.1 requires h5py < 3.16: the newest release it accepts
  H5PY_VERSION=3.15.1
  if py -c "import h5py, sys; sys.exit(0 if h5py.get_config().mpi and h5py.__version__ == '$H5PY_VERSION' else 1)" 2>/dev/null; then
    stage "    present"
  else
    if ! ls "$WHEELS"/h5py-mpi/h5py-$H5PY_VERSION-*.whl >/dev/null 2>&1; then
      stage "    building (about 3-4 minutes)"
      (export CC=mpicc HDF5_MPI=ON HDF5_PKGCONFIG_NAME=hdf5-openmpi CFLAGS="-O2 -g0"
       "${PIP[@]}" wheel -q --no-build-isolation --no-binary h5py --no-deps -w "$WHEELS/h5py-mpi" "h5py==$H5PY_VERSION")
    fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEELS"/h5py-mpi/h5py-$H5PY_VERSION-*.whl
  fi

  next "petsc4py against Debian's PETSc"
  if py -c "import petsc4py" 2>/dev/null; then
    stage "    present"
  else
    if ! ls "$WHEELS"/petsc4py-*.whl >/dev/null 2>&1; then
      stage "    building (about 2-3 minutes)"
      # petsc4py 3.18's setup script fails with setuptools >= 70, so it is built in its own
      # throwaway environment, against the numpy of the project's environment.
      build_venv=$(mktemp -d)/venv
      "$PYTHON" -m venv "$build_venv"
      numpy_version=$(py -c "import numpy; print(numpy.__version__)")
      quiet "$build_venv/bin/python" -m pip install -q "setuptools<70" wheel "Cython<3.1" "numpy==$numpy_version"
      (cd "$(dirname "$build_venv")" && PETSC_DIR=/usr/lib/petsc CFLAGS="-O2 -g0" quiet "$build_venv/bin/python" -m pip wheel -q \
        --no-build-isolation --no-deps -w "$WHEELS" "petsc4py==3.18.*")
      rm -rf "$(dirname "$build_venv")"
    fi
    "${PIP[@]}" install -q --no-deps "$WHEELS"/petsc4py-*.whl
  fi

  next "STEPS 5 (serial solvers and MPI TetOpSplit)"
  if py -c "import steps" 2>/dev/null; then
    stage "    present"
  else
    if ! ls "$WHEELS"/steps-*.whl >/dev/null 2>&1; then
      log=$(mktemp -t steps-build.XXXXXX.log)
      stage "    building: about 19-25 minutes on 2 idle cores (longer while other work runs), ~3 GB of memory"
      stage "    full build log: $log"
      # -g0 stops STEPS adding -ggdb3 to every target (its UseDebugSymbols.cmake adds it unless a
      # -g flag is already set); the launcher compiles the one Cython translation unit (the Python
      # bindings, not the solvers) at -O1; portable code, so the cached wheel runs on any x86-64.
      if ! (export STEPS_NO_BUNDLE=true CMAKE_BUILD_PARALLEL_LEVEL=2 CXXFLAGS="-g0" CFLAGS="-g0"
            "${PIP[@]}" wheel -v --no-deps -w "$WHEELS" \
              --config-settings=cmake.define.STEPS_USE_DIST_MESH=OFF \
              --config-settings=cmake.define.USE_BUNDLE_SUNDIALS=OFF \
              --config-settings=cmake.define.TARGET_NATIVE_ARCH=OFF \
              --config-settings=cmake.define.BUILD_STOCHASTIC_TESTS=OFF \
              --config-settings=cmake.define.STEPS_USE_STEPSBLENDER=OFF \
              --config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER="$here/tools/steps_cc_launcher" \
              "steps==5.1.0" 2>&1 | tee "$log" | build_progress STEPS); then
        tail -n 40 "$log" >&2
        stage "    the STEPS build failed: see $log"
        exit 1
      fi
    fi
    "${PIP[@]}" install -q --no-deps "$WHEELS"/steps-*.whl
  fi
fi

next "msr on PATH"
if [ -w /usr/local/bin ]; then bindir=/usr/local/bin; else bindir=$HOME/.local/bin; mkdir -p "$bindir"; fi
for exe in msr multiscale-run; do ln -sf "$VENV/bin/$exe" "$bindir/$exe"; done
case ":$PATH:" in *":$bindir:"*) ;; *) stage "    add $bindir to your PATH";; esac
"$VENV/bin/msr" --version
[ $full = 1 ] || stage "    core installed; STEPS (extracellular space) comes with: ./install.sh --steps"
