"""Shared helpers for the NumPy-reference tests (no torch needed: fixtures are pre-recorded)."""

import json
import os
import sys

import numpy as np
import pytest

PY_REF = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(PY_REF)
FIXTURES_DIR = os.path.join(REPO, "tests", "fixtures")
sys.path.insert(0, PY_REF)

from safetensors.numpy import load_file  # noqa: E402

import sov_ref  # noqa: E402

FIXTURE_NAMES = sorted(d for d in os.listdir(FIXTURES_DIR)
                       if os.path.exists(os.path.join(FIXTURES_DIR, d, "cases.safetensors")))


class Fixture:
    def __init__(self, name: str):
        self.name = name
        self.path = os.path.join(FIXTURES_DIR, name)
        self.cases = load_file(os.path.join(self.path, "cases.safetensors"))
        with open(os.path.join(self.path, "meta.json")) as f:
            self.meta = json.load(f)
        self._weights = {}
        self._results = {}

    @property
    def tokens(self) -> np.ndarray:
        return self.cases["tokens"]

    def weights(self, dtype=np.float64):
        key = np.dtype(dtype).name
        if key not in self._weights:
            self._weights[key] = sov_ref.load_weights(self.path, dtype)
        return self._weights[key]

    def result(self, dtype=np.float64):
        """The reference forward over the fixture tokens (cached: the model is immutable)."""
        key = np.dtype(dtype).name
        if key not in self._results:
            self._results[key] = sov_ref.forward(self.weights(dtype), self.tokens, trace=True)
        return self._results[key]


_CACHE = {}


def get_fixture(name: str) -> Fixture:
    if name not in _CACHE:
        _CACHE[name] = Fixture(name)
    return _CACHE[name]


@pytest.fixture(params=FIXTURE_NAMES)
def fixture(request) -> Fixture:
    return get_fixture(request.param)


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
