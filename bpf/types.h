/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shapes shared by the kernel programs and internal/redirect (bpf2go mirrors them in Go). */
#pragma once

#include <linux/types.h>

/* Enforcement modes stored in the `modes` map. UNSET never appears in the map: a missing
 * entry means "inherit from the nearest ancestor". Keep in sync with internal/origin.Mode. */
enum sluice_mode {
	SLUICE_MODE_UNSET = 0,
	SLUICE_MODE_OFF = 1,
	SLUICE_MODE_AUDIT = 2,
	SLUICE_MODE_ENFORCE = 3,
	SLUICE_MODE_EXEMPT = 4,
};

/* Per-CPU counters, indexes of the `counters` array. */
enum sluice_counter {
	SLUICE_CNT_PASSED = 0,     /* matched a configured port, not redirected (mode off/unset/exempt) */
	SLUICE_CNT_REDIRECTED = 1, /* rewritten to the proxy */
	SLUICE_CNT_REFUSED = 2,    /* connect failed closed: no agent listener, no node address, map full */
	SLUICE_CNT_AMBIGUOUS = 3,  /* two sockets produced one connection tuple */
	SLUICE_CNT_MAX = 4,
};

/* config.flags */
#define SLUICE_CFG_CIDR4 (1 << 0) /* only redirect IPv4 destinations inside `cidr4` */
#define SLUICE_CFG_CIDR6 (1 << 1) /* only redirect IPv6 destinations inside `cidr6` */

/* origin.flags */
#define SLUICE_ORIGIN_AMBIGUOUS (1 << 0)
#define SLUICE_ORIGIN_CONNECT6 (1 << 1) /* recorded by connect6 (the socket is AF_INET6) */

/* Deepest cgroup level the effective-mode walk reads; the agent refuses to set a mode on a
 * deeper cgroup, so no explicit setting is ever invisible to the programs. */
#define SLUICE_MAX_LEVELS 32

/* The single entry of the `config` array, written by the agent before it attaches. */
struct sluice_config {
	__u32 listener_mark;  /* SO_MARK the agent's listeners carry */
	__u16 proxy_port;     /* host byte order */
	__u16 flags;          /* SLUICE_CFG_* */
	__u32 nodelocal4;     /* network byte order; 0 = none */
	__u32 nodelocal6[4];  /* network byte order; all zero = none */
};

/* A TCP connection as the proxy sees it after accept(): IPv4 addresses are stored
 * v4-mapped (::ffff:a.b.c.d) so one key shape serves both families. Ports in host order. */
struct sluice_tuple {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u32 _pad;
};

/* What connect() meant and who called it. */
struct sluice_origin {
	__u32 daddr[4]; /* original destination, v4-mapped for IPv4, network byte order */
	__u16 dport;    /* original destination port, host byte order */
	__u8 mode;      /* effective sluice_mode that caused the redirect */
	__u8 flags;     /* SLUICE_ORIGIN_* */
	__u32 tgid;
	__u32 uid;
	__u32 _pad;
	__u64 cgroup_id;
	__u64 netns_cookie;
	__u64 time_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cookie;  /* socket cookie of the client socket */
};

/* Per client socket: its origin, and the tuple under which sockops published it. */
struct sluice_sock_state {
	struct sluice_origin origin;
	struct sluice_tuple tuple;
	__u32 has_tuple;
	__u32 _pad;
};

struct sluice_cidr4_key {
	__u32 prefixlen;
	__u32 addr;
};

struct sluice_cidr6_key {
	__u32 prefixlen;
	__u32 addr[4];
};
