"""``python -m crossforce.cli``: the same as the ``crossforce`` command."""

from crossforce.cli.main import main

main()
