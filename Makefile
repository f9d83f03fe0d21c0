# The two commands of the README:
#   make demo   set up, then train SGD/Adam/RMSprop on Fashion-MNIST, evaluate them and print the tables
#   make test   set up, then run the whole test suite (fast unit tests + slow integration tests)
.PHONY: setup demo test lint

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check robustopt experiments scripts tests paper_figures
