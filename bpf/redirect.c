// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Transparent redirection of PostgreSQL connects to the sluice proxy.
 *
 * connect4/connect6 decide (port, CIDR, effective cgroup mode), record the origin by socket
 * cookie and rewrite the destination to the proxy, refusing the connect when the agent's
 * listener is not there. sockops publishes the origin under the connection tuple the proxy
 * will see (attached only where redirection is on); getpeername4/6 undo the rewrite for
 * the application (a Multipath TCP socket's origin is found by its tuple); sock_release
 * cleans up.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "types.h"
#include "maps.h"

/* From <sys/socket.h>, which cannot be included for the BPF target. */
#define SOCK_STREAM 1
#define AF_INET 2
#define AF_INET6 10
#define ALLOW 1
#define DENY 0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Nearest explicit mode among the calling task's cgroup and its ancestors. Walks from the
 * root down so the loop ends at the task's own level; the deepest setting wins. */
static __always_inline __u32 effective_mode(void)
{
	__u32 mode = SLUICE_MODE_UNSET;

	for (int level = 0; level < SLUICE_MAX_LEVELS; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			break;
		__u32 *m = bpf_map_lookup_elem(&modes, &id);
		if (m && *m != SLUICE_MODE_UNSET)
			mode = *m;
	}
	return mode;
}

static __always_inline int port_selected(__u16 port)
{
	__u32 key = port;
	__u32 *on = bpf_map_lookup_elem(&ports, &key);
	return on && *on;
}

static __always_inline int cidr4_selected(const struct sluice_config *cfg, __u32 addr)
{
	if (!(cfg->flags & SLUICE_CFG_CIDR4))
		return 1;
	struct sluice_cidr4_key key = {.prefixlen = 32, .addr = addr};
	return bpf_map_lookup_elem(&cidr4, &key) != NULL;
}

static __always_inline int cidr6_selected(const struct sluice_config *cfg, const __u32 addr[4])
{
	if (!(cfg->flags & SLUICE_CFG_CIDR6))
		return 1;
	struct sluice_cidr6_key key = {.prefixlen = 128};
	key.addr[0] = addr[0];
	key.addr[1] = addr[1];
	key.addr[2] = addr[2];
	key.addr[3] = addr[3];
	return bpf_map_lookup_elem(&cidr6, &key) != NULL;
}

/* Is the proxy listening at addr:port in this network namespace, and is the listener the
 * agent's (it carries the agent's mark)? Anything else squatting the port gets nothing. */
static __always_inline int listener_ready4(struct bpf_sock_addr *ctx, const struct sluice_config *cfg, __u32 addr)
{
	struct bpf_sock_tuple t = {};
	t.ipv4.daddr = addr;
	t.ipv4.dport = bpf_htons(cfg->proxy_port);
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	int ok = sk->mark == cfg->listener_mark;
	bpf_sk_release(sk);
	return ok;
}

static __always_inline int listener_ready6(struct bpf_sock_addr *ctx, const struct sluice_config *cfg)
{
	struct bpf_sock_tuple t = {};
	t.ipv6.daddr[3] = bpf_htonl(1); /* ::1 */
	t.ipv6.dport = bpf_htons(cfg->proxy_port);
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv6), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	int ok = sk->mark == cfg->listener_mark;
	bpf_sk_release(sk);
	return ok;
}

/* Remember the origin of this socket. A socket that connects again (after a failed attempt)
 * drops the tuple it published before. Returns 0 when the map refuses the entry. */
