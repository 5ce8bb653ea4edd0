"""Exit statuses of every nndsl command (the CLI's and the TUI's), defined once.

0: success. 2: a user error (an invalid spec, bad arguments, bad data), reported as diagnostics
or one line, never as a traceback. 130: interrupted (Ctrl-C), after the run directory was left
resumable. Anything else is a bug in nndsl.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
