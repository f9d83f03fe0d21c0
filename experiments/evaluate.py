"""Run evaluations on trained runs (one run directory or a whole sweep folder).

    python experiments/evaluate.py run_dir=outputs/multiruns/quick evaluations=[clean]

Each run is evaluated with the evaluation options it was trained with (its preset's ``eval``), changed only by the
``eval.*`` / ``attack=`` overrides on this command line.  Each result is stored under its name in the run's
summary.json ("eval", or "matched.eval" with protocol=matched) and logged to W&B.  The job itself:
robustopt.cli.evaluate.
"""

from robustopt.cli.evaluate import main

if __name__ == "__main__":
    main()
