#!/bin/sh
# Debian's Chromium for the browser test (tests/test_ui_browser.py): Playwright drives /usr/bin/chromium and never
# downloads a browser of its own. Installs it with apt-get when missing and allowed; exit 1 with the way otherwise.
set -eu

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (apt-get) for the browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    exit 0
fi
echo "error: /usr/bin/chromium is missing; the browser test needs it." >&2
echo "  Debian/Ubuntu: sudo apt-get install chromium   (then run make test again)" >&2
exit 1
