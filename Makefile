# Set-up is part of every target: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint install browser android-tools thai-font clean

# pip's output goes to .venv/install.log and is shown only when the install fails.
$(STAMP): pyproject.toml
	@echo "installing into $(VENV) (log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[test]'; } > $(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; echo "make: installing the project failed" >&2; exit 2; }
	@touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tier (never `playwright install`: it downloads a browser).
# Quiet and idempotent: nothing happens when it is there; apt's output is shown only on failure.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "browser tests need Debian's chromium: sudo make browser (or sudo apt-get install chromium)" >&2; \
	  elif ! command -v apt-get >/dev/null 2>&1; then \
	    echo "browser tests need Chromium at $(CHROMIUM); apt-get not found to install it" >&2; \
	  else \
	    log=$$(mktemp); \
	    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$$log" 2>&1 \
	      && test -x $(CHROMIUM); then rm -f "$$log"; \
	    else cat "$$log" >&2; rm -f "$$log"; echo "make browser: installing chromium failed" >&2; exit 1; fi; \
	  fi; }

# Rebuild reports/fonts/loma-thai.woff2 (the Thai font embedded in HTML reports) from Debian's
# TLWG Loma with fontTools. The subset is committed: reports and tests need neither.
LOMA := /usr/share/fonts/truetype/tlwg/Loma.ttf
thai-font: $(STAMP)
	@test -f $(LOMA) || { \
	  log=$$(mktemp); \
	  if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-tlwg-loma-ttf; } >"$$log" 2>&1; \
	  then rm -f "$$log"; else cat "$$log" >&2; rm -f "$$log"; echo "make thai-font: installing fonts-tlwg-loma-ttf failed" >&2; exit 1; fi; }
	@$(BIN)/pip install -q -e '.[fonts]'
	@$(BIN)/python reports/fonts/build_thai_subset.py

# Debian's Android build tools, with which the tests and bench/apps_speed.py build real APKs
# from smali sources (tests/apkbuild.py); apksigner brings a JRE and keytool. Same pattern as
# `browser`: nothing happens when they are there; apt's output is shown only on failure.
ANDROID_TOOLS := /usr/bin/smali /usr/bin/aapt /usr/bin/zipalign /usr/bin/apksigner /usr/bin/keytool
android-tools:
	@missing=""; for tool in $(ANDROID_TOOLS); do test -x $$tool || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "APK tests need Debian's Android tools (missing:$$missing): sudo make android-tools" \
	         "(or sudo apt-get install libsmali-java aapt zipalign apksigner default-jre-headless)" >&2; \
	  elif ! command -v apt-get >/dev/null 2>&1; then \
	    echo "APK tests need$$missing; apt-get not found to install them" >&2; \
	  else \
	    log=$$(mktemp); \
	    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	           libsmali-java aapt zipalign apksigner default-jre-headless; } >"$$log" 2>&1; then rm -f "$$log"; \
	    else cat "$$log" >&2; rm -f "$$log"; echo "make android-tools: installing the Android tools failed" >&2; exit 1; fi; \
	  fi; \
	fi

demo: $(STAMP) android-tools
	$(BIN)/scanner demo --db demo/results.db --report demo/report.html

test: $(STAMP) browser android-tools
	$(BIN)/python -m pytest -q

bench: $(STAMP) android-tools
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/rules_speed.py
	$(BIN)/python bench/crawl_speed.py $(CRAWL_BENCH)
	$(BIN)/python bench/storage_growth.py $(STORAGE_BENCH)
	$(BIN)/python bench/memory.py $(MEMORY_BENCH)
	$(BIN)/python bench/score_spread.py
	$(BIN)/python bench/apps_speed.py
	$(BIN)/python bench/scrapyd_nodes.py

# ruff's rules are chosen in pyproject.toml ([tool.ruff.lint]); ruff comes with the test extra.
lint: $(STAMP)
	$(BIN)/ruff check scanner spiders reports bench tests

clean:
	rm -rf $(VENV) demo/results.db* demo/report.html
