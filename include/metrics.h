/*
 * The counters, for operators: Prometheus text at GET /metrics over
 * libevent's evhttp (--metrics), and the same in the log on SIGUSR1.
 */
#ifndef ECHOD_METRICS_H
#define ECHOD_METRICS_H

struct group;
struct server;

int	metrics_start(struct server *);
void	metrics_stop(struct server *);
void	metrics_log(struct group *);

#endif
