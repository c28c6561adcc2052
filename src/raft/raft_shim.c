/* raft_shim.c: the only file that includes raft.h. See raft_shim.h. */
#include "raft/raft_shim.h"

#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* The TCP transport wrapped so that every connection gets TCP_NODELAY: libraft's own
 * transport leaves Nagle on, and small AppendEntries/ack messages then wait for delayed
 * ACKs (~40 ms stalls at p90 under load). `outer` is what raft_uv sees (its .data is
 * raft_uv's); `inner` is raft's TCP transport doing the work. */
struct nodelay_transport {
  struct raft_uv_transport outer;
  struct raft_uv_transport inner;
  raft_uv_accept_cb accept_cb;
  raft_uv_transport_close_cb close_cb;
};

/* The external transport (see tr_raft_ext_transport): connections are made by the
 * application and handed in as connected sockets. `t` is what raft_uv sees. */
struct ext_pending {
  struct ext_pending *next;
  uint64_t token;
  struct raft_uv_connect *req;
};
struct ext_transport {
  struct raft_uv_transport t;
  struct uv_loop_s *loop;
  tr_raft_ext_transport ops;
  raft_uv_accept_cb accept_cb;
  raft_uv_transport_close_cb close_cb;
  struct ext_pending *pending;
  uint64_t next_token;
  int closed;
  uv_timer_t close_timer; /* defers close_cb out of close() */
};

struct tr_raft {
  struct raft raft;
  struct raft_io io;
  struct ext_transport ext;
  struct nodelay_transport tcp;
  struct raft_uv_transport *transport;
  struct raft_fsm fsm;
  tr_raft_fsm_ops ops;
  uint64_t snapshot_index; /* commit index at the last snapshot capture */
  void (*close_cb)(void *);
  void *close_arg;
};

/* ---- FSM trampolines ---------------------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
  tr_raft *r = fsm->data;
  /* libraft does not pass the index; the entry being applied is the next one. */
  uint64_t index = raft_last_applied(&r->raft) + 1;
  /* Results are never returned through libraft: for entries not submitted on this node it
   * drops (leaks) them. */
  *result = NULL;
  return r->ops.apply(r->ops.ctx, index, buf->base, buf->len);
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
  tr_raft *r = fsm->data;
  *bufs = NULL;
  *n_bufs = 0;
  r->snapshot_index = raft_commit_index(&r->raft);
  return r->ops.snapshot_capture(r->ops.ctx);
}

static int fsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
  tr_raft *r = fsm->data;
  const tr_raft_iovec *iov = NULL;
  unsigned n = 0, i;
  struct raft_buffer *arr;
  int rv = r->ops.snapshot_serialize(r->ops.ctx, &iov, &n);
  if (rv != 0) return rv;
  arr = raft_malloc((n > 0 ? n : 1) * sizeof *arr);
  if (arr == NULL) {
    r->ops.snapshot_finalize(r->ops.ctx);
    return RAFT_NOMEM;
  }
  /* libraft only reads the pieces (writev into the snapshot file), never frees them. */
  for (i = 0; i < n; i++) {
    arr[i].base = (void *)iov[i].base;
    arr[i].len = iov[i].len;
  }
  *bufs = arr;
  *n_bufs = n;
  return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
  tr_raft *r = fsm->data;
  r->ops.snapshot_finalize(r->ops.ctx);
  raft_free(*bufs);
  *bufs = NULL;
  *n_bufs = 0;
  return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
  tr_raft *r = fsm->data;
  int rv = r->ops.restore(r->ops.ctx, buf->base, buf->len);
  if (rv == 0) raft_free(buf->base); /* on success the buffer is ours */
  return rv;
}

/* ---- TCP_NODELAY wrapper around raft's TCP transport --------------------------------- */

static void set_nodelay(struct uv_stream_s *stream) {
  if (stream != NULL && stream->type == UV_TCP) uv_tcp_nodelay((uv_tcp_t *)stream, 1);
}

static int nd_init(struct raft_uv_transport *t, raft_id id, const char *address) {
  struct nodelay_transport *nd = (struct nodelay_transport *)t;
  return nd->inner.init(&nd->inner, id, address);
}

static void nd_accept(struct raft_uv_transport *inner, raft_id id, const char *address,
                      struct uv_stream_s *stream) {
  struct nodelay_transport *nd = inner->data;
  set_nodelay(stream);
  nd->accept_cb(&nd->outer, id, address, stream);
}

static int nd_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
  struct nodelay_transport *nd = (struct nodelay_transport *)t;
  nd->accept_cb = cb;
  return nd->inner.listen(&nd->inner, nd_accept);
}

