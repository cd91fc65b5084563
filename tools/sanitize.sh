#!/usr/bin/env bash
# make sanitize: build deepbmc with AddressSanitizer + UndefinedBehaviorSanitizer
# into a separate library and run the testthat suite under the sanitizer
# runtime. Fails (non-zero exit) on any sanitizer report, and also when the
# positive controls are NOT reported (a broken setup must not pass silently).
#
#   tools/sanitize.sh            (or: make sanitize)
#
# Environment:
#   SANITIZE_DIR      work directory (default .sanitize: lib/, build/, logs/, tests.log)
#   SANITIZE_TESTS    regex of test files to run, matched against the name
#                     without "test-" and ".R" (default: all)
#   SANITIZE_EXCLUDE  regex of test files to leave out (default "^stan-": those
#                     compile and run rstan programs, not deepbmc's C++, and
#                     would run the C++ compiler with the runtime preloaded)
#   SANITIZE_OPT_FLAGS  optimisation flags (default "-g -O1 -D_GLIBCXX_ASSERTIONS")
#   DEEPBMC_TEST_TIER the test tier (default "fast"; tests/testthat/helper-tier.R):
#                     the full tier's long training runs exercise the same
#                     C++ paths as the fast tier's properties, 10-50 times slower
#   JOBS, R, RSCRIPT  as in the Makefile
#
# How (R 4.2 on Debian, gcc): R's own binary is not instrumented, so the gcc
# runtimes libasan and libubsan are put in front of it with LD_PRELOAD. The
# package is compiled through a private R_MAKEVARS_USER file (src/Makevars is
# not touched) and installed with --no-test-load (loading it in R CMD INSTALL
# would fail without the preloaded runtime). Sanitizer output goes to files
# (log_path) in $SANITIZE_DIR/logs, one per process, which are checked at the
# end: any log file at all fails the run. Tests run code in child R processes
# (test-core-errors.R) whose exit status and stderr the suite turns into an
# ordinary test result, so the exit status of the test run alone would not
# see every report; the test output is also searched for reports.
# No suppressions: none were needed (TBB, Rcpp, Eigen and R gave no false
# positives with R 4.2.2, gcc 12.2, oneTBB 2021.8 on Debian 12).
# Development helper only (tools/ is excluded by .Rbuildignore).
set -euo pipefail
cd "$(dirname "$0")/.."

R=${R:-R}
RSCRIPT=${RSCRIPT:-Rscript}
JOBS=${JOBS:-2}
san_dir=${SANITIZE_DIR:-.sanitize}
mkdir -p "$san_dir"
san_dir=$(cd "$san_dir" && pwd)
lib=$san_dir/lib
build=$san_dir/build
logs=$san_dir/logs
tests_log=$san_dir/tests.log
export SANITIZE_TESTS=${SANITIZE_TESTS:-}
export SANITIZE_EXCLUDE=${SANITIZE_EXCLUDE-^stan-}
export DEEPBMC_TEST_TIER=${DEEPBMC_TEST_TIER:-fast}

# At most 2 threads (TBB via RcppParallel, OpenMP, BLAS), as in the Makefile.
export RCPP_PARALLEL_NUM_THREADS=${RCPP_PARALLEL_NUM_THREADS:-2}
export OMP_THREAD_LIMIT=${OMP_THREAD_LIMIT:-2} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

say() { echo "make sanitize: $*"; }
die() { echo "make sanitize: FAILED: $*" >&2; exit 1; }
start=$SECONDS
elapsed() { echo "$((SECONDS - start)) s"; }

# ---- the sanitizer runtimes -------------------------------------------------
cc=$("$R" CMD config CC | awk '{print $1}')
runtime() {
  local path
  path=$("$cc" -print-file-name="$1")
  # -print-file-name prints the bare name when it finds nothing
  [ "$path" != "$1" ] && [ -e "$path" ] || die "$cc cannot find $1 (install the gcc sanitizer runtimes)"
  readlink -f "$path"
}
libasan=$(runtime libasan.so)
libubsan=$(runtime libubsan.so)
say "runtimes $libasan $libubsan"

# ---- compiler flags (private Makevars) --------------------------------------
# -fsanitize=float-cast-overflow: float-to-integer conversions out of range
# (undefined behaviour that gcc's -fsanitize=undefined leaves out).
# -fno-sanitize-recover=undefined: a UBSan report ends the process (ASan's
# always do), so it cannot scroll past. -D_GLIBCXX_ASSERTIONS: bounds checks
# in libstdc++ (vector::operator[] past size() but inside capacity(), which
# ASan cannot see); a failure aborts. -O1 keeps usable stack traces (-O2 was
# only ~20% faster here). No -D_FORTIFY_SOURCE: the fortified string
# functions bypass ASan's interceptors.
san_flags="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer"
opt_flags=${SANITIZE_OPT_FLAGS:-"-g -O1 -D_GLIBCXX_ASSERTIONS"}
makevars=$san_dir/Makevars
cxx=$("$R" CMD config CXX17 | awk '{print $1}')
{
  echo "# Written by tools/sanitize.sh; used through R_MAKEVARS_USER."
  for v in CC; do echo "$v = $cc $san_flags"; done
  for v in CXX CXX11 CXX14 CXX17; do echo "$v = $cxx $san_flags"; done
  for v in CFLAGS CXXFLAGS CXX11FLAGS CXX14FLAGS CXX17FLAGS; do echo "$v = $opt_flags"; done
} > "$makevars"

