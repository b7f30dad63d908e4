# delego-runner: the runner daemon and pairing CLI, and delego-relay.
# Plain GNU make. Knobs: BUILD=dir, V=1, SANITIZE=address,undefined,
# DEVELOPER=1 (on by default: -Werror), PREFIX/DESTDIR for install.
-include config.mak

VERSION    ?= 0.9.0
BUILD      ?= build
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
USERUNITDIR ?= $(PREFIX)/lib/systemd/user
PKG_CONFIG ?= pkg-config
CC         ?= cc
CFLAGS     ?= -O2 -g
DEVELOPER  ?= 1

UNAME_S := $(shell uname -s)
PLATFORM ?= $(if $(filter Darwin,$(UNAME_S)),darwin,linux)

RUNNER_PKGS := libuv libcurl libcjson yaml-0.1 nettle
RELAY_PKGS  := sqlite3 libmicrohttpd
TEST_PKGS   := check

DR_CPPFLAGS := -Iinclude -DDR_VERSION='"$(VERSION)"'
ifeq ($(PLATFORM),darwin)
DR_CPPFLAGS += -D_DARWIN_C_SOURCE
else
DR_CPPFLAGS += -D_GNU_SOURCE
AS_NEEDED   := -Wl,--as-needed
endif
DR_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wformat=2 -MMD -MP
ifeq ($(DEVELOPER),1)
DR_CFLAGS += -Werror
endif
ifdef SANITIZE
DR_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
DR_LDFLAGS += -fsanitize=$(SANITIZE)
endif

pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1))

