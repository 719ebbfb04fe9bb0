/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* What echoload's threads share while they run (load_thread.c). */
#ifndef ECHOD_LOAD_THREAD_H
#define ECHOD_LOAD_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "load.h"

struct event;
struct event_base;

void	 load_error(struct load_thread *, enum err_kind, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 load_count(uint64_t *, uint64_t);
uint64_t load_get(const uint64_t *);
bool	 load_ending(struct load_thread *, uint64_t);
bool	 load_sending_over(struct load_thread *, const struct load_pace *,
	    uint64_t);
void	 load_pace_done(struct load_thread *, struct load_pace *);
bool	 load_idle_ends(struct load_thread *, bool *, uint64_t);
uint64_t load_now(void);
struct event_base *load_event_base(const struct load_opts *);
void	 load_pace_init(struct load_pace *, struct load_thread *, uint32_t,
	    struct event *);
bool	 load_may_send(struct load_thread *, struct load_pace *, uint64_t,
	    uint64_t *);
void	 load_timer_in(struct event *, uint64_t);
int	 load_bind_source(const struct load_opts *, int, uint32_t);

#endif
