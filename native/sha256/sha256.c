/*
 * SHA-256 with a state that can be read and written, on the OpenSSL inside Node itself (Node's
 * binary exports its symbols and ships its headers): the same code node:crypto runs, which uses
 * the CPU's SHA instructions where there are any. node:crypto's Hash cannot hand out its state,
 * and an upload's running hash must outlive the process that received a part.
 *
 * The state is OpenSSL's SHA256_CTX in a Buffer that JS owns; JS reads and writes its fields at
 * the offsets layout() gives (src/cas/sha256-state.ts converts it to and from the saved form).
 *
 * layout() -> { size, h, Nl, Nh, data, num, md_len }   byte offsets in SHA256_CTX
 * init() -> Buffer                                    a fresh state
 * update(state, bytes)                                hashes a Uint8Array into the state
 * updateAsync(state, bytes) -> Promise<void>          the same on a thread of libuv's pool;
 *                                                     bytes may be an array of Uint8Arrays
 * digest(state) -> Buffer                             the 32-byte digest; the state is unchanged
 *
 * update and digest are synchronous: a caller on the event loop runs them on a thread of its own
 * (a worker thread). updateAsync holds references to the state and the bytes (or their array)
 * until it settles and reads the bytes in place, without a copy; its caller must not touch the
 * state (nor change the bytes or the array) before the promise settles, so one state has at most
 * one update in flight.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <openssl/sha.h>

#define CHECK(env, call)                                                                         \
  do {                                                                                           \
    if ((call) != napi_ok) {                                                                     \
      napi_throw_error((env), NULL, "sha256: " #call " failed");                                \
      return NULL;                                                                               \
    }                                                                                            \
  } while (0)

static SHA256_CTX *state_arg(napi_env env, napi_value value) {
  void *data;
  size_t length;
  bool is_buffer;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, value, &data, &length) != napi_ok ||
      length != sizeof(SHA256_CTX)) {
    napi_throw_type_error(env, NULL, "sha256: the state must be a Buffer from init()");
    return NULL;
  }
  return (SHA256_CTX *)data;
}

static napi_value set_offset(napi_env env, napi_value object, const char *name, size_t value) {
  napi_value number;
  CHECK(env, napi_create_uint32(env, (uint32_t)value, &number));
  CHECK(env, napi_set_named_property(env, object, name, number));
  return object;
}

static napi_value layout(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value object;
  CHECK(env, napi_create_object(env, &object));
  if (!set_offset(env, object, "size", sizeof(SHA256_CTX)) ||
      !set_offset(env, object, "h", offsetof(SHA256_CTX, h)) ||
      !set_offset(env, object, "Nl", offsetof(SHA256_CTX, Nl)) ||
      !set_offset(env, object, "Nh", offsetof(SHA256_CTX, Nh)) ||
      !set_offset(env, object, "data", offsetof(SHA256_CTX, data)) ||
      !set_offset(env, object, "num", offsetof(SHA256_CTX, num)) ||
      !set_offset(env, object, "md_len", offsetof(SHA256_CTX, md_len)))
    return NULL;
  return object;
}

static napi_value init(napi_env env, napi_callback_info info) {
  (void)info;
  void *data;
  napi_value buffer;
  CHECK(env, napi_create_buffer(env, sizeof(SHA256_CTX), &data, &buffer));
  memset(data, 0, sizeof(SHA256_CTX));
  if (SHA256_Init((SHA256_CTX *)data) != 1) {
    napi_throw_error(env, NULL, "sha256: SHA256_Init failed");
    return NULL;
  }
  return buffer;
}

/* A run of bytes to hash. */
typedef struct {
  const unsigned char *bytes;
  size_t length;
} span;

/* The bytes of a Uint8Array, or false (with a TypeError thrown) for anything else. */
static bool uint8_span(napi_env env, napi_value value, span *out) {
  bool is_typedarray;
  napi_typedarray_type type;
  void *bytes;
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_typedarray_info(env, value, &type, &out->length, &bytes, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "sha256: bytes must be a Uint8Array");
    return false;
  }
  out->bytes = bytes;
  return true;
}

