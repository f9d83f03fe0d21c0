"""The irrelevant-frequency experiment (Ma, Pan & Farahmand, TMLR 2023, Figure 2), as one Hydra multirun.

Trains with SGD on training minibatches whose high-frequency or low-energy DCT content is removed
(``data_filter``, applied after augmentation by the batch server; see robustopt.frequency.filters), keeping
90, 70, 50, 30 and 10% of the coefficients, plus the unfiltered baseline; tests on the untouched test set.
Each run is an ordinary training run (experiments/train.py), so it resumes and records like any other.

    python experiments/irrelevant_freq.py                                  # conf/irrelevant_freq.yaml
    python experiments/irrelevant_freq.py experiment=quick logger=none     # a short demo
    python experiments/irrelevant_freq.py summarize=outputs/multiruns/irrelevant_freq
        -> prints test accuracy versus the percentage removed and writes irrelevant_freq.json there
"""

from robustopt.cli.irrelevant_freq import main

if __name__ == "__main__":
    main()
