"""Running model-written code: a bubblewrap sandbox with resource limits and an unforgeable verdict.

    from stagewise.evaluate.sandbox import run_tests, SandboxLimits
    run_tests(solution_code, test_code, "entry_point").passed

Public: `run_tests`, `SandboxLimits`, `TestRun`, `require_bubblewrap` (raises `StagewiseError` with install
instructions when bubblewrap cannot start; untrusted code never runs without it).
"""
from stagewise.evaluate.sandbox.bubblewrap import SandboxLimits, TestRun, require_bubblewrap, run_tests

__all__ = ["SandboxLimits", "TestRun", "require_bubblewrap", "run_tests"]