static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "sha256: update(state, bytes)");
    return NULL;
  }
  SHA256_CTX *ctx = state_arg(env, argv[0]);
  span bytes;
  if (!ctx || !uint8_span(env, argv[1], &bytes)) return NULL;
  if (bytes.length > 0 && SHA256_Update(ctx, bytes.bytes, bytes.length) != 1) {
    napi_throw_error(env, NULL, "sha256: SHA256_Update failed");
    return NULL;
  }
  return NULL;
}

/* One updateAsync call: what the pool thread hashes, and what keeps its buffers alive meanwhile. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref state_ref;
  napi_ref bytes_ref; /* the Uint8Array, or the array holding them */
  SHA256_CTX *ctx;
  size_t count;
  int ok;
  span spans[];
} update_job;

static void update_execute(napi_env env, void *data) {
  (void)env;
  update_job *job = data;
  job->ok = 1;
  for (size_t i = 0; i < job->count && job->ok; i++)
    if (job->spans[i].length > 0)
      job->ok = SHA256_Update(job->ctx, job->spans[i].bytes, job->spans[i].length) == 1;
}

static void update_complete(napi_env env, napi_status status, void *data) {
  update_job *job = data;
  napi_delete_reference(env, job->state_ref);
  napi_delete_reference(env, job->bytes_ref);
  napi_delete_async_work(env, job->work);
  napi_value outcome;
  if (status == napi_ok && job->ok) {
    napi_get_undefined(env, &outcome);
    napi_resolve_deferred(env, job->deferred, outcome);
  } else {
    napi_value message;
    napi_create_string_utf8(env, "sha256: SHA256_Update failed", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &outcome);
    napi_reject_deferred(env, job->deferred, outcome);
  }
  free(job);
}

static napi_value update_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "sha256: updateAsync(state, bytes)");
    return NULL;
  }
  SHA256_CTX *ctx = state_arg(env, argv[0]);
  if (!ctx) return NULL;
  bool is_array;
  CHECK(env, napi_is_array(env, argv[1], &is_array));
  uint32_t count = 1;
  if (is_array) CHECK(env, napi_get_array_length(env, argv[1], &count));
  update_job *job = calloc(1, sizeof(update_job) + (size_t)count * sizeof(span));
  if (!job) {
    napi_throw_error(env, NULL, "sha256: out of memory");
    return NULL;
  }
  job->ctx = ctx;
  job->count = count;
  for (uint32_t i = 0; i < count; i++) {
    napi_value element = argv[1];
    if (is_array && napi_get_element(env, argv[1], i, &element) != napi_ok) element = NULL;
    if (!element || !uint8_span(env, element, &job->spans[i])) {
      if (!element) napi_throw_type_error(env, NULL, "sha256: unreadable array element");
      free(job);
      return NULL;
    }
  }
  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "sha256: napi_create_promise failed");
    return NULL;
  }
  /* From here the promise exists: failures reject it rather than throw. */
  if (napi_create_reference(env, argv[0], 1, &job->state_ref) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &job->bytes_ref) != napi_ok ||
      napi_create_string_utf8(env, "sha256.update", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, update_execute, update_complete, job, &job->work) !=
          napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->work) napi_delete_async_work(env, job->work);
    if (job->state_ref) napi_delete_reference(env, job->state_ref);
    if (job->bytes_ref) napi_delete_reference(env, job->bytes_ref);
    napi_value message, error;
    napi_create_string_utf8(env, "sha256: could not queue the update", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->deferred, error);
    free(job);
  }
  return promise;
}

static napi_value digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "sha256: digest(state)");
    return NULL;
  }
  SHA256_CTX *ctx = state_arg(env, argv[0]);
  if (!ctx) return NULL;
  SHA256_CTX copy = *ctx;
  void *out;
  napi_value buffer;
  CHECK(env, napi_create_buffer(env, SHA256_DIGEST_LENGTH, &out, &buffer));
  if (SHA256_Final((unsigned char *)out, &copy) != 1) {
    napi_throw_error(env, NULL, "sha256: SHA256_Final failed");
    return NULL;
  }
  return buffer;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"layout", NULL, layout, NULL, NULL, NULL, napi_enumerable, NULL},
      {"init", NULL, init, NULL, NULL, NULL, napi_enumerable, NULL},
      {"update", NULL, update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"updateAsync", NULL, update_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"digest", NULL, digest, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods) !=
      napi_ok)
    return NULL;
  return exports;
}
