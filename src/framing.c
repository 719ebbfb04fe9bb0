#include "config.h"

#include <stdint.h>

#include "framing.h"
#include "log.h"

void
framing_init(struct framing *fr, const struct options *opts)
{
	if (opts->prefix_len == 0)
		fr->kind = FRAME_RAW;
	else if (opts->framing == FRAMING_CHUNK)
		fr->kind = FRAME_CHUNK;
	else
		fr->kind = FRAME_LINE;
	fr->prefix = opts->prefix;
	fr->prefix_len = opts->prefix_len;
	fr->max_line = opts->max_line;
}

/* Moves the first len bytes of in to out behind the prefix. */
static size_t
framing_emit(const struct framing *fr, struct evbuffer *in,
    struct evbuffer *out, size_t len)
{
	if (evbuffer_add(out, fr->prefix, fr->prefix_len) == -1 ||
	    evbuffer_remove_buffer(in, out, len) != (int)len)
		fatalx("out of memory while echoing");
	return fr->prefix_len + len;
}

/*
 * Length of the next piece to echo: a whole line including its LF, or
 * max_line bytes of a longer one; 0 while a short line is incomplete.
 */
static size_t
framing_next_line(const struct framing *fr, struct evbuffer *in)
{
	struct evbuffer_ptr	 eol;
	size_t			 avail = evbuffer_get_length(in);
	size_t			 eol_len;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos >= 0 && (size_t)eol.pos < fr->max_line)
		return (size_t)eol.pos + 1;
	return avail >= fr->max_line ? fr->max_line : 0;
}

/*
 * Echoes what is complete in `in` to `out` while `out` holds less than
 * out_limit bytes; what is left stays in `in` for later.  Returns the
 * number of bytes added to out.
 */
size_t
framing_echo(const struct framing *fr, struct evbuffer *in,
    struct evbuffer *out, size_t out_limit)
{
	size_t	 added = 0, len;

	if (evbuffer_get_length(in) == 0)
		return 0;
	switch (fr->kind) {
	case FRAME_RAW:
		/* Moves the chains: no copy. */
		len = evbuffer_get_length(in);
		if (evbuffer_add_buffer(out, in) == -1)
			fatalx("out of memory while echoing");
		return len;
	case FRAME_CHUNK:
		return framing_emit(fr, in, out, evbuffer_get_length(in));
	case FRAME_LINE:
		while (evbuffer_get_length(out) < out_limit &&
		    (len = framing_next_line(fr, in)) != 0)
			added += framing_emit(fr, in, out, len);
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

	added = framing_echo(fr, in, out, SIZE_MAX);
	if ((rest = evbuffer_get_length(in)) != 0)
		added += framing_emit(fr, in, out, rest);
	return added;
}
