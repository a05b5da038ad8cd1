#!/bin/sh
# Selects the service to run: `python -m edms_<name>` from EDMS_SERVICE (or from a bare service name as the only
# argument); any other command is run as given (e.g. `python -m edms_registry`, `edms replay ...`, `sh`).
set -eu

SERVICES="registry routing control search archive"

is_service() {
    for s in $SERVICES; do
        [ "$s" = "$1" ] && return 0
    done
    return 1
}

if [ "$#" -eq 1 ] && is_service "$1"; then
    EDMS_SERVICE="$1"
    set --
fi

if [ "$#" -eq 0 ]; then
    service="${EDMS_SERVICE:-}"
    if [ -z "$service" ] || ! is_service "$service"; then
        echo "edms: set EDMS_SERVICE to one of: $SERVICES (got '${service}'), or pass a command" >&2
        exit 64
    fi
    exec python -m "edms_${service}"
fi

exec "$@"
