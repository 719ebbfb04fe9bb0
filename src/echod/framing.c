/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "framing.h"

void
framing_init(struct framing *fr, enum framing_kind kind, const char *prefix,
    size_t prefix_len, size_t max_line)
{
	/* Without a prefix, lines and chunks come back alike: as they came. */
	fr->kind = prefix_len == 0 ? FRAMING_RAW : kind;
	fr->prefix = prefix;
	fr->prefix_len = prefix_len;
	fr->max_line = max_line;
}

/*
 * The first len bytes of in to the end of out: moved in their chains, or
 * copied when short (FRAMING_MOVE_MIN).  -1 if out could not grow.
 */
static int
framing_move(struct evbuffer *in, struct evbuffer *out, size_t len)
{
	char	 buf[FRAMING_MOVE_MIN];

	if (len >= sizeof(buf)) {
		if (len == evbuffer_get_length(in))
			return evbuffer_add_buffer(out, in);
		return evbuffer_remove_buffer(in, out, len) == (int)len ? 0 : -1;
	}
	if (evbuffer_copyout(in, buf, len) != (ev_ssize_t)len ||
	    evbuffer_add(out, buf, len) == -1)
		return -1;
	return evbuffer_drain(in, len);
}

/* Moves the first len bytes of in to out behind the prefix. */
static size_t
framing_emit(const struct framing *fr, struct evbuffer *in,
    struct evbuffer *out, size_t len)
{
	if (evbuffer_add(out, fr->prefix, fr->prefix_len) == -1 ||
	    framing_move(in, out, len) == -1)
		return FRAMING_NOMEM;
	return fr->prefix_len + len;
}

/*
 * Length of the line starting at byte `off` of extent `e`: up to and
 * including its LF, or max_line bytes of a longer one; 0 while a short
 * line is incomplete in the extents given.  Its first `skip` bytes are
 * known to hold no LF, and are not searched again; *seen is set to how
 * many are known now, so that a line that grows a read at a time costs
 * a search of each byte once, not once a read.
 */
static size_t
framing_line_len(const struct framing *fr, const struct evbuffer_iovec *ext,
    int next, int e, size_t off, size_t skip, size_t *seen)
{
	size_t		 len = 0, want;
	const char	*start, *lf;

	for (; e < next && len < fr->max_line; e++, off = 0) {
		start = (const char *)ext[e].iov_base + off;
		want = ext[e].iov_len - off;
		if (want > fr->max_line - len)
			want = fr->max_line - len;
		if (skip < want &&
		    (lf = memchr(start + skip, '\n', want - skip)) != NULL)
			return len + (size_t)(lf - start) + 1;
		skip = skip < want ? 0 : skip - want;
		len += want;
	}
	*seen = len;
	return len == fr->max_line ? len : 0;
}

/*
 * Points iov at the next pieces to echo, without copying: the prefix,
 * then the piece's bytes where they lie in `in`, for each piece while
 * fewer than out_limit bytes are gathered and iovmax allows.  Sets
 * *niov and *in_used (the input bytes covered); returns the output
 * bytes gathered, 0 if nothing is complete, FRAMING_NOMEM if the input
 * could not be made contiguous enough to look at.  The caller drains in_used
 * bytes of `in` once iov has been used.
 *
 * `scanned`, if not NULL, is how many bytes at the start of `in` are
 * known to hold no LF (0 the first time): it is used, then set to what
 * is known of the incomplete line left once in_used bytes are drained.
 */
