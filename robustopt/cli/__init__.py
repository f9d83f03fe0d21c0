"""The Hydra boundary: the only package that imports Hydra or OmegaConf.

* :mod:`~robustopt.cli.schema` -- structured-config schemas of ``conf/`` (and their defaults);
* :mod:`~robustopt.cli.app` -- ConfigStore registration, resolvers, :func:`~robustopt.cli.app.entry_point`
  (user mistakes as one line), :func:`~robustopt.cli.app.to_plain` (configs as plain dicts);
* :mod:`~robustopt.cli.train`, :mod:`~robustopt.cli.evaluate`, :mod:`~robustopt.cli.linear_theory` -- the jobs
  of the entry points in ``experiments/`` (each a ``@hydra.main`` around one of them);
* :mod:`~robustopt.cli.sweep` -- a multirun's expected jobs; :mod:`~robustopt.cli.callbacks` -- the
  ``on_multirun_end`` callback that writes the sweep table.

Everything below this package takes plain dicts.
"""

from robustopt.cli.app import CONF_DIR, entry_point, output_dir, overridden, run_dirname, to_plain

__all__ = ["CONF_DIR", "entry_point", "output_dir", "overridden", "run_dirname", "to_plain"]
