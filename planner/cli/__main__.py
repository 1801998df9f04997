"""Run the CLI with ``python -m planner.cli``."""

from planner.cli import main

main(prog_name="planner")
