/* raft_shim: a narrow C API over c-raft 0.22 (libraft) and its libuv I/O.
 *
 * Why: raft.h 0.22 does not compile as C++, so every libraft call lives in raft_shim.c
 * (compiled as C) and C++ sees only opaque handles and plain structs.
 *
 * Threading: libraft is not thread-safe. Every function here except the tr_raft_*alloc
 * helpers and tr_raft_strerror must be called on the thread running the uv loop given to
 * tr_raft_create, and every callback (FSM and completion) is invoked on that thread.
 *
 * Transport: raft's own uv TCP transport (plain TCP, used by the unit tests), or an
 * external one (tr_raft_config.ext, the server's mutual-TLS cluster port): the shim asks the
 * application to connect (ext.connect, on the loop thread) and the application hands back a
 * connected socket (one end of a socketpair relayed over TLS) with tr_raft_ext_connected, or
 * an accepted one with tr_raft_ext_accept; the shim wraps it in a uv_pipe_t for raft.
 */
#ifndef TRESOR_RAFT_SHIM_H
#define TRESOR_RAFT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;
typedef struct tr_raft tr_raft;

/* Error codes are libraft's (RAFT_NOTLEADER etc.); mirrored here for C++. */
enum {
  TR_RAFT_OK = 0,
  TR_RAFT_NOMEM = 1,
  TR_RAFT_BADID = 2,
  TR_RAFT_DUPLICATEID = 3,
  TR_RAFT_DUPLICATEADDRESS = 4,
  TR_RAFT_BADROLE = 5,
  TR_RAFT_MALFORMED = 6,
  TR_RAFT_NOTLEADER = 7,
  TR_RAFT_LEADERSHIPLOST = 8,
  TR_RAFT_SHUTDOWN = 9,
  TR_RAFT_CANTBOOTSTRAP = 10,
  TR_RAFT_CANTCHANGE = 11,
  TR_RAFT_CORRUPT = 12,
  TR_RAFT_CANCELED = 13,
  TR_RAFT_NAMETOOLONG = 14,
  TR_RAFT_TOOBIG = 15,
  TR_RAFT_NOCONNECTION = 16,
  TR_RAFT_BUSY = 17,
  TR_RAFT_IOERR = 18,
  TR_RAFT_NOTFOUND = 19,
  TR_RAFT_INVALID = 20,
  TR_RAFT_UNAUTHORIZED = 21,
  TR_RAFT_NOSPACE = 22,
  TR_RAFT_TOOMANY = 23,
};

/* Roles (libraft's RAFT_STANDBY/VOTER/SPARE). A Vault "non-voter" is a standby. */
enum { TR_ROLE_STANDBY = 0, TR_ROLE_VOTER = 1, TR_ROLE_SPARE = 2 };
/* States (libraft's enum raft_state). */
enum { TR_STATE_UNAVAILABLE = 0, TR_STATE_FOLLOWER = 1, TR_STATE_CANDIDATE = 2, TR_STATE_LEADER = 3 };

/* One piece of a snapshot (same layout as libraft's struct raft_buffer). */
typedef struct tr_raft_iovec {
  const void *base;
  size_t len;
} tr_raft_iovec;

/* State machine callbacks, all on the loop thread.
 * apply: the committed entry with log index `index` (libraft does not pass it; the shim
 *   computes raft_last_applied + 1). Non-zero stops the state machine for good.
 * snapshot_capture: take a cheap point-in-time capture (must reflect every applied entry).
 * snapshot_serialize: describe the captured state as *n_iov pieces (*iov), in order. The
 *   pieces stay owned by the application and must stay valid until snapshot_finalize:
 *   libraft writes them to the snapshot file from its thread pool afterwards.
 * snapshot_finalize: release the capture and everything snapshot_serialize handed out.
 * restore: replace the whole state with `data` (the shim frees it afterwards). */
typedef struct tr_raft_fsm_ops {
  void *ctx;
  int (*apply)(void *ctx, uint64_t index, const void *data, size_t len);
  int (*snapshot_capture)(void *ctx);
  int (*snapshot_serialize)(void *ctx, const tr_raft_iovec **iov, unsigned *n_iov);
  void (*snapshot_finalize)(void *ctx);
  int (*restore)(void *ctx, const void *data, size_t len);
} tr_raft_fsm_ops;

/* External transport. connect: called on the loop thread; the application must later call
 * tr_raft_ext_connected(r, token, fd) on the loop thread exactly once (fd < 0 = failed). */
typedef struct tr_raft_ext_transport {
  void *ctx;
  void (*connect)(void *ctx, uint64_t id, const char *address, uint64_t token);
} tr_raft_ext_transport;

