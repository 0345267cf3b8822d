# The payment-client library (clients/python), installed editable into .venv so the tests and
# `make run`'s users import the checkout's code. Its runtime dependencies (grpcio, protobuf,
# googleapis-common-protos) are already in requirements/lock.txt, hence --no-deps. It is built
# with the venv's own setuptools (>= 77 for the SPDX `license` string; grpcio-tools already pulls
# a recent one), so no build environment is downloaded; the wheel test does the same.
# Re-installed only when its pyproject.toml changes (or the install is missing).
client_stamp="$(sha256sum clients/python/pyproject.toml | cut -d' ' -f1)"
if [ "$(cat .venv/.payment-client.installed 2>/dev/null)" != "$client_stamp" ] \
   || ! .venv/bin/python -c 'import payment_client' 2>/dev/null; then
  log "installing the payment-client library (pip install -e clients/python)"
  .venv/bin/python -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' \
    || .venv/bin/pip install -q 'setuptools>=77'
  .venv/bin/pip install -q --no-deps --no-build-isolation -e clients/python
  echo "$client_stamp" > .venv/.payment-client.installed
fi
