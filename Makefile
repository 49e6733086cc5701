# berth: one non-recursive Makefile. `make` builds build/berth; `make check` is the test
# command CI runs. Variants build into their own directory (O=...), so a sanitized build
# never mixes objects with the release one.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
O         ?= build
SANITIZE  ?=
CC        ?= cc
PYTHON    ?= /usr/bin/python3

PKGS      := jansson yaml-0.1 libcurl libgit2 libpcre2-8 zlib
WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wvla -Wimplicit-fallthrough -Wno-format-nonliteral
HARDEN    := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -fcf-protection
CFLAGS    ?= -O2 -g
# The libraries' flags are asked for when a recipe runs (`=`, not `:=`): `make demo` and
# `make check` install the libraries (deps) in the same run, after make has read this file.
# One include root: a header is named by its folder, "base/log.h" under runner/ and
# "executors/executor.h" from the top.
INCLUDES  := -Irunner -I.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) $(INCLUDES) \
             -DBERTH_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS))
TIDY_FLAGS = -std=c11 -D_GNU_SOURCE $(INCLUDES) -DBERTH_VERSION='"$(VERSION)"'
# libcurl, libgit2 and PCRE2 are compiled against but loaded on first use (runner/base/dl.c), not
# linked: every exec of `berth run` would pay for mapping them and the dozen libraries the
# first two pull in.
LDLIBS     = $(shell pkg-config --libs $(filter-out libcurl libgit2 libpcre2-8,$(PKGS)) 2>/dev/null) -ldl
LDFLAGS   ?= -pie -Wl,-z,relro,-z,now

ifneq ($(SANITIZE),)
  CFLAGS  := -O1 -g -fno-omit-frame-pointer
  ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=$(SANITIZE)
else
  ALL_CFLAGS += $(HARDEN)
endif

# The source folders (docs/hacking.md has the map); every module but main.c goes into LIB_OBJ,
# which the unit tests and fuzz targets link against.
SRC_DIRS := runner $(wildcard runner/*/) executors
C_SRC    := $(foreach d,$(SRC_DIRS),$(wildcard $(d:/=)/*.c))
C_HDR    := $(foreach d,$(SRC_DIRS),$(wildcard $(d:/=)/*.h))
LIB_SRC := $(filter-out runner/main.c,$(C_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
BIN     := $(O)/berth
# Unit tests sit in the folder of the module they test: tests/unit/base/test_log.c tests
# runner/base/log.c; each includes tests/unit/unit.h.
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)

.PHONY: all deps deps-build fresh-debian check unit e2e infra terraform-check ansible-check package-check layers-check lint demo bench install deb clean kube-apiserver fuzz
all: $(BIN)

# -MMD -MP: each object depends on the headers it includes (build/**/*.d), not on all of them.
$(O)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BIN): $(O)/runner/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIB_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -MMD -MP -MF $@.d -MT $@ $(LDFLAGS) -o $@ $(filter %.c %.o,$^) \
	  $(LDLIBS) -lcmocka

# libFuzzer targets (tests/fuzz/fuzz_<target>.c, seeds in tests/fuzz/corpus/<target>/), built
# with clang into build/fuzz; scripts/fuzz.sh runs each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/fuzz/%)

$(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -MF $@.d -MT $@ $(LDFLAGS) -fsanitize=fuzzer -o $@ \
	  $(filter %.c %.o,$^) $(LDLIBS)

fuzz:
	$(MAKE) O=build/fuzz CC=clang SANITIZE=fuzzer-no-link,address,undefined \
	  $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/fuzz/%)
	@scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

# Installs the Debian packages the build and the tests need; a no-op when all are present.
# deps-build is only what `make` and `make demo` need (scripts/deps.sh says which).
deps: deps-build
	@scripts/deps.sh all
deps-build:
	@scripts/deps.sh build

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

e2e: $(BIN)
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q tests/e2e

# The test command: deps, a sanitized build, unit and e2e tests against it, lint. The release
# build is made too: the freed-memory test cannot run under ASan.
check: deps kube-apiserver
	$(MAKE) all
	$(MAKE) O=build/san SANITIZE=address,undefined all unit e2e
	$(MAKE) infra
	$(MAKE) lint
	$(MAKE) fuzz FUZZ_SECONDS=10

# The README's first command on a fresh Debian 12 (a cached minbase root under /var/cache/berth,
# chroot): `make demo` as a user with sudo on a clone of HEAD, then the .deb installed with apt
# and one job through it, then what `make check` needs (scripts/fresh-debian.sh). Root only.
fresh-debian:
	@scripts/fresh-debian.sh

# The fleet and the package (tests/infra): terraform/, ansible/ and `make deb`; and the
# layering check's own test.
infra: terraform-check ansible-check package-check layers-check
layers-check:
	$(PYTHON) -m pytest -q tests/infra/test_layers.py
terraform-check:
	$(PYTHON) -m pytest -q tests/infra/test_terraform.py
