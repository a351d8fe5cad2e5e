#!/usr/bin/env bash
# Prints the path of a Chromium that Playwright can drive with `executable_path`, or exits 1.
#
# Order: $WATCHDOG_CHROMIUM, Debian's browser (the binary, then its wrapper), other distributions'
# names, then a browser that `playwright install chromium` downloaded (machines with internet).
# Playwright's own download fails on registry-only machines, hence the system package first.
set -euo pipefail

is_exe() { [[ -n "$1" && -f "$1" && -x "$1" ]]; }

if [[ -n "${WATCHDOG_CHROMIUM:-}" ]]; then
    if is_exe "$WATCHDOG_CHROMIUM"; then
        printf '%s\n' "$WATCHDOG_CHROMIUM"
        exit 0
    fi
    echo "find-chromium: WATCHDOG_CHROMIUM=$WATCHDOG_CHROMIUM is not an executable file" >&2
    exit 1
fi

for candidate in /usr/lib/chromium/chromium /usr/bin/chromium \
    /usr/lib/chromium-browser/chromium-browser /usr/bin/chromium-browser \
    /usr/bin/google-chrome-stable /usr/bin/google-chrome; do
    if is_exe "$candidate"; then
        printf '%s\n' "$candidate"
        exit 0
    fi
done

cache=${PLAYWRIGHT_BROWSERS_PATH:-${HOME:-/root}/.cache/ms-playwright}
if [[ -d "$cache" ]]; then
    # Newest Playwright build first (directory names end in the build number).
    while IFS= read -r dir; do
        for exe in "$dir/chrome-linux64/chrome" "$dir/chrome-linux/chrome"; do
            if is_exe "$exe"; then
                printf '%s\n' "$exe"
                exit 0
            fi
        done
    done < <(find "$cache" -maxdepth 1 -type d -name 'chromium-*' | sort -t- -k2,2nr)
fi

exit 1
