# Two commands: `make run` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CORES  ?= 2
# Offline installs: `make wheelhouse` on a connected machine collects every wheel the
# environment needs in wheelhouse/; where that folder exists, `make env` (and so `make run`,
# `make test`) installs from it alone, with no network (pip --no-index).
WHEELHOUSE ?= wheelhouse
PIP_SOURCE := $(if $(wildcard $(WHEELHOUSE)),--no-index --find-links $(abspath $(WHEELHOUSE)))
PIP_FLAGS ?=

.PHONY: run pdf test lint format sample clean env test-slurm test-postgres wheelhouse test-offline

env: $(STAMP)

# Debian's python3 ships without venv/ensurepip: install python3-venv with apt-get when the
# first attempt fails (as root, or through sudo), then try again.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  echo "python3 cannot create a virtual environment; installing python3-venv with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  VERSION=$$($(PYTHON) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")'); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv "python$$VERSION-venv" && \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q $(PIP_SOURCE) $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install -q $(PIP_SOURCE) $(PIP_FLAGS) -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/snakemake --snakefile Snakefile --workflow-profile workflow/profiles/default --cores $(CORES) --configfile config/config.yaml
	@echo
	@echo "Report: $(CURDIR)/results/report/report.html"

# The report as PDF too (needs Debian's chromium).
pdf: $(STAMP)
	$(BIN)/snakemake results/report/report.pdf --snakefile Snakefile --workflow-profile workflow/profiles/default --cores $(CORES) --configfile config/config.yaml
	@echo "PDF report: $(CURDIR)/results/report/report.pdf"

# The SLURM integration test (tests/workflow/test_slurm.py) runs in `make test-slurm`, which first
# starts a single-node SLURM cluster on this machine (root; installs slurm-wlm, munge).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slurm and not postgres"

test-slurm: $(STAMP)
	bash scripts/slurm/start-cluster.sh
	SMANH_REQUIRE_SLURM=1 $(BIN)/python -m pytest -m slurm

# The PostgreSQL route of the OMOP input (tests marked postgres): starts a PostgreSQL server on
# this machine (Debian's postgresql; own data directory and port), loads the OMOP sample, runs
# the tests against it and stops the server.
PG_DIR ?= /tmp/smanh-postgres
test-postgres: $(STAMP)
	SMANH_PG_DIR=$(PG_DIR) SMANH_PYTHON=$(BIN)/python bash scripts/postgres/start-server.sh
	. $(PG_DIR)/env && SMANH_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -m postgres; \
	  status=$$?; SMANH_PG_DIR=$(PG_DIR) bash scripts/postgres/stop-server.sh; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check scripts tests benchmarks
	$(BIN)/snakemake --lint --snakefile Snakefile --configfile config/config.yaml
	$(BIN)/snakefmt --check Snakefile workflow/rules

format: $(STAMP)
	$(BIN)/snakefmt Snakefile workflow/rules

# Regenerates data/sample/, data/sample_redcap/ and data/sample_trial/ byte for byte (tests
# check that they are unchanged).
sample: $(STAMP)
	$(BIN)/python -m smanh.synthetic.simulate --config config/simulation.yaml --out data/sample
	$(BIN)/python -m smanh.synthetic.redcap_sample --sample data/sample --out data/sample_redcap
	$(BIN)/python -m smanh.synthetic.omop_sample --sample data/sample --out data/sample_omop/sample_omop.duckdb
	$(BIN)/python -m smanh.synthetic.trial --config config/simulation_trial.yaml --out data/sample_trial

clean:
	rm -rf results .snakemake

# Every wheel of the environment (runtime, tests, pip, and setuptools for building the
# editable install of this checkout) in wheelhouse/, for a machine without network of the
# same platform and Python version. Built from the package index, in a folder moved into
# place only when complete.
wheelhouse:
	$(MAKE) env WHEELHOUSE=$(WHEELHOUSE).none
	rm -rf $(WHEELHOUSE).partial
	$(BIN)/python -m pip wheel -q --wheel-dir $(WHEELHOUSE).partial ".[test]" pip "setuptools>=69"
	rm -rf $(WHEELHOUSE).partial/smanh-*.whl build  # the project itself installs from the checkout
	rm -rf $(WHEELHOUSE) && mv $(WHEELHOUSE).partial $(WHEELHOUSE)
	@echo "$$(ls $(WHEELHOUSE) | wc -l) wheels in $(WHEELHOUSE)/ ($$(du -sh $(WHEELHOUSE) | cut -f1))"

# CI: `make env` into a fresh environment from wheelhouse/ alone — no package index, no pip
# configuration, and (where the kernel allows a network namespace: unshare -n) no network at
# all — then the smanh command on the sample registry. (Without byte-compiling the installed
# files: a minute less, and nothing this smoke test checks.)
test-offline:
	@test -d $(WHEELHOUSE) || { echo "no $(WHEELHOUSE)/: run make wheelhouse first"; exit 1; }
	dir=$$(mktemp -d /tmp/smanh-offline.XXXXXX) && \
	no_network=$$(unshare -n true 2>/dev/null && echo "unshare -n" || true) && \
	echo "offline install into $$dir/venv $${no_network:+(no network: $$no_network)}" && \
	env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	  $$no_network $(MAKE) --no-print-directory env VENV=$$dir/venv PIP_FLAGS=--no-compile && \
	$$dir/venv/bin/smanh --version && \
	$$dir/venv/bin/smanh check data/sample && \
	rm -rf $$dir
