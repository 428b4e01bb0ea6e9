VENV ?= .venv
PY := $(VENV)/bin/python
RD := $(VENV)/bin/replydesk
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(RD) migrate
	$(RD) ingest samples/knowledge samples/guidelines
	$(RD) load-messages samples/messages.jsonl
	@echo "Admin API key (shown once):"
	@$(RD) keys create --role admin --name make-run
	@echo "Console: http://$(HOST):$(PORT)/  (sign in with the key above)"
	@echo "API: http://$(HOST):$(PORT)/v1  (try: curl -s http://$(HOST):$(PORT)/healthz)"
	$(RD) serve --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
