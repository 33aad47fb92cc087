#!/bin/sh
# A Corm owning the lab's virtio NIC by passthrough, two Spikes wired to it, two
# guests: DHCP from the lab peer, ping and iperf3 to it, guest to guest (corm.sh).
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
corm_e2e corm-virtio
pass
