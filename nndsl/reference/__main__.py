"""`python -m nndsl.reference > docs/reference.md`: print the generated language reference."""

from __future__ import annotations

import sys

from nndsl.reference import generate

if __name__ == "__main__":
    sys.stdout.write(generate())
