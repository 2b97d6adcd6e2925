"""Entry points: the ``diverfuzz`` CLI, ``check()``, the pytest plugin, the precision
sweep, supervisor evaluation and report re-rendering. Nothing below imports these."""