static __always_inline int record(struct bpf_sock_addr *ctx, const __u32 daddr[4], __u16 dport,
				  __u32 mode, __u8 flags)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct sluice_sock_state *old = bpf_map_lookup_elem(&by_cookie, &cookie);
	if (old && old->has_tuple)
		bpf_map_delete_elem(&by_tuple, &old->tuple);

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sluice_sock_state st = {};
	st.origin.daddr[0] = daddr[0];
	st.origin.daddr[1] = daddr[1];
	st.origin.daddr[2] = daddr[2];
	st.origin.daddr[3] = daddr[3];
	st.origin.dport = dport;
	st.origin.mode = mode;
	st.origin.flags = flags;
	st.origin.tgid = pid_tgid >> 32;
	st.origin.uid = (__u32)bpf_get_current_uid_gid();
	st.origin.cgroup_id = bpf_get_current_cgroup_id();
	st.origin.netns_cookie = bpf_get_netns_cookie(ctx);
	st.origin.time_ns = bpf_ktime_get_ns();
	st.origin.cookie = cookie;
	return bpf_map_update_elem(&by_cookie, &cookie, &st, BPF_ANY) == 0;
}

static __always_inline int refuse(void)
{
	count(SLUICE_CNT_REFUSED);
	return DENY;
}

SEC("cgroup/connect4")
int sluice_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->type != SOCK_STREAM)
		return ALLOW;
	__u16 dport = bpf_ntohs(ctx->user_port);
	if (!port_selected(dport))
		return ALLOW;
	__u32 key = 0;
	struct sluice_config *cfg = bpf_map_lookup_elem(&config, &key);
	if (!cfg)
		return refuse();
	__u32 daddr4 = ctx->user_ip4;
	if (!cidr4_selected(cfg, daddr4))
		return ALLOW;
	__u32 mode = effective_mode();
	if (mode != SLUICE_MODE_ENFORCE && mode != SLUICE_MODE_AUDIT) {
		count(SLUICE_CNT_PASSED);
		return ALLOW;
	}

	/* The agent's marked listener on loopback means this is its network namespace.
	 * Anywhere else (a container) loopback is not ours: go to the node-local address,
	 * and without one there is no way to the proxy, so no way around it either. */
	__u32 target = bpf_htonl(0x7f000001); /* 127.0.0.1 */
	if (!listener_ready4(ctx, cfg, target)) {
		target = cfg->nodelocal4;
		if (!target)
			return refuse();
	}

	__u32 daddr[4] = {0, 0, bpf_htonl(0xffff), daddr4};
	if (!record(ctx, daddr, dport, mode, 0))
		return refuse();
	ctx->user_ip4 = target;
	ctx->user_port = bpf_htons(cfg->proxy_port);
	count(SLUICE_CNT_REDIRECTED);
	return ALLOW;
}

