#!/bin/sh
# A tenant's whole life with `virtplane` and `jq` only: a tenant with a quota and a token, a guest created and
# started as that tenant, its events followed across a server restart (none lost, none repeated), then the
# guest and the tenant deleted.
#
# Run as an admin (`virtplane login URL` first, or VIRTPLANE_URL and VIRTPLANE_TOKEN):
#   RESTART='systemctl restart virtplane' NETWORK=for-all-vms sh tenant-lifecycle.sh
# RESTART is run while the events are followed (default: no restart); NETWORK is the guests' network.
set -eu

TENANT=${TENANT:-acme}
GUEST=${GUEST:-web-1}
NETWORK=${NETWORK:-default}
RESTART=${RESTART:-true}
WORK=$(mktemp -d)
trap 'kill "$FOLLOW" 2>/dev/null || true; rm -rf "$WORK"' EXIT
FOLLOW=

vp() { virtplane --output json "$@"; }
# What the tenant runs, with the tenant's token (from the environment: never on a command line).
as_tenant() { VIRTPLANE_TOKEN=$TENANT_TOKEN virtplane --output json "$@"; }

# 1. The tenant, its quota and its token.
TENANT_ID=$(vp user create "$TENANT" | jq -r .id)
vp quota set "$TENANT" --domains 2 --vcpus 4 --memory 4096 --disk 20 --interfaces 2 | jq -c '{limits}'
TENANT_TOKEN=$(vp token create "$TENANT" --label lifecycle-script | jq -r .token)
echo "tenant $TENANT: $TENANT_ID"

# 2. Follow the events of the tenant's domains from now on: four are expected (defined, started, suspended,
#    resumed). `--follow` reconnects after a restart and resumes after the last event it printed.
vp events --follow --owner "$TENANT" --count 4 > "$WORK/events.jsonl" 2> "$WORK/follow.log" &
FOLLOW=$!
until grep -q '^virtplane: listening' "$WORK/follow.log"; do sleep 0.2; done

# 3. As the tenant: create and start the guest, and wait for it to run.
as_tenant domain create "$GUEST" --vcpus 1 --memory 512 --disk 1 --network "$NETWORK" --start --wait | jq -c '{name, state}'

# 4. Restart the server while the events are followed; wait until it answers again.
sh -c "$RESTART"
until virtplane host > /dev/null 2>&1; do sleep 0.5; done

# 5. Two more events after the restart, then collect all four.
as_tenant domain suspend "$GUEST" | jq -c '{name, state}'
as_tenant domain resume "$GUEST" | jq -c '{name, state}'
wait "$FOLLOW"
FOLLOW=
jq -r '"event \(.domain.name) \(.type)/\(.detail)"' "$WORK/events.jsonl"
echo "reconnects: $(grep -c '^virtplane: listening' "$WORK/follow.log")"

# 6. Delete the guest (its quota is freed), then the tenant.
as_tenant domain delete "$GUEST" | jq -r '"deleted \(.name)"'
as_tenant quota show | jq -c '{usage: .usage.domains}'
vp user delete "$TENANT" | jq -r '"deleted user \(.name)"'
