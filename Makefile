# The two commands a newcomer needs (both set everything up first; re-running is cheap):
#   make demo   run the main job on the demo fleet; reports land in ./reports/
#   make test   pass the tests (real Prometheus, Alertmanager, kernels, Chromium)
VENV ?= .venv
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench clean
setup:
	@scripts/setup.sh

demo: setup
	$(VENV)/bin/holoops demo --out reports

# unit and integration tests, plus nbmake executing every notebook and runbook on the demo fleet
# (tests/notebooks holds fixtures, one of which fails on purpose: it is driven by tests/test_run.py)
test: setup
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup --nbmake --nbmake-timeout=600 \
	  --ignore=tests/notebooks tests notebooks runbooks $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check holoops tests benchmarks

bench: setup
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf reports .pytest_cache tests/artifacts