SEC("cgroup/connect6")
int sluice_connect6(struct bpf_sock_addr *ctx)
{
	if (ctx->type != SOCK_STREAM)
		return ALLOW;
	__u16 dport = bpf_ntohs(ctx->user_port);
	if (!port_selected(dport))
		return ALLOW;
	__u32 key = 0;
	struct sluice_config *cfg = bpf_map_lookup_elem(&config, &key);
	if (!cfg)
		return refuse();
	__u32 daddr[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
	/* A dual-stack socket reaches IPv4 through ::ffff:a.b.c.d; only this hook sees it. */
	int mapped = daddr[0] == 0 && daddr[1] == 0 && daddr[2] == bpf_htonl(0xffff);
	if (mapped ? !cidr4_selected(cfg, daddr[3]) : !cidr6_selected(cfg, daddr))
		return ALLOW;
	__u32 mode = effective_mode();
	if (mode != SLUICE_MODE_ENFORCE && mode != SLUICE_MODE_AUDIT) {
		count(SLUICE_CNT_PASSED);
		return ALLOW;
	}

	/* Same choice as connect4: loopback where the agent listens, else node-local. */
	__u32 target[4] = {};
	if (mapped) {
		target[2] = bpf_htonl(0xffff);
		target[3] = bpf_htonl(0x7f000001);
		if (!listener_ready4(ctx, cfg, target[3])) {
			target[3] = cfg->nodelocal4;
			if (!target[3])
				return refuse();
		}
	} else if (listener_ready6(ctx, cfg)) {
		target[3] = bpf_htonl(1); /* ::1 */
	} else {
		target[0] = cfg->nodelocal6[0];
		target[1] = cfg->nodelocal6[1];
		target[2] = cfg->nodelocal6[2];
		target[3] = cfg->nodelocal6[3];
		if (!(target[0] | target[1] | target[2] | target[3]))
			return refuse();
	}

	if (!record(ctx, daddr, dport, mode, SLUICE_ORIGIN_CONNECT6))
		return refuse();
	ctx->user_ip6[0] = target[0];
	ctx->user_ip6[1] = target[1];
	ctx->user_ip6[2] = target[2];
	ctx->user_ip6[3] = target[3];
	ctx->user_port = bpf_htons(cfg->proxy_port);
	count(SLUICE_CNT_REDIRECTED);
	return ALLOW;
}

static __always_inline void v4mapped(__u32 out[4], __u32 addr)
{
	out[0] = 0;
	out[1] = 0;
	out[2] = bpf_htonl(0xffff);
	out[3] = addr;
}

/* Once the source port is chosen, publish the origin under the tuple the proxy will see.
 * This program is attached only at cgroups whose explicit mode redirects (every socket
 * operation of every TCP connection runs it, so attaching it at the root would tax the whole
 * machine); nested redirecting cgroups run it once per level, hence the has_tuple test. */
SEC("sockops")
int sluice_sockops(struct bpf_sock_ops *skops)
{
	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct sluice_sock_state *st = bpf_map_lookup_elem(&by_cookie, &cookie);
	if (!st || st->has_tuple)
		return 1;

	struct sluice_tuple key = {};
	__u32 family = skops->family;
	__u32 r6[4] = {};
	if (family == AF_INET6) {
		r6[0] = skops->remote_ip6[0];
		r6[1] = skops->remote_ip6[1];
		r6[2] = skops->remote_ip6[2];
		r6[3] = skops->remote_ip6[3];
	}
	if (family == AF_INET || (r6[0] == 0 && r6[1] == 0 && r6[2] == bpf_htonl(0xffff))) {
		v4mapped(key.saddr, skops->local_ip4);
		v4mapped(key.daddr, skops->remote_ip4);
	} else {
		key.saddr[0] = skops->local_ip6[0];
		key.saddr[1] = skops->local_ip6[1];
		key.saddr[2] = skops->local_ip6[2];
		key.saddr[3] = skops->local_ip6[3];
		key.daddr[0] = r6[0];
		key.daddr[1] = r6[1];
		key.daddr[2] = r6[2];
		key.daddr[3] = r6[3];
	}
	key.sport = skops->local_port;
	key.dport = bpf_ntohl(skops->remote_port);

	if (bpf_map_update_elem(&by_tuple, &key, &st->origin, BPF_NOEXIST)) {
		/* Another live socket owns this tuple (another netns with the same addresses):
		 * neither can be attributed with certainty, so the proxy will refuse both. */
		struct sluice_origin *other = bpf_map_lookup_elem(&by_tuple, &key);
		if (other)
			other->flags |= SLUICE_ORIGIN_AMBIGUOUS;
		count(SLUICE_CNT_AMBIGUOUS);
		return 1;
	}
	st->tuple = key;
	st->has_tuple = 1;
	return 1;
}

/* A redirected socket's peer is the proxy port; every other socket (the kernel also runs
 * this on each accept) leaves before the cookie and map lookups. */
static __always_inline int peer_is_proxy(struct bpf_sock_addr *ctx)
{
	__u32 key = 0;
	struct sluice_config *cfg = bpf_map_lookup_elem(&config, &key);
	return cfg && ctx->user_port == bpf_htons(cfg->proxy_port);
}

/* The origin whose destination a getpeername on ctx's socket must show: the socket's own,
 * or, for a socket whose connect no hook saw, the one published under its tuple. That is a
 * Multipath TCP socket: the kernel connects it through a TCP subflow socket of its own,
 * which connect4/6 redirected and sockops published; the MPTCP socket has another cookie
 * but the same tuple. Only an origin of this network namespace that is not ambiguous. key
 * holds the tuple's addresses, as the caller's address family gives them. */
static __always_inline struct sluice_origin *peer_origin(struct bpf_sock_addr *ctx, struct sluice_tuple *key)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct sluice_sock_state *st = bpf_map_lookup_elem(&by_cookie, &cookie);
	if (st)
		return &st->origin;
	key->sport = ctx->sk->src_port;
	key->dport = bpf_ntohs(ctx->user_port);
	struct sluice_origin *o = bpf_map_lookup_elem(&by_tuple, key);
	if (!o || o->netns_cookie != bpf_get_netns_cookie(ctx) || (o->flags & SLUICE_ORIGIN_AMBIGUOUS))
		return 0;
	return o;
}

