#!/usr/bin/env bash
# Sets up what prefecture-watchdog needs for its tests and demo; `make setup` runs it.
# Idempotent, and quick when everything is already there (only checks, no installs).
#
#  1. Debian packages the tests use, installed only when missing:
#       chromium, fonts-dejavu  headless browser for the probes, with fonts for screenshots/PDFs
#       chromium-headless-shell the same build without its UI, for headless probes (optional)
#       prometheus              promtool and prometheus, to check alert rules and dashboard queries
#       prometheus-alertmanager amtool, to check the Alertmanager config and its routes
#       poppler-utils           pdftotext/pdftoppm, to check the PDF reports
#       pandoc                  editable copies (ODT, DOCX) of reports and dossiers
#       openssl                 the throw-away CA and local TSA of the timestamp tests
#       postgresql              only when no usable PostgreSQL answers on 127.0.0.1:5432
#     Off Debian, it says what to install instead (or set WATCHDOG_SETUP_SKIP_SYSTEM=1).
#  2. $VENV (default .venv) with Python >= 3.11 ($PYTHON to choose the interpreter), and
#     `pip install -e '.[dev]'`, skipped while pyproject.toml is unchanged since the last
#     successful install.
#  3. A summary: Python, Chromium, Prometheus, PostgreSQL.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${VENV:-.venv}
STAMP=$VENV/.watchdog-setup-stamp
DEB_PACKAGES=(chromium chromium-headless-shell fonts-dejavu prometheus prometheus-alertmanager poppler-utils pandoc openssl)
SECONDS=0

