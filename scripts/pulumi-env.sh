# shellcheck shell=sh
# Source this file (`. scripts/pulumi-env.sh`) to run Pulumi offline, e.g. in engine tests:
#
#   . scripts/pulumi-env.sh
#   PATH="$(scripts/ensure-pulumi.sh | tail -1):$PATH"
#
# It only sets variables (no build, no shell options changed) and never overrides a value
# the caller already set. The Automation API passes the process environment on to the CLI.

# No update check, no plugin downloads (the engine fails fast instead of hanging on the
# network), no CLI/SDK version-compatibility refusal in the Automation API.
export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="${PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK:-true}"

# Secrets provider passphrase for file:// backends: empty unless given. A set (even empty)
# PULUMI_CONFIG_PASSPHRASE takes precedence over PULUMI_CONFIG_PASSPHRASE_FILE in the CLI,
# so leave it unset when the caller uses a passphrase file.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE=""
fi

# Keep Pulumi's own state (credentials.json, plugin cache, workspace files) out of ~/.pulumi.
if [ -z "${PULUMI_HOME:-}" ]; then
  PULUMI_HOME="${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}/pulumi-home"
  export PULUMI_HOME
fi

# Python programs: the virtualenv with the Pulumi Python SDK that scripts/ensure-pulumi.sh makes
# (default path: keep in sync with scripts/ensure-pulumi-languages.sh). The Python language host
# built there runs the program with PULUMI_PYTHON_CMD (it ignores Pulumi.yaml's
# `runtime.options.virtualenv`); a current upstream host honours PULUMI_PYTHON_CMD too.
if [ -z "${LBGW_PYTHON_VENV:-}" ]; then
  LBGW_PYTHON_VENV="${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}/python-venv-pulumi-3.250.0"
  export LBGW_PYTHON_VENV
fi
export PULUMI_PYTHON_CMD="${PULUMI_PYTHON_CMD:-$LBGW_PYTHON_VENV/bin/python}"