# The runtime for every R process started from here on (children inherit it).
# ASAN_OPTIONS:
#   detect_leaks=0          R does not free everything at exit (not our bugs)
#   detect_odr_violation=0  R packages legitimately share symbol names
#   halt_on_error=1, abort_on_error=0: stop at the first report, exit code 1
#   allow_user_segv_handler=0: ASan, not R's "caught segfault" handler, reports
#                           a SIGSEGV, with a stack trace
#   handle_abort=1          ASan reports a SIGABRT, with a stack trace (see below)
#   log_path                one file per process (san.<pid>) in the log directory
# UBSAN_OPTIONS: print_stacktrace=1, halt_on_error=1, and abort_on_error=1:
#   gcc's libubsan and libasan each keep their own report file, but both set
#   it through the one exported __sanitizer_set_report_path, which resolves to
#   libasan's copy: UBSan's own text therefore always goes to stderr, and tests
#   send the stderr of child R processes to /dev/null. So a UBSan report ends
#   with abort(), which ASan reports in the log file (its stack trace names
#   the function and line of the undefined behaviour); the same log_path for
#   both runtimes keeps that file in the log directory whichever path wins.
run_sanitized() {
  local dir=$1
  shift
  mkdir -p "$dir"
  env LD_PRELOAD="$libasan $libubsan" \
    ASAN_OPTIONS="detect_leaks=0:detect_odr_violation=0:halt_on_error=1:abort_on_error=0:allow_user_segv_handler=0:handle_abort=1:log_path=$dir/san" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:report_error_type=1:log_path=$dir/san" \
    "$@"
}

# Sanitizer reports (and R's own crash messages) in an output file.
report_pattern='ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer|runtime error:|AddressSanitizer:DEADLYSIGNAL|caught segfault|caught illegal operation|caught bus error|Assertion .+ failed'

rm -rf "$logs" "$build"
mkdir -p "$logs" "$build" "$lib"

# ---- positive controls ------------------------------------------------------
# Compiled with the same Makevars and run under the same runtime, each in its
# own R process: each must end with a non-zero exit status AND leave the
# expected report in its log directory.
say "positive controls"
ctl=$build/controls
mkdir -p "$ctl"
cp tools/sanitize-controls.cpp "$ctl/controls.cpp"
echo 'PKG_LIBS = -pthread' > "$ctl/Makevars"
(cd "$ctl" && R_MAKEVARS_USER="$makevars" "$R" CMD SHLIB -o controls.so controls.cpp > shlib.log 2>&1) ||
  { cat "$ctl/shlib.log"; die "cannot compile the positive controls: the sanitizer setup is broken"; }
readelf -d "$ctl/controls.so" | grep -q 'NEEDED.*libasan' ||
  die "controls.so does not link libasan: the flags in $makevars were not used"