say() { printf '==> %s\n' "$*"; }
warn() { printf 'setup: warning: %s\n' "$*" >&2; }
die() {
    printf 'setup: error: %s\n' "$*" >&2
    exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=
apt_install() {
    local -a sudo=()
    if [[ $(id -u) != 0 ]]; then
        have sudo || die "installing $* needs root: run 'apt-get install -y" \
            "--no-install-recommends $*' as root, then run this again"
        sudo=(sudo)
        say "using sudo for apt-get (not root)"
    fi
    if [[ -z "$APT_UPDATED" ]]; then
        say "apt-get update (package lists, needed before installing)"
        "${sudo[@]}" apt-get update -q
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"
}

why() {
    case "$1" in
    chromium) echo "headless browser driven by the probes (Playwright, executable_path)" ;;
    chromium-headless-shell) echo "the same Chromium without its UI: what headless probes run" ;;
    fonts-dejavu) echo "fonts for screenshots and PDF reports" ;;
    prometheus) echo "promtool and prometheus, to test alert rules and dashboard queries" ;;
    prometheus-alertmanager) echo "amtool, to check the Alertmanager routes" ;;
    poppler-utils) echo "pdftotext/pdftoppm, to check the PDF reports" ;;
    pandoc) echo "editable copies (ODT, DOCX) of reports and dossiers" ;;
    openssl) echo "the openssl CLI: a throw-away CA and local TSA for the timestamp tests" ;;
    postgresql) echo "a real PostgreSQL for the store tests (none usable on 127.0.0.1:5432)" ;;
    *) echo "" ;;
    esac
}

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ---------------------------------------------------------------- 1. system packages
system_packages() {
    if [[ "${WATCHDOG_SETUP_SKIP_SYSTEM:-}" == 1 ]]; then
        say "WATCHDOG_SETUP_SKIP_SYSTEM=1: not checking system packages"
        return
    fi
    local pkg pg_pkgs
    local -a missing=()
    pg_pkgs=$(scripts/ensure-postgres.sh --packages)
    if have dpkg-query && have apt-get; then
        for pkg in "${DEB_PACKAGES[@]}" $pg_pkgs; do
            deb_installed "$pkg" || missing+=("$pkg")
        done
        if ((${#missing[@]} == 0)); then
            say "system packages present: ${DEB_PACKAGES[*]}${pg_pkgs:+ $pg_pkgs}"
            return
        fi
        say "missing Debian packages, needed by the tests and the demo:"
        for pkg in "${missing[@]}"; do printf '      %-14s %s\n' "$pkg" "$(why "$pkg")"; done
        apt_install "${missing[@]}" || warn "apt-get install failed (see above)"
        local -a still=()
        for pkg in "${missing[@]}"; do
            deb_installed "$pkg" || still+=("$pkg")
        done
        local -a kept=()
        for pkg in "${still[@]}"; do
            # Optional (not packaged on every distribution): the full browser runs headless too.
            if [[ "$pkg" == chromium-headless-shell ]]; then
                warn "no chromium-headless-shell: headless probes will run the full browser"
            else
                kept+=("$pkg")
            fi
        done
        still=("${kept[@]}")
        if [[ " ${still[*]} " == *" chromium "* ]]; then
            if scripts/find-chromium.sh >/dev/null ||
                { say "no chromium package: trying Playwright's own download (needs internet)" &&
                    "$VENV/bin/playwright" install chromium; }; then
                still=("${still[@]/chromium/}")
                read -r -a still <<<"${still[*]}"
            fi
        fi
        if ((${#still[@]} > 0)); then
            die "still missing: ${still[*]}. Install them (apt-get install -y" \
                "--no-install-recommends ${still[*]}) and run this again."
        fi
        return
    fi

    # Not Debian: check for the commands themselves and say what to install.
    have promtool || missing+=("prometheus (promtool)")
    have amtool || missing+=("prometheus-alertmanager (amtool)")
    have pdftotext || missing+=("poppler-utils (pdftotext, pdftoppm)")
    fc-list 2>/dev/null | grep -qi dejavu || missing+=("DejaVu fonts")
    [[ -z "$pg_pkgs" ]] || missing+=("PostgreSQL server (initdb, pg_ctl, psql)")
    if ! scripts/find-chromium.sh >/dev/null; then
        say "no Chromium found and no apt-get: trying Playwright's own download"
        "$VENV/bin/playwright" install chromium || missing+=("chromium")
    fi
    if ((${#missing[@]} > 0)); then
        die "no apt-get on this system and these are missing: ${missing[*]}." \
            "Install them with your package manager (on Debian/Ubuntu: apt-get install" \
            "${DEB_PACKAGES[*]} postgresql), then run this again;" \
            "WATCHDOG_SETUP_SKIP_SYSTEM=1 skips this check (tests needing them will fail)."
    fi
}

# ---------------------------------------------------------------- 2. virtualenv
py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

find_python() {
    local candidate
    if [[ -n "${PYTHON:-}" ]]; then
        py_ok "$PYTHON" || die "PYTHON=$PYTHON is not a Python >= 3.11"
        command -v "$PYTHON"
        return
    fi
    for candidate in python3 python3.13 python3.12 python3.11 /usr/bin/python3; do
        if have "$candidate" && py_ok "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
    return 1
}

venv_ok() {
    [[ -x "$VENV/bin/python" ]] && py_ok "$VENV/bin/python" &&
        "$VENV/bin/python" -m pip --version >/dev/null 2>&1
}

make_venv() {
    local py ver
    if ! py=$(find_python); then
        have apt-get || die "no Python >= 3.11 found: install one, or pass PYTHON=/path/to/python3"
        say "no Python >= 3.11 found: installing Debian's python3"
        apt_install python3 python3-venv
        py=$(find_python) || die "still no Python >= 3.11 (Debian 12 or later is needed)"
    fi
    ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    say "creating $VENV with $py (Python $ver)"
    if ! "$py" -m venv --clear "$VENV"; then
        # Debian splits venv/ensurepip out of its python3 package.
        have apt-get || die "'$py -m venv' failed: install your distribution's venv package"
        local pkg=python$ver-venv
        if [[ "$(realpath "$py")" == "$(realpath /usr/bin/python3 2>/dev/null)" ]]; then
            pkg=python3-venv
        fi
        say "'$py -m venv' needs ensurepip: installing $pkg"
        apt_install "$pkg"
        "$py" -m venv --clear "$VENV"
    fi
}

install_project() {
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$VENV/bin/python" -V 2>&1)"
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] &&
        "$VENV/bin/python" -c 'import importlib.metadata as m; m.distribution("prefecture-watchdog")' \
            >/dev/null 2>&1; then
        say "$VENV is up to date with pyproject.toml (pip install skipped)"
        return
    fi
    say "pip install -e '.[dev]' into $VENV (first install or pyproject.toml changed;" \
        "a minute or two when downloading)"
    rm -f "$STAMP"
    # grafana-client pulls urllib3-future, whose wheel replaces urllib3 under requests and
    # apprise; built from source with URLLIB3_NO_OVERRIDE=1 it installs beside it instead.
    URLLIB3_NO_OVERRIDE=1 PIP_NO_BINARY=urllib3-future \
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev]'
    if "$VENV/bin/python" -c 'import importlib.metadata as m; m.distribution("watchdog")' \
        >/dev/null 2>&1; then
        warn "the PyPI distribution 'watchdog' (file-system events) is installed in $VENV and" \
            "shadows this project's package: find what pulled it in ('$VENV/bin/pip show" \
            "watchdog') and remove it, or rebuild with 'make distclean setup'"
    fi
    printf '%s\n' "$want" >"$STAMP"
}

# ---------------------------------------------------------------- 3. summary
summary() {
    local chromium chromium_version prom_version
    if chromium=$(scripts/find-chromium.sh); then
        chromium_version="$("$chromium" --version 2>/dev/null | head -n 1 | sed "s/ *$//") ($chromium)"
    else
        chromium_version="NOT FOUND (set WATCHDOG_CHROMIUM to a Chromium binary)"
    fi
    if have prometheus; then
        prom_version=$(prometheus --version 2>&1 | head -n 1 | awk '{print $3}')
        prom_version="$prom_version (promtool: $(have promtool && echo yes || echo MISSING))"
    else
        prom_version="NOT FOUND"
    fi
    echo
    echo "Setup done in ${SECONDS}s:"
    echo "  python      $("$VENV/bin/python" -V 2>&1) ($VENV)"
    echo "  chromium    $chromium_version"
    echo "  prometheus  $prom_version"
    echo "  postgresql  $(scripts/ensure-postgres.sh --status)"
}

if ! venv_ok; then
    make_venv
fi
install_project
system_packages
summary
