// Replay-safe retries: a write carrying `_meta["fleet/idempotency-key"]` runs at most once per
// instance. The keys live in the instance's state (shared/state/store.ts KeyStore), so they hold
// across processes, replicas and restarts. A key whose first call died mid-flight stays "unknown"
// and is never run again: the upstream may or may not have acted, and only a person can tell.
