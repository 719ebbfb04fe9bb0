/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The last few UDP replies one thread sent each address and port, kept
 * so that one come back is found whatever another echo did to it: the
 * datagram is the reply, ends with it after our prefix, begins with it
 * (an echo that adds after it), holds it inside (one that adds before
 * and after), or, after our prefix, cuts it short (one that reads into
 * too small a buffer).  The loop rule's first memory: udprecent.h keeps
 * every reply by what it is, for the loops that outrun these few.
 * Pure: no clock of its own, no sockets.
 */
#ifndef ECHOD_UDPSENT_H
#define ECHOD_UDPSENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"
#include "udpguard.h"

/*
 * A datagram being judged, and its digest: made once, for the rules
 * and for the record of the reply.  Only the rules without a prefix
 * want it before the verdict; with one, only an answer's record does.
 */
struct udp_dgram {
	const uint8_t	*data;
	size_t		 len;
	uint64_t	 digest;	/* of all of it; with a prefix, 0 */
	uint64_t	 now;		/* ms, never 0 */
	const uint8_t	*after[2];	/* with a prefix, what follows it */
	size_t		 nafter;	/* inside: guard_prefixed() */
};

/* One reply sent: its payload's digest, and its ends. */
struct udp_reply {
	uint64_t	 digest;
	uint64_t	 ms;		/* when; 0: none */
	uint32_t	 len;		/* of the payload, after the prefix */
	uint16_t	 returns;	/* come back in a row */
	uint16_t	 at;		/* where the reply before was inside */
	uint8_t		 head_len;
	uint8_t		 head[UDP_RECENT_END];	/* its first bytes */
	uint8_t		 tail[UDP_RECENT_END];	/* and last, if as many */
};

/*
 * The reply a datagram continues, and where it was inside (0: not); the
 * slot of its sender, if echod answered it lately.
 */
struct udp_cont {
	struct udp_reply	*r;
	uint16_t		 at;
	struct udp_sent		*s;
};

/*
 * The replies last sent to one address and port, several: loops forged
 * side by side would otherwise each find the other's reply the last.
 */
struct udp_sent {
	uint64_t		 key[3];	/* address, family and port */
	uint64_t		 last_ms;	/* 0: free slot */
	uint64_t		 cut_ms;	/* last reply cut; 0: none */
	struct udp_reply	 r[UDP_RETURN_REPLIES];
	uint16_t		 wrap_at;	/* see udp_sent_wrap_places() */
	uint16_t		 probe;
};

struct udp_sent_table {
	struct siphash_key	 key;
	const uint8_t		*prefix;	/* before each reply */
	size_t			 prefix_len;
	uint16_t		 client_min, client_max;
	struct siphash_memo	 memo;		/* of the last address and port */
	uint16_t		 wrap_at;	/* the last, whoever sent it */
	uint16_t		 probe;		/* for senders without a slot */
	struct udp_sent		 sets[UDP_GUARD_SETS][UDP_GUARD_WAYS];
};

/* Zeroed by calloc(): pages a thread's replies never reach stay unmapped. */
struct udp_sent_table *udp_sent_new(const struct siphash_key *, const char *,
	    size_t);
void	udp_sent_free(struct udp_sent_table *);
/* The ports the kernel gives clients that do not choose theirs. */
void	udp_sent_client_ports(struct udp_sent_table *, uint16_t, uint16_t);
bool	udp_sent_server_port(const struct udp_sent_table *, uint16_t);
/* The reply to key (address, port) the datagram continues, if any. */
void	udp_sent_continued(struct udp_sent_table *, const uint64_t [3],
	    const struct udp_dgram *, struct udp_cont *);
/* The reply of len bytes (cut: fewer than the datagram) going to key. */
void	udp_sent_note(struct udp_sent_table *, const uint64_t [3],
	    const struct udp_dgram *, size_t, uint64_t, unsigned int,
	    const struct udp_cont *);
/*
 * Without a prefix, where to look for a reply of the thread's table
 * inside a datagram of len bytes from cont's sender: UDP_WRAP_PLACES at
 * most, how many returned.
 */
#define UDP_WRAP_PLACES	3
size_t	udp_sent_wrap_places(struct udp_sent_table *, struct udp_cont *,
	    size_t, size_t [UDP_WRAP_PLACES]);
/* One was there: an echo that wraps each reply the same way. */
void	udp_sent_wrap_found(struct udp_sent_table *, struct udp_cont *,
	    size_t);
/* Whether the last reply to key was cut too, within UDP_RETURN_MSEC. */
bool	udp_sent_cut_again(struct udp_sent_table *, const uint64_t [3],
	    uint64_t);

#endif
