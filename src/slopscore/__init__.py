"""slopscore: rank art-platform uploads for human review of likely low-effort AI imagery.

Nothing here removes, hides or demotes anything; scores only order a human review queue.

Importing the package sets one process default, before PyTorch's OpenMP runtime
loads: threads that finish their share of an operation sleep rather than spin
(``OMP_WAIT_POLICY=PASSIVE``). Decoding workers then get the cores the model is
not using: on 2 cores the bf16 batch job ran at 30.6 images/s against 27.8 with
OpenMP's default (medians of 3 runs), the model alone about 2% slower. A value
already in the environment is kept; importing torch first leaves OpenMP as it was.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from slopscore import _moved_modules

_moved_modules.install()
