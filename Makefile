# The two commands of the README:
#   make demo   set up, then train SGD/Adam/RMSprop on Fashion-MNIST, evaluate them and print the tables
#   make test   set up, then run ruff (lint and format check, line length 120) and the whole test suite
#               (fast unit tests + slow integration tests)
#   make test-fast   ruff, then only the tests not marked slow (no subprocesses, no training beyond a few steps)
# pytest runs one worker per core (pytest-xdist: -n auto); every test works in its own tmp_path and seeds its own RNG.
.PHONY: setup demo test test-fast lint

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	.venv/bin/ruff check robustopt experiments scripts tests paper_figures
	.venv/bin/ruff format --check robustopt experiments scripts tests paper_figures
	.venv/bin/python -m pytest -q -n auto --dist worksteal

test-fast: setup
	.venv/bin/ruff check robustopt experiments scripts tests paper_figures
	.venv/bin/ruff format --check robustopt experiments scripts tests paper_figures
	.venv/bin/python -m pytest -q -n auto --dist worksteal -m "not slow"

lint: setup
	.venv/bin/ruff check robustopt experiments scripts tests paper_figures
	.venv/bin/ruff format --check robustopt experiments scripts tests paper_figures