size_t
framing_gather(const struct framing *fr, struct evbuffer *in,
    size_t out_limit, struct iovec *iov, int iovmax, int *niov,
    size_t *in_used, size_t *scanned)
{
	struct evbuffer_iovec	 ext[FRAMING_EXTENTS];
	size_t			 total = evbuffer_get_length(in), gathered = 0;
	size_t			 off = 0, len, take, skip = 0, seen = 0;
	int			 next, e = 0, n = 0;

	*niov = 0;
	*in_used = 0;
	if (scanned != NULL) {
		skip = *scanned;
		*scanned = 0;
	}
	if (total == 0)
		return 0;
	/*
	 * Rarely the input is in more pieces than we look at; then make a
	 * piece's worth contiguous, so that a piece is always found whole.
	 */
	next = evbuffer_peek(in, (ev_ssize_t)total, NULL, ext, FRAMING_EXTENTS);
	if (next > FRAMING_EXTENTS && fr->kind != FRAMING_RAW) {
		if (evbuffer_pullup(in, fr->kind == FRAMING_LINE &&
		    total > fr->max_line ? (ev_ssize_t)fr->max_line : -1) ==
		    NULL)
			return FRAMING_NOMEM;	/* else a line is never whole */
		next = evbuffer_peek(in, (ev_ssize_t)total, NULL, ext,
		    FRAMING_EXTENTS);
	}
	if (next > FRAMING_EXTENTS)
		next = FRAMING_EXTENTS;

	while (e < next && gathered < out_limit) {
		if (fr->kind != FRAMING_LINE)
			len = SIZE_MAX;	/* all of it */
		else if ((len = framing_line_len(fr, ext, next, e, off, skip,
		    &seen)) == 0) {
			if (scanned != NULL)
				*scanned = seen;
			break;
		}
		skip = 0;
		if (iovmax - n < 1 + next - e)
			break;		/* perhaps not room for this one */
		if (fr->prefix_len != 0) {
			iov[n].iov_base = (void *)fr->prefix;
			iov[n++].iov_len = fr->prefix_len;
			gathered += fr->prefix_len;
		}
		while (len != 0 && e < next) {
			take = ext[e].iov_len - off;
			if (take > len)
				take = len;
			iov[n].iov_base = (char *)ext[e].iov_base + off;
			iov[n++].iov_len = take;
			gathered += take;
			*in_used += take;
			if (fr->kind == FRAMING_LINE)
				len -= take;
			if ((off += take) == ext[e].iov_len) {
				e++;
				off = 0;
			}
		}
	}
	*niov = n;
	return gathered;
}

/*
 * Echoes what is complete in `in` to `out` while `out` holds less than
 * out_limit bytes; what is left stays in `in` for later.  Returns the
 * number of bytes added to out.
 */
size_t
framing_echo(const struct framing *fr, struct evbuffer *in,
    struct evbuffer *out, size_t out_limit, size_t *scanned)
{
	struct iovec	 iov[FRAMING_IOV];
	size_t		 added = 0, len, used;
	int		 i, niov;

	if (evbuffer_get_length(in) == 0)
		return 0;
	switch (fr->kind) {
	case FRAMING_RAW:
		/* Moves the chains: no copy, unless short. */
		len = evbuffer_get_length(in);
		if (framing_move(in, out, len) == -1)
			return FRAMING_NOMEM;
		return len;
	case FRAMING_CHUNK:
		return framing_emit(fr, in, out, evbuffer_get_length(in));
	case FRAMING_LINE:
		while ((len = evbuffer_get_length(out)) < out_limit &&
		    (len = framing_gather(fr, in, out_limit - len, iov,
		    FRAMING_IOV, &niov, &used, scanned)) != 0) {
			if (len == FRAMING_NOMEM)
				return FRAMING_NOMEM;
			for (i = 0; i < niov; i++)
				if (evbuffer_add(out, iov[i].iov_base,
				    iov[i].iov_len) == -1)
					return FRAMING_NOMEM;
			evbuffer_drain(in, used);
			added += len;
		}
		break;
	}
	return added;
}

/* At end of input: everything, including a last unterminated line. */
size_t
framing_flush(const struct framing *fr, struct evbuffer *in,
    struct evbuffer *out)
{
	size_t	 added, rest;

	if ((added = framing_echo(fr, in, out, SIZE_MAX, NULL)) ==
	    FRAMING_NOMEM)
		return FRAMING_NOMEM;
	if ((rest = evbuffer_get_length(in)) != 0 &&
	    (rest = framing_emit(fr, in, out, rest)) == FRAMING_NOMEM)
		return FRAMING_NOMEM;
	return added + rest;
}