typedef struct tr_raft_config {
  uint64_t id;                 /* > 0 */
  const char *address;         /* advertised "host:port" */
  const char *bind_address;    /* optional "ip:port" to listen on (TCP transport), NULL = address */
  const char *dir;             /* existing directory for the log, metadata and snapshots */
  unsigned election_timeout_ms;
  unsigned heartbeat_timeout_ms;
  unsigned install_snapshot_timeout_ms; /* 0 = library default */
  unsigned connect_retry_ms;            /* 0 = library default (1000) */
  unsigned max_inflight_entries;        /* 0 = library default (32) */
  unsigned snapshot_threshold;          /* 0 = library default */
  unsigned snapshot_trailing;           /* 0 = library default */
  int capacity_threshold_kb;            /* <0 = library default, 0 = off, >0 = KiB */
  int pre_vote;                         /* boolean */
  const struct tr_raft_ext_transport *ext; /* NULL = raft's TCP transport */
  tr_raft_fsm_ops fsm;
} tr_raft_config;

typedef struct tr_raft_server {
  uint64_t id;
  char *address; /* owned by the array it is in */
  int role;
} tr_raft_server;

typedef struct tr_raft_status {
  int state;
  int role; /* -1 if not in the current configuration */
  uint64_t term;
  uint64_t leader_id; /* 0 if unknown */
  char leader_address[256];
  uint64_t commit_index;
  uint64_t last_applied;
  uint64_t last_index;
  uint64_t snapshot_index;
  uint64_t configuration_index; /* committed configuration's index */
} tr_raft_status;

/* Creates and initialises (raft_uv_init, transport, raft_init, settings) a node. On failure
 * returns NULL, *rc holds the code and errmsg (if non-NULL) a description. */
tr_raft *tr_raft_create(struct uv_loop_s *loop, const tr_raft_config *cfg, int *rc, char *errmsg,
                        size_t errmsg_len);
/* Bootstrap with the given configuration (n >= 1). Before start; pristine dir only. */
int tr_raft_bootstrap(tr_raft *r, const tr_raft_server *servers, unsigned n);
/* Force a configuration (disaster recovery). Before start. */
int tr_raft_recover(tr_raft *r, const tr_raft_server *servers, unsigned n);
int tr_raft_start(tr_raft *r);
/* Closes raft, the I/O and the transport; `cb(arg)` fires (on the loop) when the handle is
 * freed. Pending requests complete with TR_RAFT_SHUTDOWN/CANCELED first. */
void tr_raft_close(tr_raft *r, void (*cb)(void *arg), void *arg);

/* External transport completions (loop thread). Both take ownership of fd (closed if raft
 * no longer wants it: connect canceled, transport closed, not listening yet). */
void tr_raft_ext_connected(tr_raft *r, uint64_t token, int fd);
void tr_raft_ext_accept(tr_raft *r, uint64_t id, const char *address, int fd);

/* Completion callbacks. `index` is the entry's log index (0 if none). */
typedef void (*tr_raft_done_cb)(void *arg, int status, uint64_t index);

/* Appends one command entry. `buf` must come from tr_raft_malloc. Returns 0 (buffer now
 * libraft's; cb fires after the entry is committed and applied locally, or with an
 * error), a positive code (submission refused, buffer still the caller's), or a negated
 * code (failed after libraft took the buffer: do not free it, cb will not fire). */
int tr_raft_apply(tr_raft *r, void *buf, size_t len, tr_raft_done_cb cb, void *arg);
int tr_raft_barrier(tr_raft *r, tr_raft_done_cb cb, void *arg);
int tr_raft_add(tr_raft *r, uint64_t id, const char *address, tr_raft_done_cb cb, void *arg);
int tr_raft_assign(tr_raft *r, uint64_t id, int role, tr_raft_done_cb cb, void *arg);
int tr_raft_remove(tr_raft *r, uint64_t id, tr_raft_done_cb cb, void *arg);
/* id 0 = let libraft pick a voter. cb fires when the transfer ended or timed out: check
 * tr_raft_get_status afterwards (status is always 0). */
int tr_raft_transfer(tr_raft *r, uint64_t id, tr_raft_done_cb cb, void *arg);

void tr_raft_get_status(tr_raft *r, tr_raft_status *out);
/* Current configuration (possibly uncommitted). Free with tr_raft_free_servers. */
int tr_raft_get_configuration(tr_raft *r, tr_raft_server **servers, unsigned *n);
void tr_raft_free_servers(tr_raft_server *servers, unsigned n);
/* Replication progress of a follower (leader only); 0 if unknown. */
uint64_t tr_raft_match_index(tr_raft *r, uint64_t id);
const char *tr_raft_errmsg(tr_raft *r);

/* Thread-safe helpers. */
const char *tr_raft_strerror(int rc);
void *tr_raft_malloc(size_t n);
void *tr_raft_realloc(void *p, size_t n);
void tr_raft_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* TRESOR_RAFT_SHIM_H */