ansible-check: $(BIN)
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q tests/infra/test_ansible.py
package-check: $(BIN)
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q tests/infra/test_package.py

# A real Kubernetes API server for the e2e tests, built once from Debian's source into
# /var/cache/berth (about 5 minutes the first time, a no-op after).
kube-apiserver:
	@scripts/kube-apiserver.sh >/dev/null

# The layers: docs/hacking.md's table, checked by scripts/check-layers.py; the Deckhouse
# manifests in examples/monitoring/deckhouse/, generated from the plain dashboard and rules.
lint:
	$(PYTHON) scripts/check-layers.py
	$(PYTHON) scripts/metrics-table.py --check docs/operations.md
	$(PYTHON) scripts/monitoring-manifests.py --check
	clang-format --dry-run --Werror $(C_SRC) $(C_HDR) tests/unit/*.h tests/unit/*/*.c tests/fuzz/*.[ch]
	shellcheck scripts/*.sh tests/bench/reference/*.sh examples/kubernetes/*.sh
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem $(INCLUDES) runner executors
	@# clang-tidy counts suppressed system-header warnings on stderr; findings go to stdout.
	clang-tidy --quiet $(C_SRC) -- $(TIDY_FLAGS) 2>/dev/null

# The build runs in a make of its own, after deps-build: plain `make` never installs anything.
# scripts/demo.sh: one job through `berth exec` (as root, as the job user berth-job-1), then
# the seed's pipeline and a dry run of its deploy.
demo: deps-build
	$(MAKE) $(BIN)
	@scripts/job-users.sh 1
	BERTH_BIN=$(abspath $(BIN)) scripts/demo.sh

# The benchmarks (docs/performance.md); not part of `make check`. A failed target stops the
# run where its script exits 1 (bench_werf.py, bench_cleanup.py), so those run last.
bench: deps $(BIN)
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench.py
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench_login.py
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench_locks.py
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench_pipeline.py
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench_prune.py
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench_werf.py
	BERTH_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/bench_cleanup.py

# A Debian package of the release build (scripts/deb.sh): the stripped binary, man page,
# conffiles, gc timer, maintainer scripts; VERSION here is the package's version.
deb: $(BIN)
	@scripts/deb.sh $(BIN) $(VERSION) $(O)

# What the .deb installs, under DESTDIR and PREFIX. The gc units go to UNITDIR, on systemd's
# search path both for PREFIX=/usr/local and PREFIX=/usr (the same as /lib/systemd/system on
# merged-/usr Debian), their ExecStart rewritten to this PREFIX's berth; enabling the timer is
# the admin's step (docs/gc.md). So does the drop-in that delegates GitLab Runner's cgroup to
# berth (gitlab-runner.service.d/berth-cgroup.conf, docs/operations.md). The settings and the
# logrotate rule go to /etc whatever the PREFIX (berth and logrotate look only there), and only
# when absent: an admin's file is never replaced. The settings' metrics_dir is made too.
UNITDIR ?= $(PREFIX)/lib/systemd/system
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/berth
	install -D -m 0644 docs/berth.1 $(DESTDIR)$(PREFIX)/share/man/man1/berth.1
	install -D -m 0644 examples/berth.yaml $(DESTDIR)$(PREFIX)/share/doc/berth/berth.yaml.example
	install -D -m 0644 LICENSE $(DESTDIR)$(PREFIX)/share/doc/berth/LICENSE
	install -D -m 0644 packaging/berth.bash-completion \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/berth
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|^ExecStart=/usr/bin/berth |ExecStart=$(PREFIX)/bin/berth |' packaging/berth-gc.service \
	  > $(DESTDIR)$(UNITDIR)/berth-gc.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/berth-gc.service
	install -m 0644 packaging/berth-gc.timer $(DESTDIR)$(UNITDIR)/berth-gc.timer
	install -D -m 0644 packaging/berth-cgroup.conf \
	  $(DESTDIR)$(UNITDIR)/gitlab-runner.service.d/berth-cgroup.conf
	install -d -m 0755 $(DESTDIR)/var/lib/prometheus/node-exporter
	@set -e; install -d -m 0755 $(DESTDIR)/etc/berth $(DESTDIR)/etc/logrotate.d; \
	for f in "examples/berth.yaml 0640 /etc/berth/berth.yaml" \
	         "packaging/berth.logrotate 0644 /etc/logrotate.d/berth"; do \
	  set -- $$f; \
	  if [ -e "$(DESTDIR)$$3" ]; then echo "keeping $(DESTDIR)$$3: not replaced"; \
	  else echo "install -m $$2 $$1 $(DESTDIR)$$3"; install -m $$2 $$1 "$(DESTDIR)$$3"; fi; \
	done

clean:
	rm -rf build

# The header dependencies the compiler wrote (-MMD); absent before the first build.
-include $(LIB_OBJ:.o=.d) $(O)/runner/main.d $(UNIT_BIN:=.d) $(FUZZ_BIN:=.d)
