"""``python -m matfunc.bench``: see :mod:`matfunc.bench`."""

from .cli import main

if __name__ == "__main__":
    main()
