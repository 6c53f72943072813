"""Gemma 4 NumPy reference: entry point and public API.

    python python_ref/gemma4_ref.py MODEL_DIR --tokens 2,5,7 -o logits.npy [--residual-out res.npy]

or, from Python with python_ref/ on sys.path:

    import gemma4_ref
    weights = gemma4_ref.load_model(model_dir)
    result = gemma4_ref.forward(weights, tokens)   # result.logits [T, V], result.residual [L, T, H]

The implementation lives in the `sov_ref` package next to this file (config.py, weights.py, model.py).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sov_ref import *  # noqa: E402,F401,F403
from sov_ref import load_model, run  # noqa: E402,F401
from sov_ref.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
