#!/usr/bin/env bash
# The README's test command, as users get matfunc: build the sdist and the wheel, check them, install the wheel
# with its extras into the given fresh virtual environment, and run the sdist's tests (with the installed package's
# doctests, the Sphinx build of the docs and the main job) against the installed package from outside the checkout;
# then lint, format check and type check the source.
#
#   python3 -m venv --clear .venv-ci && bash .ci/test.sh .venv-ci
#
# Only the installed package can be imported by the tests: they run from the unpacked sdist with its matfunc/ folder
# removed, and tests/test_packaging.py asserts it (MATFUNC_TEST_INSTALLED=1).
set -euo pipefail
venv=$(cd "${1:?usage: bash .ci/test.sh VENV (a fresh virtual environment)}" && pwd)
py="$venv/bin/python"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/matfunc-ci.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s  [%d s]\n' "$1" "$SECONDS"; }

step "build tools"
"$py" -m pip install -q "$(grep '^build==' requirements-ci.txt)" "$(grep '^twine==' requirements-ci.txt)"

step "build the sdist, then the wheel from the sdist"
"$py" -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
ls -l "$work/dist"
"$py" -m twine check --strict "$work"/dist/*

step "install the wheel (not editable) with its extras, the pinned backends and the check tools (requirements-ci.txt)"
wheels=("$work"/dist/matfunc-*.whl)
"$py" -m pip install -q "${wheels[0]}[test,torch,jax,dask,docs,bench]" -r requirements-ci.txt

step "tests of the sdist, doctests of the installed package, docs build, against the installed wheel"
tar -xzf "$work"/dist/matfunc-*.tar.gz -C "$work"
src=$(echo "$work"/matfunc-*/)
rm -rf "$src/matfunc"  # the sdist's copy of the package: only the installed one may be imported
pkg=$(cd "$work" && "$py" -c "import os, matfunc; print(os.path.dirname(matfunc.__file__))")
echo "installed package: $pkg"
(cd "$src" && MATFUNC_TEST_INSTALLED=1 MATFUNC_SOURCE_TREE="$root" MATFUNC_DIST_DIR="$work/dist" \
  "$py" -m pytest -c pyproject.toml --rootdir . -p no:cacheprovider -n 2 -q tests "$pkg")

step "the main job from another directory"
(cd "$work" && "$py" -m matfunc --batch 8 --repeat 1)

step "ruff check, ruff format --check"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .

step "mypy (configured in pyproject.toml: the matfunc package, public API fully annotated)"
"$venv/bin/mypy"

step "done"
