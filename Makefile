# gametap: `make setup` installs everything (idempotent), `make run` serves the default
# match, `make test` runs the test suite, `make bench` prints the performance figures.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# debootstrap and systemd-container: the systemd test boots the unit in a container (tests/integration/test_systemd_unit.py).
APT_PACKAGES := openarena-server gcc make zlib1g-dev chromium openarena xvfb xdotool libgl1-mesa-dri openssl \
	debootstrap systemd-container
LIB := native/build/libgametap_q3.so
NATIVE_STAMP := native/build/.built
PROTO_SRC := $(shell find proto -name '*.proto' | sort)
PROTO_STAMP := server/gametap/v1/.generated
WEB_STAMP := web/node_modules/.installed

.PHONY: setup apt venv proto native web run test test-fast bench lint clean install-service

setup: apt venv proto native web

# System packages (needs root: run as root or with sudo available).
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

# EXTRAS: the package's extras to install (deploy/ray/Dockerfile takes the ones a node needs).
EXTRAS ?= dev
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

# Generated protobuf/gRPC modules (not committed): proto/gametap/v1 -> server/gametap/v1, etc.
proto: $(PROTO_STAMP)
$(PROTO_STAMP): $(PROTO_SRC) $(VENV)/.installed
	rm -rf server/gametap/v1 server/gametap/q3/v1
	$(PY) -m grpc_tools.protoc -Iproto --python_out=server --pyi_out=server --grpc_python_out=server $(PROTO_SRC)
	touch server/gametap/v1/__init__.py server/gametap/q3/v1/__init__.py $@

# The viewer's npm packages (pinned in web/package-lock.json), served by the daemon.
web: $(WEB_STAMP)
$(WEB_STAMP): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund
	touch $@

# The preloaded library and the daemon's hot path (a Python extension in server/gametap/q3/);
# their generated headers need the venv and the generated protobuf modules.
native: $(NATIVE_STAMP)
$(NATIVE_STAMP): $(wildcard native/src/* native/hotpath/* native/include/*) native/exports.map native/Makefile \
		native/gen_headers.py server/gametap/q3/abi.py server/gametap/client/features.py $(PROTO_STAMP)
	$(MAKE) -C native PYTHON=$(CURDIR)/$(PY)
	touch $@

# make run GRPC=127.0.0.1:50052 HTTP=127.0.0.1:8081 ARGS="--config my.toml": other ports, more options.
GRPC ?= 127.0.0.1:50051
HTTP ?= 127.0.0.1:8080
run: setup
	$(VENV)/bin/gametap serve --state-dir .state --grpc $(GRPC) --http $(HTTP) $(ARGS)

test: setup
	$(MAKE) -C native test PYTHON=$(CURDIR)/$(PY)
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not game"

bench: setup
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev,bench]'
	$(PY) benchmarks/run.py

lint: setup
	$(VENV)/bin/ruff check server tests benchmarks

clean:
	rm -rf native/build server/gametap/v1 server/gametap/q3/v1 server/gametap/q3/_hotpath*.so web/node_modules .pytest_cache

# The systemd service (deploy/gametap.service) for this checkout: as root. deploy/install-service.sh
# refuses a checkout or interpreter the service cannot reach, writes the unit and the example
# settings (unless there are some), and starts it where systemd runs the machine.
install-service: setup
	deploy/install-service.sh $(CURDIR)