ALL_CFLAGS  = $(DR_CPPFLAGS) $(CPPFLAGS) $(DR_CFLAGS) $(CFLAGS) $(call pc_cflags,$(RUNNER_PKGS))
RUNNER_LIBS = $(call pc_libs,$(RUNNER_PKGS)) -lm
RELAY_LIBS  = $(call pc_libs,$(RUNNER_PKGS) $(RELAY_PKGS)) -lm
TEST_LIBS   = $(call pc_libs,$(RUNNER_PKGS) $(RELAY_PKGS) $(TEST_PKGS)) -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC    := $(sort $(wildcard lib/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
RUNNER_CMD_SRC := $(sort $(wildcard cmd/delego-runner/*.c))
RUNNER_CMD_OBJ := $(RUNNER_CMD_SRC:%.c=$(BUILD)/%.o)
RELAY_SRC  := $(sort $(filter-out cmd/delego-relay/main.c,$(wildcard cmd/delego-relay/*.c)))
RELAY_OBJ  := $(RELAY_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

PROGRAMS := $(BUILD)/delego-runner $(BUILD)/delego-runner-exec $(BUILD)/delego-relay

.SECONDARY:
.PHONY: all tests check unit-check asan valgrind install uninstall demo deps clean bench fuzz
all: $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(call pc_cflags,$(RELAY_PKGS)) -c -o $@ $<

$(BUILD)/libdelego.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/librelay.a: $(RELAY_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/delego-runner: $(RUNNER_CMD_OBJ) $(BUILD)/libdelego.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(DR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(RUNNER_LIBS)

# The sandbox shim and the agents' supervisor: only what it uses of libdelego, which is libc alone.
# EXEC_STATIC=1 (Linux) links it statically: a supervisor's VmRSS goes from about 1.35 MiB to 0.85 MiB,
# but what it costs (Pss) goes up, from about 140-170 kB to 840 kB for one supervisor (226 kB each for
# five): its libc pages are no longer the ones every process shares. It would also no longer get glibc's
# security fixes with the system's, which distributions do not accept. Off by default
# (tests/bench/supervisor.sh).
ifeq ($(EXEC_STATIC),1)
EXEC_LINK = -static
else
EXEC_LINK = $(AS_NEEDED) $(RUNNER_LIBS)
endif
$(BUILD)/delego-runner-exec: $(BUILD)/cmd/delego-runner-exec/main.o $(BUILD)/libdelego.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(DR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(EXEC_LINK)

$(BUILD)/delego-relay: $(BUILD)/cmd/delego-relay/main.o $(BUILD)/librelay.a $(BUILD)/libdelego.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(DR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(RELAY_LIBS)

# Relay tests link the relay's modules; the others only libdelego.
$(BUILD)/tests/unit/test_relay_%: $(BUILD)/tests/unit/test_relay_%.o $(BUILD)/librelay.a $(BUILD)/libdelego.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(DR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libdelego.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(DR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/tests/helpers/%: $(BUILD)/tests/helpers/%.o $(BUILD)/libdelego.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(DR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(RUNNER_LIBS)

deps:
	$(Q)sh packaging/install-deps.sh

tests: $(PROGRAMS) $(UNIT_BIN) $(HELPER_BIN)

# The README's test command: installs what is missing, builds, runs every
# test, and ends with one line "N passed, N failed, N skipped".
check: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)BUILD=$(BUILD) sh tests/run.sh

unit-check: tests
	$(Q)BUILD=$(BUILD) DR_ONLY=unit sh tests/run.sh

asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address,undefined CFLAGS="-O1 -g" tests
	$(Q)BUILD=build-asan CK_TIMEOUT_MULTIPLIER=4 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 sh tests/run.sh

valgrind: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)BUILD=$(BUILD) DR_VALGRIND=1 DR_TESTS="$(DR_TESTS)" CK_TIMEOUT_MULTIPLIER=10 sh tests/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) sh tests/demo.sh

bench: all $(HELPER_BIN)
	$(Q)for b in tests/bench/*.sh; do BUILD=$(BUILD) sh $$b || exit 1; done

# --- fuzz: every tests/fuzz/fuzz_*.c under libFuzzer (needs clang) ---
# lib/ (and the relay's modules, for fuzz_relay_*) is rebuilt with clang,
# fuzzer coverage and ASan/UBSan into $(BUILD)-fuzz/; each harness links
# those archives and runs for FUZZ_SECONDS
# on a scratch copy of its seeds (tests/fuzz/corpus/<name>/ stays as it
# is). Every harness runs; any crash, leak, timeout or sanitizer report
# fails the target at the end, with the reproducer and the log left in
# $(BUILD)-fuzz/. See tests/fuzz/README.md.
.PHONY: fuzz-cc
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := $(BUILD)-fuzz
FUZZ_CFLAGS  := $(DR_CPPFLAGS) $(CPPFLAGS) $(DR_CFLAGS) -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all \
		$(call pc_cflags,$(RUNNER_PKGS))
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/lib/%.o: lib/%.c | fuzz-cc
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/libdelego.a: $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/cmd/delego-relay/%.o: cmd/delego-relay/%.c | fuzz-cc
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(call pc_cflags,$(RELAY_PKGS)) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/librelay.a: $(RELAY_SRC:%.c=$(FUZZ_BUILD)/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

# The relay's harnesses link its modules (the HTTP server and the panel stay out: nothing calls them).
$(FUZZ_BUILD)/fuzz_relay_%: tests/fuzz/fuzz_relay_%.c $(FUZZ_BUILD)/librelay.a $(FUZZ_BUILD)/libdelego.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(call pc_cflags,$(RELAY_PKGS)) -fsanitize=fuzzer,address,undefined -o $@ $< \
		$(FUZZ_BUILD)/librelay.a $(FUZZ_BUILD)/libdelego.a $(RELAY_LIBS)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libdelego.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_BUILD)/libdelego.a $(RUNNER_LIBS)

fuzz-cc:
	$(Q)command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) not found (sh packaging/install-deps.sh clang)"; exit 1; }

fuzz: $(FUZZ_BIN)
	$(Q)failed=""; for b in $(FUZZ_BIN); do \
	  name=$${b##*/fuzz_}; work=$(FUZZ_BUILD)/work-$$name; log=$(FUZZ_BUILD)/$$name.log; \
	  rm -rf $$work && mkdir -p $$work; \
	  if [ -d tests/fuzz/corpus/$$name ]; then cp -R tests/fuzz/corpus/$$name/. $$work/; fi; \
	  if $$b -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	      -artifact_prefix=$(FUZZ_BUILD)/$$name- $$work >$$log 2>&1; then \
	    echo "  FUZZ    $$name: $$(grep -o 'Done [0-9]* runs in [0-9]* second' $$log | tail -n 1)s, corpus $$(ls $$work | wc -l) inputs"; \
	  else \
	    tail -n 30 $$log | sed 's/^/  | /'; echo "  FUZZ    $$name: FAILED, see $$log"; failed="$$failed $$name"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
# --- end of fuzz block ---

# --- check-portable: the core against macOS's selection (owned by the macOS port) ---
# There is no macOS SDK here, so two approximations, both run on Linux:
#  1. Every lib/*.c except the Linux-only backends (PORTABLE_LINUX_ONLY)
#     is compiled with clang, -std=c11, __linux__ undefined, the macOS
#     selection (-DDR_PLATFORM_DARWIN: the launchd backend instead of
#     systemd; notify.c and journal.c take their non-Linux branches), and
#     glibc limited to POSIX 2008 + XSI + BSD (_XOPEN_SOURCE=700,
#     _DEFAULT_SOURCE, no _GNU_SOURCE), with
#     -Werror=implicit-function-declaration. A GNU-only function (pipe2,
#     accept4, dup3, ppoll, strchrnul, mempcpy, secure_getenv, ...) or
#     macro (O_PATH, O_TMPFILE) is an error. BSD functions that macOS has
#     and glibc hides behind _GNU_SOURCE (strcasestr, memmem, asprintf) are
#     declared by include/delego/platform.h under DR_PORTABLE_CHECK.
#  2. Linux headers still declare Linux-only calls whatever the feature
#     macros (epoll, prctl, getrandom, SOCK_CLOEXEC, MSG_NOSIGNAL,
#     eventfd, ...), and /proc or /sys reads compile anywhere. So each file
#     is also preprocessed the same way and the lines that come from lib/
#     and include/delego/ (comments gone, __linux__ blocks dropped) are
#     searched for those names and for "/proc/" and "/sys/" strings.
#     Findings listed in PORTABLE_WAIVE (file:text) are printed but do not
#     fail; remove a waiver once its file is fixed.
# What it cannot catch: a call macOS lacks that glibc declares in POSIX or
# BSD mode without being in the list of 2; different behaviour behind the
# same name (O_DIRECTORY, fsync without F_FULLFSYNC, SIGPIPE on sockets,
# qsort_r's argument order); Apple headers that need includes glibc's
# headers pull in for free. Code under #ifdef __APPLE__ is compiled once more
# with __APPLE__ defined against the stand-in headers in tests/portable/apple
# (Apple's declarations, copied): that checks names and types, not behaviour.
# It also links $(BUILD)/darwin-sim/delego-runner: the runner with the
# launchd backend on Linux, which tests/integration/t650-launchd.sh drives
# against a stand-in launchctl.
.PHONY: check-portable darwin-sim
PORTABLE_CC         ?= clang
PORTABLE_LINUX_ONLY := lib/service_systemd.c
PORTABLE_SRC        := $(filter-out $(PORTABLE_LINUX_ONLY),$(LIB_SRC))
PORTABLE_WAIVE      ?= lib/doctor.c:/proc/self/cgroup lib/doctor.c:/sys/fs/cgroup lib/proc_spawn.c:/proc/self/fd
PORTABLE_FLAGS      := -std=c11 -Iinclude -DDR_VERSION='"$(VERSION)"' -U__linux__ -U__linux -U__gnu_linux__ -Ulinux \
		-D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -D_DARWIN_C_SOURCE -DDR_PLATFORM_DARWIN -DDR_PORTABLE_CHECK \
		-include include/delego/platform.h -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
		-Wformat=2 -Werror -Werror=implicit-function-declaration $(call pc_cflags,$(RUNNER_PKGS))
PORTABLE_LINUX_NAMES := pipe2|accept4|dup3|ppoll|epoll_[a-z_]+|signalfd|eventfd|inotify_[a-z_0-9]+|timerfd_[a-z]+|prctl|PR_SET_[A-Z_]+|getrandom|memfd_create|sendfile|splice|copy_file_range|renameat2|statx|syncfs|fallocate|sched_setaffinity|unshare|setns|getauxval|gettid|get_current_dir_name|canonicalize_file_name|secure_getenv|euidaccess|strchrnul|mempcpy|program_invocation_name|program_invocation_short_name|SOCK_CLOEXEC|SOCK_NONBLOCK|MSG_NOSIGNAL|O_PATH|O_TMPFILE|O_NOATIME|CLOCK_BOOTTIME|SO_PEERCRED|sd_notify|sd_listen_fds

check-portable: darwin-sim
	$(Q)command -v $(PORTABLE_CC) >/dev/null || { echo "check-portable: $(PORTABLE_CC) not found (sh packaging/install-deps.sh clang)"; exit 1; }
	$(Q)bad=0; for f in $(PORTABLE_SRC); do \
	  $(PORTABLE_CC) $(PORTABLE_FLAGS) -fsyntax-only $$f || { echo "check-portable: $$f does not compile for macOS (above)"; bad=1; }; \
	  if grep -q __APPLE__ $$f; then $(PORTABLE_CC) $(PORTABLE_FLAGS) -D__APPLE__ -Itests/portable/apple -fsyntax-only $$f || \
	    { echo "check-portable: the __APPLE__ branches of $$f do not compile against tests/portable/apple (above)"; bad=1; }; fi; \
	  $(PORTABLE_CC) $(PORTABLE_FLAGS) -E $$f 2>/dev/null | awk -v waive="$(PORTABLE_WAIVE)" ' \
	    /^# [0-9]+ "/ { line = $$2; file = $$3; gsub(/"/, "", file); ours = file ~ /^(lib|include\/delego)\//; next } \
	    { if (ours && ($$0 ~ /(^|[^A-Za-z0-9_])($(PORTABLE_LINUX_NAMES))([^A-Za-z0-9_]|$$)/ || $$0 ~ /"\/(proc|sys)\//)) { \
	        w = 0; n = split(waive, ws, " "); \
	        for (i = 1; i <= n; i++) { k = index(ws[i], ":"); \
	          if (substr(ws[i], 1, k - 1) == file && index($$0, substr(ws[i], k + 1))) w = 1 } \
	        gsub(/^[ \t]+/, ""); \
	        printf "%s:%d: %s: %s\n", file, line, w ? "waived (PORTABLE_WAIVE)" : "Linux-only in portable code", $$0; \
	        if (!w) found = 1 } \
	      line++ } \
	    END { exit found }' || bad=1; \
	done; \
	if [ $$bad -ne 0 ]; then echo "check-portable: FAILED: move Linux-only calls behind #ifdef __linux__ in their module"; exit 1; fi; \
	echo "check-portable: $(words $(PORTABLE_SRC)) modules compile for macOS; darwin-sim runner built"

DARWIN_SIM := $(BUILD)/darwin-sim
$(DARWIN_SIM)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (launchd backend)")
	$(Q)$(CC) $(ALL_CFLAGS) -DDR_PLATFORM_DARWIN -c -o $@ $<

$(DARWIN_SIM)/delego-runner: $(RUNNER_CMD_SRC:%.c=$(DARWIN_SIM)/%.o) $(PORTABLE_SRC:%.c=$(DARWIN_SIM)/%.o)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(DR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(RUNNER_LIBS)

darwin-sim: $(DARWIN_SIM)/delego-runner
# --- end of check-portable block ---

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/delego-runner $(BUILD)/delego-runner-exec $(BUILD)/delego-relay $(DESTDIR)$(BINDIR)/
	for m in man/*.1; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/ || true; done
	for m in man/*.5; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/ || true; done
	for m in man/*.7; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man7/ || true; done
	for m in man/*.8; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/ || true; done
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d \
		$(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/vendor-completions \
		$(DESTDIR)$(SYSCONFDIR)/delego-runner
	sed 's|/usr/bin/delego-runner|$(BINDIR)/delego-runner|' systemd/delego-runner@.service \
		>$(DESTDIR)$(UNITDIR)/delego-runner@.service && chmod 0644 $(DESTDIR)$(UNITDIR)/delego-runner@.service
	install -m 0644 systemd/delego-runner.sysusers.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/delego-runner.conf
	install -m 0644 systemd/delego-runner.tmpfiles.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/delego-runner.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/delego-runner/config.yaml ] || \
		install -m 0644 systemd/config.yaml $(DESTDIR)$(SYSCONFDIR)/delego-runner/config.yaml
	install -m 0644 packaging/completions/delego-runner.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/delego-runner
	install -m 0644 packaging/completions/_delego-runner $(DESTDIR)$(DATADIR)/zsh/vendor-completions/_delego-runner

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/delego-runner $(DESTDIR)$(BINDIR)/delego-runner-exec $(DESTDIR)$(BINDIR)/delego-relay
	rm -f $(DESTDIR)$(MANDIR)/man1/delego-runner.1 $(DESTDIR)$(MANDIR)/man5/delego-runner.yaml.5 \
		$(DESTDIR)$(MANDIR)/man7/delego-runner-protocol.7 $(DESTDIR)$(MANDIR)/man8/delego-relay.8

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- delego-relay: the Runners panel and its libraries (owned by the relay) ---
# The panel's files (cmd/delego-relay/panel/*) are embedded into the relay:
# the rule below turns each into a C byte array with od and sed (no xxd),
# compiled into librelay.a beside the relay's modules. The relay also links
# GNU Nettle for SHA-256 and HMAC (libmicrohttpd-dev -> libgnutls28-dev ->
# nettle-dev, so install-deps already brings it).
PANEL_FILES := $(sort $(wildcard cmd/delego-relay/panel/*))
RELAY_LIBS  += $(call pc_libs,nettle)
TEST_LIBS   += $(call pc_libs,nettle)

$(BUILD)/gen/panel_assets.c: $(PANEL_FILES) Makefile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GEN     $@")
	$(Q){ echo '/* Generated from cmd/delego-relay/panel/ by the Makefile; do not edit. */'; \
	  echo '#include "panel.h"'; i=0; \
	  for f in $(PANEL_FILES); do \
	    echo "static const unsigned char asset$$i[] = {"; \
	    od -An -v -tx1 "$$f" | sed -e 's/  */ /g' -e 's/^ //' -e '/^$$/d' -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	    echo '0x00 };'; i=$$((i+1)); \
	  done; \
	  echo 'const struct relay_panel_asset relay_panel_assets[] = {'; i=0; \
	  for f in $(PANEL_FILES); do \
	    echo "  { \"$$(basename $$f)\", asset$$i, sizeof(asset$$i) - 1 },"; i=$$((i+1)); \
	  done; \
	  echo '  { 0, 0, 0 } };'; } >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/panel_assets.o: $(BUILD)/gen/panel_assets.c cmd/delego-relay/panel.h
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Icmd/delego-relay -c -o $@ $<

$(BUILD)/librelay.a: $(BUILD)/gen/panel_assets.o
# --- end of delego-relay block ---
