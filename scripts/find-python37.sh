#!/bin/sh
# Print the path of a usable Python 3.7 interpreter (with venv and ensurepip), or nothing.
# Used by `make test` for its second run of the scorer's tests (CodaLab's codalab-legacy:py37
# image has Python 3.7). Looks where pyenv keeps its versions, then on PATH.
usable() {
    [ -x "$1" ] || return 1
    "$1" -c 'import sys, venv, ensurepip
sys.exit(sys.version_info[:2] != (3, 7))' >/dev/null 2>&1 || return 1
    "$1" -c 'import sys; print(sys.executable)'
    exit 0
}
if command -v pyenv >/dev/null 2>&1; then
    prefix=$(pyenv prefix 3.7 2>/dev/null) && usable "$prefix/bin/python3.7"
    root=$(pyenv root 2>/dev/null)
fi
for dir in "${root:-${PYENV_ROOT:-$HOME/.pyenv}}"/versions/3.7*; do
    usable "$dir/bin/python3.7"
done
found=$(command -v python3.7 2>/dev/null) && usable "$found"
exit 0
