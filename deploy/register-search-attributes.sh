#!/bin/sh
# Registers the custom search attributes the investigation workflows keep, on a Temporal cluster that
# does not auto-register them (anything but `temporal server start-dev --search-attribute ...`).
#
# Safe to run any number of times: an attribute that already exists with the same type is left alone;
# one that exists with a different type stops the script, since workflows would then fail to upsert it.
# Creates the namespace first when it is missing (the plain server image does not create `default`).
#
#   TEMPORAL_ADDRESS=temporal:7233 TEMPORAL_NAMESPACE=default sh deploy/register-search-attributes.sh
#
# Needs only `sh` and the `temporal` CLI (the temporalio/admin-tools image has both).
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
# How long Temporal keeps a closed investigation's history (a Go duration: 720h is 30 days).
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-720h}"
MAX_ATTEMPTS="${REGISTER_MAX_ATTEMPTS:-60}"
SLEEP_SECONDS="${REGISTER_SLEEP_SECONDS:-2}"

# Name=Type, one a line. Must match workflows/search_attributes.py (tests/test_compose.py checks it;
# `python -c 'from workflows.search_attributes import cli_specs; print(*cli_specs(), sep="\n")'` prints it).
SEARCH_ATTRIBUTES="
InvestigationStage=Keyword
Procedure=Keyword
LeadAuthority=Keyword
Authorities=KeywordList
NextDeadline=Datetime
AwaitingParty=Keyword
Authority=Keyword
"

say() { echo "register-search-attributes: $*"; }

# retry DESCRIPTION COMMAND...: run COMMAND until it succeeds, at most MAX_ATTEMPTS times.
retry() {
    what="$1"
    shift
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
            say "gave up: $what (after $attempt attempts)"
            exit 1
        fi
        say "not yet: $what (attempt $attempt/$MAX_ATTEMPTS)"
        attempt=$((attempt + 1))
        sleep "$SLEEP_SECONDS"
    done
}

healthy() {
    temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1
}

namespace_ready() {
    if temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1; then
        return 0
    fi
    if out=$(temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
        --address "$ADDRESS" 2>&1); then
        say "created namespace $NAMESPACE (retention $RETENTION)"
        return 0
    fi
    # Lost a race with another runner, or the server is still warming up: describe again next round.
    say "$out"
    return 1
}

# create NAME TYPE: succeeds when NAME exists with TYPE; exits the script when it exists with another type.
create() {
    out=$(temporal operator search-attribute create --namespace "$NAMESPACE" --name "$1" --type "$2" \
        --address "$ADDRESS" 2>&1) && return 0
    case "$out" in
        *"different type"*)
            say "$1 is already registered with another type than $2: $out"
            exit 2
            ;;
        *"already exists"*) return 0 ;;
    esac
    say "$out"
    return 1
}

listing() {
    temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS"
}

# registered NAME TYPE: the namespace's listing shows NAME with exactly TYPE.
registered() {
    listing 2>/dev/null | awk -v n="$1" -v t="$2" '$1 == n && $2 == t { found = 1 } END { exit !found }'
}

say "waiting for Temporal at $ADDRESS"
retry "cluster health at $ADDRESS" healthy
retry "namespace $NAMESPACE" namespace_ready

for spec in $SEARCH_ATTRIBUTES; do
    name="${spec%%=*}"
    type="${spec#*=}"
    retry "create $name ($type)" create "$name" "$type"
done

# The create call is not the last word (older CLIs print success for an attribute of another type):
# check the namespace's own listing.
for spec in $SEARCH_ATTRIBUTES; do
    name="${spec%%=*}"
    type="${spec#*=}"
    retry "$name listed as $type" registered "$name" "$type"
    say "$name=$type registered in $NAMESPACE"
done
say "done"