SEC("cgroup/getpeername4")
int sluice_getpeername4(struct bpf_sock_addr *ctx)
{
	if (!peer_is_proxy(ctx))
		return 1;
	struct sluice_tuple key = {};
	v4mapped(key.saddr, ctx->sk->src_ip4);
	v4mapped(key.daddr, ctx->user_ip4);
	struct sluice_origin *o = peer_origin(ctx, &key);
	if (!o)
		return 1;
	ctx->user_ip4 = o->daddr[3];
	ctx->user_port = bpf_htons(o->dport);
	return 1;
}

SEC("cgroup/getpeername6")
int sluice_getpeername6(struct bpf_sock_addr *ctx)
{
	if (!peer_is_proxy(ctx))
		return 1;
	/* A v4-mapped connection's addresses are v4-mapped here too, as in the tuple. */
	struct sluice_tuple key = {};
	key.saddr[0] = ctx->sk->src_ip6[0];
	key.saddr[1] = ctx->sk->src_ip6[1];
	key.saddr[2] = ctx->sk->src_ip6[2];
	key.saddr[3] = ctx->sk->src_ip6[3];
	key.daddr[0] = ctx->user_ip6[0];
	key.daddr[1] = ctx->user_ip6[1];
	key.daddr[2] = ctx->user_ip6[2];
	key.daddr[3] = ctx->user_ip6[3];
	struct sluice_origin *o = peer_origin(ctx, &key);
	if (!o)
		return 1;
	ctx->user_ip6[0] = o->daddr[0];
	ctx->user_ip6[1] = o->daddr[1];
	ctx->user_ip6[2] = o->daddr[2];
	ctx->user_ip6[3] = o->daddr[3];
	ctx->user_port = bpf_htons(o->dport);
	return 1;
}

/* A released socket can hold origin entries only if it was redirected: its peer is then the
 * proxy port, or nothing if it disconnected since. Every other socket leaves before the
 * cookie and map lookups. The 4-byte load of dst_port is the form every kernel accepts
 * (5.10 declares the field 32 bits wide, later kernels 16 bits plus padding); both give the
 * port in network order in the low 16 bits. */
static __always_inline int maybe_redirected(struct bpf_sock *sk)
{
	__u32 key = 0;
	struct sluice_config *cfg = bpf_map_lookup_elem(&config, &key);
	if (!cfg)
		return 1;
	__u16 dport = (__u16)*(volatile __u32 *)((void *)sk + __builtin_offsetof(struct bpf_sock, dst_port));
	return dport == 0 || dport == bpf_htons(cfg->proxy_port);
}

SEC("cgroup/sock_release")
int sluice_sock_release(struct bpf_sock *sk)
{
	if (!maybe_redirected(sk))
		return 1;
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct sluice_sock_state *st = bpf_map_lookup_elem(&by_cookie, &cookie);
	if (!st)
		return 1;
	if (st->has_tuple) {
		struct sluice_origin *o = bpf_map_lookup_elem(&by_tuple, &st->tuple);
		if (o && o->cookie == cookie)
			bpf_map_delete_elem(&by_tuple, &st->tuple);
	}
	bpf_map_delete_elem(&by_cookie, &cookie);
	return 1;
}
