"""The paper's linear least-squares theory: GD vs signGD, Adam and RMSprop with irrelevant frequencies.

    python experiments/linear_theory.py                    # the paper's instance (200,001 steps)
    python experiments/linear_theory.py theory=quick logger=none
    python experiments/linear_theory.py data.sigma_tilde=[0.1,0.05,0.001] gradients=[population]

Writes trajectories, the risk-ratio surface and the final numbers to the run directory (and W&B);
draw the figures with ``python paper_figures/linear_theory.py <run dir>``.  The job itself:
robustopt.cli.linear_theory.
"""

from robustopt.cli.linear_theory import main

if __name__ == "__main__":
    main()
