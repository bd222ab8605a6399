/*
 * sendfile(2) from a file to a Node socket, without blocking Node.
 *
 * One background thread per process (started on first use) owns every transfer. It loops
 * sendfile() on its own dup of the socket; when the socket buffer is full (EAGAIN) it waits for
 * EPOLLOUT on its own epoll instance, so a slow or stalled client costs a registration, never a
 * thread of libuv's pool or the event loop. JS talks to the thread through a command queue and an
 * eventfd; the thread answers each transfer once, through that transfer's threadsafe function.
 *
 * start(socketFd, fileFd, offset, length, callback) -> handle
 *   Sends `length` bytes of the file from `offset`. Both fds are duplicated (F_DUPFD_CLOEXEC), so
 *   Node closing its own fds can never make the thread write into a reused fd number; the dups
 *   share the socket's file description, which libuv keeps non-blocking. callback(code, sent) runs
 *   once on the JS thread: code is null when every byte was sent, "ECANCELED" after cancel(),
 *   "ERR_SHORT_FILE" when the file ended before `length` bytes, or the errno name of the failure
 *   (EPIPE, ECONNRESET, ...). The dups are closed before the callback runs.
 * cancel(handle)
 *   Ends the transfer with ECANCELED unless it already ended; harmless to call again.
 * sent(handle) -> number
 *   The bytes handed to the socket so far: JS watches it to end a transfer that stopped moving.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <unistd.h>

#include <node_api.h>

/*
 * What one transfer may send before the others that are ready get their turn: a fast client on
 * loopback would otherwise keep the thread for a whole 1 GiB call. A call per 8 MiB costs nothing
 * measurable.
 */
#define TURN_BYTES ((int64_t)8 << 20)

enum state { QUEUED, READY, WAITING, DONE };

typedef struct transfer {
  int sock; /* our dup of the socket */
  int file; /* our dup of the file */
  off_t offset;
  int64_t remaining;
  int64_t sent; /* written by the worker, read by sent() on the JS thread: atomic */
  napi_threadsafe_function done;
  /* The JS handle, the worker thread, the delivery of the outcome and a queued cancel hold one. */
  int refs;
  int cancelled;
  const char *code; /* the outcome, set once by the worker before delivery */
  char code_buf[24];
  /* Worker thread only. */
  enum state state;
  int armed;    /* registered with the worker's epoll instance */
  int in_ready; /* linked in the ready queue */
  struct transfer *next_ready;
} transfer;

enum command_kind { ADD, CANCEL };

typedef struct command {
  enum command_kind kind;
  transfer *t;
  struct command *next;
} command;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int start_error; /* why the worker could not start; 0 when it runs */
static int epfd = -1;
static int wakefd = -1;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static command *queue_head, *queue_tail;

/* Transfers that may send now, in turn (worker thread only). */
static transfer *ready_head, *ready_tail;

static void release(transfer *t) {
  if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0) free(t);
}

/* "EPIPE" for EPIPE; `buf` holds the answer when the C library cannot name the number. */
static const char *errno_name(int e, char *buf, size_t size) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(e);
  if (name != NULL) return name;
#endif
  snprintf(buf, size, "errno %d", e);
  return buf;
}

/* On the JS thread: callback(code, sent). Also runs with env NULL when Node tears down. */
static void deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  transfer *t = data;
  if (env != NULL && callback != NULL) {
    napi_value argv[2], undefined;
    if (t->code == NULL) {
      napi_get_null(env, &argv[0]);
    } else {
      napi_create_string_utf8(env, t->code, NAPI_AUTO_LENGTH, &argv[0]);
    }
    napi_create_int64(env, t->sent, &argv[1]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 2, argv, NULL);
  }
  release(t);
}

static void push_ready(transfer *t) {
  t->state = READY;
  t->in_ready = 1;
  t->next_ready = NULL;
  if (ready_tail != NULL) {
    ready_tail->next_ready = t;
  } else {
    ready_head = t;
  }
  ready_tail = t;
}

