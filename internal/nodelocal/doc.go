// Package nodelocal creates and removes the node-local proxy address: the address that
// connects from containers (workloads in their own network namespace, where 127.0.0.1 is the
// container's own loopback) are redirected to, and where the agent's proxy listens besides
// loopback. It follows the Kubernetes NodeLocal DNSCache pattern: a dummy interface in the
// node's network namespace holding one link-local IPv4 address (169.254.20.54 by default,
// next to NodeLocal DNSCache's 169.254.20.10) and optionally one IPv6 ULA.
//
// Why an interface of its own: the address must not belong to any real interface whose
// lifetime or configuration belongs to someone else (DHCP, CNI, netplan); a device sluice owns
// can be created idempotently, found again after a restart, and removed as a unit. A dummy
// device transmits nothing and answers no ARP, so the address is reachable only by routing
// to the node itself.
//
// Why link-local (169.254.0.0/16, RFC 3927): routers never forward it, so the address never
// leaves the node and cannot collide with a routable address of the cluster, the database or
// the corporate network; yet every container whose default route leads to the node reaches
// it, because the node accepts packets for any of its own addresses on any interface (Linux's
// weak host model). A loopback address cannot serve: 127.0.0.0/8 is, inside the container,
// the container's own loopback, so a connect to it never leaves the container (measured:
// TestLoopbackStaysInContainer), and accepting 127/8 from outside would need route_localnet,
// which exposes every localhost-only service of the node.
//
// Why /32 (and /128): a wider prefix would install a connected route for the whole range on
// the dummy device, capturing the node's traffic to its other link-local neighbours, most
// importantly a cloud metadata service at 169.254.169.254. A host prefix adds only the local
// route for the address itself. The IPv4 address gets scope link, so the kernel never picks
// it as the source address of the node's own traffic (with scope global it did, for routes
// through interfaces without an IPv4 address of their own: TestNotASourceAddress).
//
// Measured on Linux 6.18 (TestReachableFromContainer): no sysctl needs changing. The
// container reaches both addresses with strict reverse-path filtering (rp_filter=1 on all,
// default, the veth and the device), route_localnet=0 and forwarding off, and equally on a
// routing node (forwarding on, rp_filter=2). rp_filter checks the incoming packet's source
// (the container's address, routed back through the same veth), not its destination;
// route_localnet concerns only 127/8; forwarding is not involved, because the packets are
// delivered locally, not routed on. The proxy sees the container's own source address.
//
// Kernels without the dummy driver (CONFIG_DUMMY unset, as in some microVM kernels such as the
// Firecracker kernel this was developed on) get an ifb device instead: like dummy, it answers
// no ARP and discards what it is given to transmit, and the address behaves the same.
//
// Lifetime: keep the interface while the redirect programs are pinned. With the programs in
// place and the address gone, redirected connects from containers are routed by the node like
// any other destination and fail (routers do not forward link-local destinations, and nothing
// listens), so nothing is bypassed, but the failure is a timeout rather than a clear refusal.
package nodelocal
