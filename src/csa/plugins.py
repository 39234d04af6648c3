"""Third-party registrations: each entry point of a group names a function to call once.

Encoders (group ``csa.encoders``) and data sets (``csa.datasets``) are both extended this
way, with one rule: a plugin that fails costs its own names, not everyone's. It is
reported as a warning naming the plugin, and everything else stays usable.
"""

from __future__ import annotations

import warnings


def run_registration_hooks(group: str, what: str, *, stacklevel: int) -> None:
    """Load and call every ``group`` entry point; warn, naming it, for each that fails.

    ``what`` names what a plugin registers ("encoders", "data sets") in the warning;
    ``stacklevel`` is the warning's level as seen from the caller of this function.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        try:
            hook = ep.load()
            if not callable(hook):
                raise TypeError(f"{ep.value} is not a function")
            hook()
        except Exception as exc:
            warnings.warn(
                f"the {what} of plugin {ep.name!r} ({ep.value}) are unavailable: {exc}",
                RuntimeWarning,
                stacklevel=stacklevel + 1,
            )
