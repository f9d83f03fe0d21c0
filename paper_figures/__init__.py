"""The figures and tables of Ma, Pan & Farahmand (TMLR 2023), drawn from the results store; and the report.

One script per figure (``figure1``, ``figure2``, ``band_noise``, ``table1``, ``linear_theory``) and ``report``,
each runnable as ``python paper_figures/<name>.py`` or ``python -m paper_figures.<name>``; the package is
installed with robustopt (``pip install -e .``), so the scripts import it like any package.
"""