/* Ends a transfer: closes the dups, then hands the outcome to JS. */
static void finish(transfer *t, const char *code) {
  if (t->armed) epoll_ctl(epfd, EPOLL_CTL_DEL, t->sock, NULL);
  t->armed = 0;
  close(t->sock);
  close(t->file);
  t->code = code;
  t->state = DONE;
  if (napi_call_threadsafe_function(t->done, t, napi_tsfn_blocking) == napi_ok) {
    napi_release_threadsafe_function(t->done, napi_tsfn_release);
  } else {
    /* napi_closing: Node is tearing the environment down and counts us out; no more calls. */
    release(t);
  }
  /* A transfer still linked in the ready queue is dropped (and released) when its turn comes. */
  if (!t->in_ready) release(t);
}

/*
 * Waits for room in the socket buffer. The registration is keyed by our dup: closing Node's fd
 * does not remove it, and closing the dup does not either while Node's fd shares the file
 * description, so finish() removes it explicitly.
 */
static void wait_writable(transfer *t) {
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = t};
  if (epoll_ctl(epfd, t->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, t->sock, &ev) != 0) {
    finish(t, errno_name(errno, t->code_buf, sizeof t->code_buf));
    return;
  }
  t->armed = 1;
  t->state = WAITING;
}

/* Sends until the socket is full, the turn is used up, or the transfer ends. */
static void pump(transfer *t) {
  int64_t budget = TURN_BYTES;
  while (t->remaining > 0) {
    if (__atomic_load_n(&t->cancelled, __ATOMIC_ACQUIRE)) {
      finish(t, "ECANCELED");
      return;
    }
    if (budget <= 0) {
      push_ready(t);
      return;
    }
    size_t count = (size_t)(t->remaining < budget ? t->remaining : budget);
    ssize_t n = sendfile(t->sock, t->file, &t->offset, count);
    if (n > 0) {
      t->remaining -= n;
      __atomic_add_fetch(&t->sent, n, __ATOMIC_RELAXED);
      budget -= n;
    } else if (n == 0) {
      finish(t, "ERR_SHORT_FILE");
      return;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_writable(t);
      return;
    } else if (errno != EINTR) {
      finish(t, errno_name(errno, t->code_buf, sizeof t->code_buf));
      return;
    }
  }
  finish(t, NULL);
}

static void run_commands(void) {
  uint64_t count;
  ssize_t ignored = read(wakefd, &count, sizeof count); /* resets the eventfd */
  (void)ignored;
  pthread_mutex_lock(&queue_lock);
  command *c = queue_head;
  queue_head = queue_tail = NULL;
  pthread_mutex_unlock(&queue_lock);
  while (c != NULL) {
    command *next = c->next;
    transfer *t = c->t;
    if (c->kind == ADD) {
      if (__atomic_load_n(&t->cancelled, __ATOMIC_ACQUIRE)) {
        finish(t, "ECANCELED");
      } else {
        push_ready(t);
      }
    } else {
      if (t->state != DONE) finish(t, "ECANCELED");
      release(t); /* the command's reference */
    }
    free(c);
    c = next;
  }
}

static void run_ready(void) {
  transfer *t = ready_head;
  ready_head = ready_tail = NULL;
  while (t != NULL) {
    transfer *next = t->next_ready;
    t->next_ready = NULL;
    t->in_ready = 0;
    if (t->state == DONE) {
      release(t);
    } else {
      pump(t);
    }
    t = next;
  }
}

static void *worker(void *unused) {
  (void)unused;
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epfd, events, 64, ready_head != NULL ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      abort(); /* only EBADF, EFAULT or EINVAL: a bug here */
    }
    int wake = 0;
    /* Events first: a command below may end a transfer an event in this batch names. */
    for (int i = 0; i < n; i++) {
      transfer *t = events[i].data.ptr;
      if (t == NULL) {
        wake = 1;
      } else if (t->state == WAITING) {
        push_ready(t);
      }
    }
    if (wake) run_commands();
    run_ready();
  }
  return NULL;
}