struct nd_connect {
  struct raft_uv_connect req;
  struct raft_uv_connect *orig;
};

static void nd_connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status) {
  struct nd_connect *c = req->data;
  struct raft_uv_connect *orig = c->orig;
  free(c);
  if (status == 0) set_nodelay(stream);
  orig->cb(orig, stream, status);
}

static int nd_connect_fn(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                         const char *address, raft_uv_connect_cb cb) {
  struct nodelay_transport *nd = (struct nodelay_transport *)t;
  struct nd_connect *c = calloc(1, sizeof *c);
  int rv;
  if (c == NULL) return RAFT_NOMEM;
  req->cb = cb;
  c->orig = req;
  c->req.data = c;
  rv = nd->inner.connect(&nd->inner, &c->req, id, address, nd_connect_cb);
  if (rv != 0) free(c);
  return rv;
}

static void nd_close_cb(struct raft_uv_transport *inner) {
  struct nodelay_transport *nd = inner->data;
  if (nd->close_cb != NULL) nd->close_cb(&nd->outer);
}

static void nd_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
  struct nodelay_transport *nd = (struct nodelay_transport *)t;
  nd->close_cb = cb;
  nd->inner.close(&nd->inner, nd_close_cb);
}

/* ---- external transport (application-made connections) ---------------------------- */

static int ext_init(struct raft_uv_transport *t, raft_id id, const char *address) {
  (void)t;
  (void)id;
  (void)address;
  return 0;
}

static int ext_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
  struct ext_transport *e = (struct ext_transport *)t;
  e->accept_cb = cb;
  return 0;
}

static int ext_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                       const char *address, raft_uv_connect_cb cb) {
  struct ext_transport *e = (struct ext_transport *)t;
  struct ext_pending *p;
  if (e->closed) return RAFT_CANCELED;
  p = calloc(1, sizeof *p);
  if (p == NULL) return RAFT_NOMEM;
  req->cb = cb;
  p->req = req;
  p->token = ++e->next_token;
  p->next = e->pending;
  e->pending = p;
  e->ops.connect(e->ops.ctx, id, address, p->token);
  return 0;
}

static void ext_close_timer_closed(uv_handle_t *h) {
  struct ext_transport *e = h->data;
  if (e->close_cb != NULL) e->close_cb(&e->t);
}

static void ext_close_timer(uv_timer_t *h) { uv_close((uv_handle_t *)h, ext_close_timer_closed); }

static void ext_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
  struct ext_transport *e = (struct ext_transport *)t;
  e->closed = 1;
  e->accept_cb = NULL;
  e->close_cb = cb;
  while (e->pending != NULL) {
    struct ext_pending *p = e->pending;
    e->pending = p->next;
    p->req->cb(p->req, NULL, RAFT_CANCELED);
    free(p);
  }
  uv_timer_init(e->loop, &e->close_timer);
  e->close_timer.data = e;
  uv_timer_start(&e->close_timer, ext_close_timer, 0, 0);
}

static void ext_free_handle(uv_handle_t *h) { raft_free(h); }

/* A uv_pipe_t over fd, allocated with raft_malloc (raft frees it with raft_free). */
static struct uv_stream_s *ext_stream(struct ext_transport *e, int fd) {
  uv_pipe_t *p = raft_malloc(sizeof *p);
  if (p == NULL) return NULL;
  if (uv_pipe_init(e->loop, p, 0) != 0) {
    raft_free(p);
    return NULL;
  }
  if (uv_pipe_open(p, fd) != 0) {
    /* not opened: the handle owns nothing yet; close it and free in the callback */
    uv_close((uv_handle_t *)p, ext_free_handle);
    return NULL;
  }
  return (struct uv_stream_s *)p;
}

void tr_raft_ext_connected(tr_raft *r, uint64_t token, int fd) {
  struct ext_transport *e = &r->ext;
  struct ext_pending **pp = &e->pending, *p = NULL;
  struct uv_stream_s *stream = NULL;
  while (*pp != NULL) {
    if ((*pp)->token == token) {
      p = *pp;
      *pp = p->next;
      break;
    }
    pp = &(*pp)->next;
  }
  if (p == NULL) { /* canceled meanwhile */
    if (fd >= 0) close(fd);
    return;
  }
  if (fd >= 0) {
    stream = ext_stream(e, fd);
    if (stream == NULL) close(fd);
  }
  p->req->cb(p->req, stream, stream != NULL ? 0 : RAFT_NOCONNECTION);
  free(p);
}

