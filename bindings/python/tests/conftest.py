"""Shared data for the Python tests: ../shared beside the checkout (BANTAM_SHARED_DIR overrides)."""
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("BANTAM_SHARED_DIR", Path(__file__).resolve().parents[3] / ".." / "shared")).resolve()


def shared(relative):
    path = SHARED / relative
    if not path.exists():
        pytest.fail(f"shared test data missing: {path}")
    return path


@pytest.fixture(scope="session")
def stories_path():
    return shared("models/weights/stories260K.gguf")


@pytest.fixture(scope="session")
def model(stories_path):
    import bantam
    return bantam.Model(stories_path)
