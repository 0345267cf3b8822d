# Headless Chromium for the browser tests (tests/e2e/test_browser.py drives it over the
# DevTools protocol with the `websockets` package already in the lock: no driver and no
# download at test time). Debian's package, so its version follows the distribution's
# security updates; installed only when missing.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install chromium (browser tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  else
    echo "chromium is missing: the browser tests will skip (install it, e.g. sudo apt-get install chromium)" >&2
  fi
fi