void tr_raft_ext_accept(tr_raft *r, uint64_t id, const char *address, int fd) {
  struct ext_transport *e = &r->ext;
  struct uv_stream_s *stream;
  if (e->closed || e->accept_cb == NULL) {
    close(fd);
    return;
  }
  stream = ext_stream(e, fd);
  if (stream == NULL) {
    close(fd);
    return;
  }
  e->accept_cb(&e->t, id, address, stream);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void set_err(char *errmsg, size_t len, const char *what, int rc, const char *detail) {
  if (errmsg == NULL || len == 0) return;
  snprintf(errmsg, len, "%s: %s%s%s", what, raft_strerror(rc), detail && *detail ? ": " : "",
           detail ? detail : "");
}

tr_raft *tr_raft_create(struct uv_loop_s *loop, const tr_raft_config *cfg, int *rc, char *errmsg,
                        size_t errmsg_len) {
  tr_raft *r = calloc(1, sizeof *r);
  int rv;
  if (r == NULL) {
    *rc = RAFT_NOMEM;
    set_err(errmsg, errmsg_len, "allocate", RAFT_NOMEM, NULL);
    return NULL;
  }
  r->ops = cfg->fsm;
  if (cfg->ext != NULL) {
    r->ext.t.version = 1;
    r->ext.t.init = ext_init;
    r->ext.t.listen = ext_listen;
    r->ext.t.connect = ext_connect;
    r->ext.t.close = ext_close;
    r->ext.loop = loop;
    r->ext.ops = *cfg->ext;
    r->transport = &r->ext.t;
  } else {
    r->tcp.inner.version = 1; /* must be set before raft_uv_tcp_init */
    rv = raft_uv_tcp_init(&r->tcp.inner, loop);
    if (rv != 0) {
      *rc = rv;
      set_err(errmsg, errmsg_len, "transport", rv, r->tcp.inner.errmsg);
      free(r);
      return NULL;
    }
    r->tcp.inner.data = &r->tcp; /* the inner transport's .data is ours: raft_uv never sees it */
    r->tcp.outer.version = 1;
    r->tcp.outer.init = nd_init;
    r->tcp.outer.listen = nd_listen;
    r->tcp.outer.connect = nd_connect_fn;
    r->tcp.outer.close = nd_close;
    r->transport = &r->tcp.outer;
    if (cfg->bind_address != NULL && cfg->bind_address[0] != '\0') {
      rv = raft_uv_tcp_set_bind_address(&r->tcp.inner, cfg->bind_address);
      if (rv != 0) {
        *rc = rv;
        set_err(errmsg, errmsg_len, "bind address", rv, r->tcp.inner.errmsg);
        raft_uv_tcp_close(&r->tcp.inner);
        free(r);
        return NULL;
      }
    }
  }
  r->io.version = 2;
  rv = raft_uv_init(&r->io, loop, cfg->dir, r->transport);
  if (rv != 0) {
    *rc = rv;
    set_err(errmsg, errmsg_len, "raft io", rv, r->io.errmsg);
    if (r->transport == &r->tcp.outer) raft_uv_tcp_close(&r->tcp.inner);
    free(r);
    return NULL;
  }
  if (cfg->connect_retry_ms > 0) raft_uv_set_connect_retry_delay(&r->io, cfg->connect_retry_ms);

  r->fsm.version = 3;
  r->fsm.data = r;
  r->fsm.apply = fsm_apply;
  r->fsm.snapshot = fsm_snapshot;
  r->fsm.restore = fsm_restore;
  r->fsm.snapshot_finalize = fsm_snapshot_finalize;
  r->fsm.snapshot_async = fsm_snapshot_async;

  rv = raft_init(&r->raft, &r->io, &r->fsm, cfg->id, cfg->address);
  if (rv != 0) {
    *rc = rv;
    set_err(errmsg, errmsg_len, "raft init", rv, raft_errmsg(&r->raft));
    raft_uv_close(&r->io);
    if (r->transport == &r->tcp.outer) raft_uv_tcp_close(&r->tcp.inner);
    free(r);
    return NULL;
  }
  r->raft.data = r;
  if (cfg->election_timeout_ms > 0) raft_set_election_timeout(&r->raft, cfg->election_timeout_ms);
  if (cfg->heartbeat_timeout_ms > 0) raft_set_heartbeat_timeout(&r->raft, cfg->heartbeat_timeout_ms);
  if (cfg->install_snapshot_timeout_ms > 0)
    raft_set_install_snapshot_timeout(&r->raft, cfg->install_snapshot_timeout_ms);
  if (cfg->max_inflight_entries > 0) raft_set_max_inflight_entries(&r->raft, cfg->max_inflight_entries);
  if (cfg->snapshot_threshold > 0) raft_set_snapshot_threshold(&r->raft, cfg->snapshot_threshold);
  if (cfg->snapshot_trailing > 0) raft_set_snapshot_trailing(&r->raft, cfg->snapshot_trailing);
  if (cfg->capacity_threshold_kb >= 0)
    raft_set_capacity_threshold(&r->raft, (unsigned short)cfg->capacity_threshold_kb);
  raft_set_pre_vote(&r->raft, cfg->pre_vote != 0);
  *rc = 0;
  return r;
}

static int build_conf(struct raft_configuration *conf, const tr_raft_server *servers, unsigned n) {
  unsigned i;
  int rv;
  raft_configuration_init(conf);
  for (i = 0; i < n; i++) {
    rv = raft_configuration_add(conf, servers[i].id, servers[i].address, servers[i].role);
    if (rv != 0) {
      raft_configuration_close(conf);
      return rv;
    }
  }
  return 0;
}

int tr_raft_bootstrap(tr_raft *r, const tr_raft_server *servers, unsigned n) {
  struct raft_configuration conf;
  int rv = build_conf(&conf, servers, n);
  if (rv != 0) return rv;
  rv = raft_bootstrap(&r->raft, &conf);
  raft_configuration_close(&conf);
  return rv;
}

int tr_raft_recover(tr_raft *r, const tr_raft_server *servers, unsigned n) {
  struct raft_configuration conf;
  int rv = build_conf(&conf, servers, n);
  if (rv != 0) return rv;
  rv = raft_recover(&r->raft, &conf);
  raft_configuration_close(&conf);
  return rv;
}

int tr_raft_start(tr_raft *r) { return raft_start(&r->raft); }

static void close_cb(struct raft *raft) {
  tr_raft *r = raft->data;
  void (*cb)(void *) = r->close_cb;
  void *arg = r->close_arg;
  raft_uv_close(&r->io);
  if (r->transport == &r->tcp.outer) raft_uv_tcp_close(&r->tcp.inner);
  free(r);
  if (cb != NULL) cb(arg);
}

void tr_raft_close(tr_raft *r, void (*cb)(void *arg), void *arg) {
  r->close_cb = cb;
  r->close_arg = arg;
  raft_close(&r->raft, close_cb);
}

/* ---- requests ----------------------------------------------------------------------- */

struct apply_req {
  struct raft_apply req;
  tr_raft_done_cb cb;
  void *arg;
};
static void apply_cb(struct raft_apply *req, int status, void *result) {
  struct apply_req *w = req->data;
  (void)result;
  w->cb(w->arg, status, req->index);
  free(w);
}

int tr_raft_apply(tr_raft *r, void *buf, size_t len, tr_raft_done_cb cb, void *arg) {
  struct apply_req *w = calloc(1, sizeof *w);
  struct raft_buffer b;
  int rv;
  if (w == NULL) return RAFT_NOMEM;
  w->req.data = w;
  w->cb = cb;
  w->arg = arg;
  b.base = buf;
  b.len = len;
  rv = raft_apply(&r->raft, &w->req, &b, 1, apply_cb);
  if (rv != 0) {
    free(w);
    /* 0.22's legacy layer frees the entry buffer as soon as the submission got past the
     * leadership/capacity checks, even if a later step fails: only those early failures
     * leave the buffer with the caller. Otherwise report it as consumed. */
    if (rv != RAFT_NOTLEADER && rv != RAFT_NOSPACE) rv = -rv;
  }
  return rv;
}

struct barrier_req {
  struct raft_barrier req;
  tr_raft_done_cb cb;
  void *arg;
};
static void barrier_cb(struct raft_barrier *req, int status) {
  struct barrier_req *w = req->data;
  w->cb(w->arg, status, req->index);
  free(w);
}

int tr_raft_barrier(tr_raft *r, tr_raft_done_cb cb, void *arg) {
  struct barrier_req *w = calloc(1, sizeof *w);
  int rv;
  if (w == NULL) return RAFT_NOMEM;
  w->req.data = w;
  w->cb = cb;
  w->arg = arg;
  rv = raft_barrier(&r->raft, &w->req, barrier_cb);
  if (rv != 0) free(w);
  return rv;
}

struct change_req {
  struct raft_change req;
  tr_raft_done_cb cb;
  void *arg;
};
static void change_cb(struct raft_change *req, int status) {
  struct change_req *w = req->data;
  w->cb(w->arg, status, req->index);
  free(w);
}
static struct change_req *new_change(tr_raft_done_cb cb, void *arg) {
  struct change_req *w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  w->req.data = w;
  w->cb = cb;
  w->arg = arg;
  return w;
}

int tr_raft_add(tr_raft *r, uint64_t id, const char *address, tr_raft_done_cb cb, void *arg) {
  struct change_req *w = new_change(cb, arg);
  int rv;
  if (w == NULL) return RAFT_NOMEM;
  rv = raft_add(&r->raft, &w->req, id, address, change_cb);
  if (rv != 0) free(w);
  return rv;
}

int tr_raft_assign(tr_raft *r, uint64_t id, int role, tr_raft_done_cb cb, void *arg) {
  struct change_req *w = new_change(cb, arg);
  int rv;
  if (w == NULL) return RAFT_NOMEM;
  rv = raft_assign(&r->raft, &w->req, id, role, change_cb);
  if (rv != 0) free(w);
  return rv;
}

int tr_raft_remove(tr_raft *r, uint64_t id, tr_raft_done_cb cb, void *arg) {
  struct change_req *w = new_change(cb, arg);
  int rv;
  if (w == NULL) return RAFT_NOMEM;
  rv = raft_remove(&r->raft, &w->req, id, change_cb);
  if (rv != 0) free(w);
  return rv;
}

struct transfer_req {
  struct raft_transfer req;
  tr_raft_done_cb cb;
  void *arg;
};
static void transfer_cb(struct raft_transfer *req) {
  struct transfer_req *w = req->data;
  w->cb(w->arg, 0, 0);
  free(w);
}

int tr_raft_transfer(tr_raft *r, uint64_t id, tr_raft_done_cb cb, void *arg) {
  struct transfer_req *w = calloc(1, sizeof *w);
  int rv;
  if (w == NULL) return RAFT_NOMEM;
  w->req.data = w;
  w->cb = cb;
  w->arg = arg;
  rv = raft_transfer(&r->raft, &w->req, id, transfer_cb);
  if (rv != 0) free(w);
  return rv;
}

/* ---- inspection --------------------------------------------------------------------- */

void tr_raft_get_status(tr_raft *r, tr_raft_status *out) {
  raft_id leader = 0;
  const char *addr = NULL;
  memset(out, 0, sizeof *out);
  out->state = (int)raft_state(&r->raft);
  out->role = raft_role(&r->raft);
  out->term = raft_current_term(&r->raft);
  raft_leader(&r->raft, &leader, &addr);
  out->leader_id = leader;
  if (addr != NULL) snprintf(out->leader_address, sizeof out->leader_address, "%s", addr);
  out->commit_index = raft_commit_index(&r->raft);
  out->last_applied = raft_last_applied(&r->raft);
  out->last_index = raft_last_index(&r->raft);
  out->snapshot_index = r->snapshot_index;
  out->configuration_index = r->raft.configuration_committed_index;
}

int tr_raft_get_configuration(tr_raft *r, tr_raft_server **servers, unsigned *n) {
  const struct raft_configuration *c = &r->raft.configuration;
  unsigned i;
  tr_raft_server *arr;
  *servers = NULL;
  *n = 0;
  if (c->n == 0) return 0;
  arr = calloc(c->n, sizeof *arr);
  if (arr == NULL) return RAFT_NOMEM;
  for (i = 0; i < c->n; i++) {
    arr[i].id = c->servers[i].id;
    arr[i].role = c->servers[i].role;
    arr[i].address = strdup(c->servers[i].address ? c->servers[i].address : "");
    if (arr[i].address == NULL) {
      tr_raft_free_servers(arr, i);
      return RAFT_NOMEM;
    }
  }
  *servers = arr;
  *n = c->n;
  return 0;
}

void tr_raft_free_servers(tr_raft_server *servers, unsigned n) {
  unsigned i;
  if (servers == NULL) return;
  for (i = 0; i < n; i++) free(servers[i].address);
  free(servers);
}

uint64_t tr_raft_match_index(tr_raft *r, uint64_t id) {
  raft_index idx = 0;
  if (raft_match_index(&r->raft, id, &idx) != 0) return 0;
  return idx;
}

const char *tr_raft_errmsg(tr_raft *r) { return raft_errmsg(&r->raft); }
const char *tr_raft_strerror(int rc) { return raft_strerror(rc); }
void *tr_raft_malloc(size_t n) { return raft_malloc(n); }
void *tr_raft_realloc(void *p, size_t n) { return raft_realloc(p, n); }
void tr_raft_free(void *p) { raft_free(p); }
