"""`python -m overdrive ...` runs the `overdrive` command (for environments without the script)."""

from overdrive.cli import main

main()
