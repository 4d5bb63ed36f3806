#!/usr/bin/env bash
# Runs the node:test suites (TypeScript through tsx): unit, integration, conformance, e2e, in that order.
#   bash test/run-tests.sh            every suite that has test files
#   bash test/run-tests.sh unit       one suite (it must have test files)
# Fails when no test file is found at all, so a broken glob can never pass as "nothing failed".
set -uo pipefail
shopt -s globstar nullglob

cd "$(dirname "${BASH_SOURCE[0]}")/.."

all_suites=(unit integration conformance e2e)
if (($# > 1)); then
  echo "usage: bash test/run-tests.sh [${all_suites[*]// /|}]" >&2
  exit 2
fi
if (($# == 1)); then
  case " ${all_suites[*]} " in
    *" $1 "*) suites=("$1") ;;
    *)
      echo "run-tests: unknown suite '$1' (expected one of: ${all_suites[*]})" >&2
      exit 2
      ;;
  esac
else
  suites=("${all_suites[@]}")
fi

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

total_files=0
passed=0
failed=0
skipped=0
failed_suites=()

# Sums one counter ("pass", "fail", ...) from the spec reporter's closing lines ("ℹ pass 12").
count() {
  awk -v key="$1" '$1 == "ℹ" && $2 == key { sum += $3 } END { print sum + 0 }' "$2"
}

for suite in "${suites[@]}"; do
  files=(test/"$suite"/**/*.test.ts)
  if ((${#files[@]} == 0)); then
    if (($# == 1)); then
      echo "run-tests: no test files in test/$suite" >&2
      exit 1
    fi
    continue
  fi
  total_files=$((total_files + ${#files[@]}))

  # Suites that open sockets, capture traffic or drive a browser run one file at a time.
  concurrency=()
  if [[ $suite != unit ]]; then
    concurrency=(--test-concurrency=1)
  fi

  echo "── $suite: ${#files[@]} file(s)"
  log="$log_dir/$suite.log"
  node --import tsx --test --test-reporter=spec "${concurrency[@]}" "${files[@]}" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}

  suite_failed=$(($(count fail "$log") + $(count cancelled "$log")))
  passed=$((passed + $(count pass "$log")))
  failed=$((failed + suite_failed))
  skipped=$((skipped + $(count skipped "$log")))
  if ((status != 0 || suite_failed > 0)); then
    failed_suites+=("$suite")
    # A crash before the reporter's summary still has to count as a failure.
    if ((suite_failed == 0)); then
      failed=$((failed + 1))
    fi
  fi
done

if ((total_files == 0)); then
  echo "run-tests: no test files found under test/{${all_suites[*]// /,}}" >&2
  exit 1
fi

echo
if ((${#failed_suites[@]} > 0)); then
  echo "run-tests: failed suites: ${failed_suites[*]}"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
((${#failed_suites[@]} == 0))