static void start_worker(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    start_error = errno;
    return;
  }
  wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakefd < 0) {
    start_error = errno;
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) != 0) {
    start_error = errno;
    return;
  }
  /* Signals stay with Node's threads; the worker inherits a mask that blocks them all. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  start_error = pthread_create(&thread, &attr, worker, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int enqueue(enum command_kind kind, transfer *t) {
  command *c = malloc(sizeof *c);
  if (c == NULL) return ENOMEM;
  c->kind = kind;
  c->t = t;
  c->next = NULL;
  pthread_mutex_lock(&queue_lock);
  if (queue_tail != NULL) {
    queue_tail->next = c;
  } else {
    queue_head = c;
  }
  queue_tail = c;
  pthread_mutex_unlock(&queue_lock);
  uint64_t one = 1;
  while (write(wakefd, &one, sizeof one) < 0 && errno == EINTR) {
  }
  return 0;
}

static napi_value throw_errno(napi_env env, int e, const char *what) {
  char message[128];
  snprintf(message, sizeof message, "%s: %s", what, strerror(e));
  char buf[24];
  napi_throw_error(env, errno_name(e, buf, sizeof buf), message);
  return NULL;
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t sock_fd, file_fd;
  int64_t offset, length;
  napi_valuetype callback_type = napi_undefined;
  if (argc < 5 || napi_get_value_int32(env, argv[0], &sock_fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &file_fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[3], &length) != napi_ok ||
      napi_typeof(env, argv[4], &callback_type) != napi_ok || callback_type != napi_function ||
      sock_fd < 0 || file_fd < 0 || offset < 0 || length < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "start(socketFd, fileFd, offset, length, callback): fds, offset and "
                          "length must be non-negative numbers, callback a function");
    return NULL;
  }

  pthread_once(&once, start_worker);
  if (start_error != 0) return throw_errno(env, start_error, "sendfile worker did not start");

  transfer *t = calloc(1, sizeof *t);
  if (t == NULL) return throw_errno(env, ENOMEM, "sendfile start");
  t->sock = fcntl(sock_fd, F_DUPFD_CLOEXEC, 0);
  if (t->sock < 0) {
    int e = errno;
    free(t);
    return throw_errno(env, e, "dup of the socket");
  }
  t->file = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
  if (t->file < 0) {
    int e = errno;
    close(t->sock);
    free(t);
    return throw_errno(env, e, "dup of the file");
  }
  t->offset = (off_t)offset;
  t->remaining = length;
  t->refs = 3;
  t->state = QUEUED;

  napi_value name, handle;
  napi_create_string_utf8(env, "imgsrv.sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[4], NULL, name, 0, 1, NULL, NULL, NULL, deliver,
                                      &t->done) != napi_ok) {
    close(t->sock);
    close(t->file);
    free(t);
    return NULL; /* napi left an exception pending */
  }
  if (napi_create_external(env, t, finalize_handle, NULL, &handle) != napi_ok) {
    napi_release_threadsafe_function(t->done, napi_tsfn_abort);
    close(t->sock);
    close(t->file);
    free(t);
    return NULL;
  }
  int e = enqueue(ADD, t);
  if (e != 0) {
    napi_release_threadsafe_function(t->done, napi_tsfn_abort);
    close(t->sock);
    close(t->file);
    release(t); /* the worker's */
    release(t); /* the delivery's; the handle's goes with the handle */
    return throw_errno(env, e, "sendfile start");
  }
  return handle;
}

/* The transfer of a handle from start(), the call's one argument; NULL (thrown) otherwise. */
static transfer *handle_arg(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  napi_valuetype type = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return NULL;
  }
  return data;
}

static napi_value cancel(napi_env env, napi_callback_info info) {
  transfer *t = handle_arg(env, info, "cancel(handle): a handle from start()");
  if (t == NULL) return NULL;
  if (__atomic_exchange_n(&t->cancelled, 1, __ATOMIC_ACQ_REL)) return NULL;
  __atomic_add_fetch(&t->refs, 1, __ATOMIC_ACQ_REL);
  /* Without the command, a transfer waiting for EPOLLOUT would only notice at its next wake-up. */
  if (enqueue(CANCEL, t) != 0) release(t);
  return NULL;
}

static napi_value sent(napi_env env, napi_callback_info info) {
  transfer *t = handle_arg(env, info, "sent(handle): a handle from start()");
  if (t == NULL) return NULL;
  napi_value result;
  if (napi_create_int64(env, __atomic_load_n(&t->sent, __ATOMIC_RELAXED), &result) != napi_ok)
    return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, cancel, NULL, NULL, NULL, napi_default, NULL},
      {"sent", NULL, sent, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, 3, properties) != napi_ok) return NULL;
  return exports;
}
