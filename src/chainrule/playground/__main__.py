"""``python -m chainrule.playground``: the same as ``chainrule playground``."""

import argparse
import sys

from ..cli.playground import add_arguments, run

parser = argparse.ArgumentParser(prog="chainrule playground", description=__doc__)
add_arguments(parser)
sys.exit(run(parser.parse_args()))
