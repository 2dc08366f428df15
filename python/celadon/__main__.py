"""``python -m celadon ARGS``: runs the celadon program with ARGS."""

import sys

from celadon import exec_binary


def main():
    try:
        exec_binary(sys.argv[1:])
    except OSError as exc:
        sys.exit(f"celadon: cannot run the celadon program: {exc}")


if __name__ == "__main__":
    main()
