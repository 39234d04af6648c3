import sys
from pathlib import Path

# Shared test helpers (synthetic data with known answers) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