# control name | text its log file must contain (besides a frame in
# controls.cpp) | text its stderr must contain (UBSan's message)
controls=(
  "heap_overflow|ERROR: AddressSanitizer: heap-buffer-overflow|"
  "thread_overflow|ERROR: AddressSanitizer: heap-buffer-overflow|"
  "signed_overflow|__ubsan_handle_add_overflow_abort|runtime error: signed integer overflow"
  "thread_signed_overflow|__ubsan_handle_add_overflow_abort|runtime error: signed integer overflow"
  "misaligned|__ubsan_handle_type_mismatch|runtime error: load of misaligned address"
  "float_cast|__ubsan_handle_float_cast_overflow_abort|is outside the range of representable values"
  "vector_index|ERROR: AddressSanitizer: ABRT|Assertion '__n < this->size()' failed"
)
controls_ok=1
for control in "${controls[@]}"; do
  IFS="|" read -r name in_log in_stderr <<< "$control"
  dir=$logs/control-$name
  out=$ctl/$name.out
  status=0
  run_sanitized "$dir" "$RSCRIPT" --vanilla -e \
    "dyn.load('$ctl/controls.so'); invisible(.Call('control_$name', 1L)); cat('control returned\n')" \
    > "$out" 2>&1 || status=$?
  log=$(cat "$dir"/* 2> /dev/null || true)
  if [ "$status" -ne 0 ] && grep -qF "$in_log" <<< "$log" && grep -qF "controls.cpp:" <<< "$log" &&
    { [ -z "$in_stderr" ] || grep -qF "$in_stderr" "$out"; }; then
    say "  control $name: reported (exit $status):"
    { grep -m 1 -E 'runtime error:|Assertion' "$out" | sed 's/^.*: Assertion/Assertion/' || true; grep -h -m 1 -F 'ERROR: AddressSanitizer' "$dir"/*; } |
      sed -e 's/^==[0-9]*==/    /' -e 's/^[^ ]/    &/' -e 's/ on address.*//' -e 's/ on unknown address.*//' 
  else
    controls_ok=0
    say "  control $name: NOT reported (exit $status; log must contain \"$in_log\", stderr \"$in_stderr\"); output:"
    cat "$out" "$dir"/* 2> /dev/null || true
  fi
done
[ "$controls_ok" -eq 1 ] || die "a positive control was not reported: the sanitizer setup is broken"
say "controls done after $(elapsed)"

# ---- build and install ------------------------------------------------------
# From a copy, so that object files of a normal build in src/ are neither
# reused here nor overwritten.
say "building deepbmc with $san_flags into $lib"
pkg=$build/deepbmc
mkdir -p "$pkg"
for f in DESCRIPTION NAMESPACE R src inst man data; do
  if [ -e "$f" ]; then cp -R "$f" "$pkg/"; fi
done
rm -f "$pkg"/src/*.o "$pkg"/src/*.so "$pkg"/src/*.dll
R_MAKEVARS_USER="$makevars" MAKEFLAGS=-j"$JOBS" \
  "$R" CMD INSTALL --preclean --no-multiarch --no-test-load --library="$lib" "$pkg" \
  > "$san_dir/install.log" 2>&1 ||
  { tail -n 60 "$san_dir/install.log"; die "R CMD INSTALL failed (log: $san_dir/install.log)"; }
so=$lib/deepbmc/libs/deepbmc.so
readelf -d "$so" | grep -q 'NEEDED.*libasan' || die "$so does not link libasan"
say "installed after $(elapsed)"

# ---- tests ------------------------------------------------------------------
say "running the $DEEPBMC_TEST_TIER test tier under the sanitizers (log: $tests_log)"
status=0
run_sanitized "$logs/tests" env R_LIBS="$lib" NOT_CRAN=true SANITIZE_LIB="$lib" \
  "$RSCRIPT" -e '
    options(warn = 1)
    lib <- normalizePath(Sys.getenv("SANITIZE_LIB"))
    # The instrumented build, not one from another library, must be tested.
    where <- normalizePath(dirname(find.package("deepbmc")))
    if (where != lib) stop("deepbmc found in ", where, ", not in ", lib)
    suppressPackageStartupMessages(library(testthat))
    files <- sub("^test-(.*)\\.[rR]$", "\\1",
                 list.files("tests/testthat", pattern = "^test-.*\\.[rR]$"))
    keep <- grepl(Sys.getenv("SANITIZE_TESTS"), files, perl = TRUE)
    exclude <- Sys.getenv("SANITIZE_EXCLUDE")
    if (nzchar(exclude)) keep <- keep & !grepl(exclude, files, perl = TRUE)
    if (!any(keep)) stop("no test files selected")
    cat("test files:", files[keep], "\n")
    res <- testthat::test_dir(
      "tests/testthat", package = "deepbmc", load_package = "installed",
      filter = paste0("^(", paste(files[keep], collapse = "|"), ")$"),
      reporter = testthat::ProgressReporter$new(show_praise = FALSE),
      stop_on_failure = FALSE, stop_on_warning = FALSE
    )
    dll <- getLoadedDLLs()[["deepbmc"]][["path"]]
    if (!startsWith(normalizePath(dll), lib)) stop("deepbmc.so loaded from ", dll)
    df <- as.data.frame(res)
    times <- sort(tapply(df$real, df$file, sum), decreasing = TRUE)
    cat("\nseconds per test file:\n")
    print(round(times, 1))
    failed <- sum(df$failed) + sum(df$error)
    cat(sprintf("\nmake sanitize: %d test files, %d tests: %d expectations passed, %d failed, %d skipped\n",
                length(unique(df$file)), nrow(df), sum(df$passed), failed, sum(df$skipped)))
    quit(save = "no", status = if (failed > 0L) 1L else 0L)
  ' 2>&1 | tee "$tests_log" || status=$?
say "tests finished after $(elapsed) with exit status $status"

# ---- scan for reports -------------------------------------------------------
found=0
for f in "$logs"/tests/*; do
  [ -e "$f" ] || continue
  found=1
  echo "==== $f ===="
  cat "$f"
done
if grep -qE "$report_pattern" "$tests_log"; then
  found=1
  echo "==== sanitizer or crash messages in $tests_log ===="
  grep -nE -B 2 -A 20 "$report_pattern" "$tests_log" | head -n 200
fi
[ "$found" -eq 0 ] || die "sanitizer output from the tests (above; logs in $logs/tests)"
[ "$status" -eq 0 ] || die "the test run exited with status $status (see $tests_log)"
summary=$(grep -E '^make sanitize: [0-9]+ test files' "$tests_log" | tail -n 1)
[ -n "$summary" ] || die "the test run printed no summary (see $tests_log)"
say "OK after $(elapsed): no sanitizer reports; ${summary#make sanitize: }"
