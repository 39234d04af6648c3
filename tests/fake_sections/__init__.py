"""Demo sections that worker processes can import by name (tests/ is on their path)."""
