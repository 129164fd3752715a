/* ucx_init_bare.c — the floor under ferry's UCX start-up, for bench/startup.sh: only what every
 * UCX process pays before it can talk (ucp_config_read, ucp_init with AM + RMA + WAKEUP as ferry's
 * blocking mode asks, ucp_worker_create, ucp_worker_get_address), then exit. No bootstrap, no
 * endpoints. Launched N at once (by ferry-run, like ferry's ranks), its wall time is what 2 cores
 * need for N UCX initialisations. Exit 0 on success, 1 with the failing call named. */
#include <stdio.h>
#include <ucp/api/ucp.h>

static int fail(const char* what, ucs_status_t st) {
  fprintf(stderr, "ucx_init_bare: %s failed: %s\n", what, ucs_status_string(st));
  return 1;
}

int main(void) {
  ucp_config_t* config = NULL;
  ucs_status_t st = ucp_config_read(NULL, NULL, &config);
  if (st != UCS_OK) return fail("ucp_config_read", st);
  ucp_params_t params = {0};
  params.field_mask = UCP_PARAM_FIELD_FEATURES;
  params.features = UCP_FEATURE_AM | UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP;
  ucp_context_h context = NULL;
  st = ucp_init(&params, config, &context);
  ucp_config_release(config);
  if (st != UCS_OK) return fail("ucp_init", st);
  ucp_worker_params_t wp = {0};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  ucp_worker_h worker = NULL;
  st = ucp_worker_create(context, &wp, &worker);
  if (st != UCS_OK) return fail("ucp_worker_create", st);
  ucp_address_t* addr = NULL;
  size_t len = 0;
  st = ucp_worker_get_address(worker, &addr, &len);
  if (st != UCS_OK) return fail("ucp_worker_get_address", st);
  ucp_worker_release_address(worker, addr);
  ucp_worker_destroy(worker);
  ucp_cleanup(context);
  return 0;
}
