"""Runs pytest with the hot path's sanitizer build (ASan + UBSan) in place of the normal one:
    LD_PRELOAD="libasan.so libubsan.so" python asan_pytest.py BUILD.so PYTEST_ARGS...
(native/Makefile's `test` does this for the hot path's unit tests: every decoder of the
game's bytes and of agents' actions, with truncated, oversized and random input)."""
import importlib.util
import sys

import gametap.q3

path, args = sys.argv[1], sys.argv[2:]
spec = importlib.util.spec_from_file_location("gametap.q3._hotpath", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["gametap.q3._hotpath"] = gametap.q3._hotpath = module

import pytest  # noqa: E402

print(f"hot path under sanitizers: {module.__file__}")
sys.exit(pytest.main(["-p", "no:cacheprovider", *args]))
