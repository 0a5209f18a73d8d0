/**
 * @portolan/consul-test-server: a TEST DOUBLE of Consul's HTTP API. It is not Consul.
 *
 * It is a real HTTP server (node:http, on loopback, port 0 by default) built from Consul's HTTP API
 * documentation (developer.hashicorp.com/consul/api-docs: features/blocking, kv, txn, session,
 * agent/service, agent/check, health, catalog, query, status, api-structure; and docs/automate/session for
 * session TTLs and lock-delay), so the control plane's Consul adapter can be tested on machines
 * where no Consul binary can be installed. Where the documentation is silent it follows what
 * Consul's source does (error texts, check status kept on re-registration, 64-op transactions).
 * Every semantic is pinned by a spec that cites the documentation.
 *
 * The adapter's suite runs against this double by default and ALSO against a real Consul when
 * CONSUL_HTTP_ADDR is set; anything that passes here but fails there is a bug in the double.
 *
 * Scope: one node/agent, one datacenter, one raft index; KV (incl. acquire/release), /v1/txn (KV
 * operations only), sessions, agent services with TTL checks (and Consul's Meta limits), health,
 * catalog, prepared queries (create, list, read, update, delete; execute and explain by ID or
 * name), status, blocking queries, ACL tokens with key and prepared query rules, the per-client
 * connection limit (`maxConnsPerClient`, 429 past it). Known differences from Consul:
 * - a session expires right after its TTL (Consul's servers wait up to 2x TTL; the docs allow both);
 * - HTTP/TCP/script checks are accepted but never run: they keep their initial status;
 * - registrations reach the catalog at once (no anti-entropy delay); an Output-only check update
 *   is not a write (Consul defers those syncs too), only status changes move the index;
 * - indexes are exact per key/prefix/service, so blocked readers wake less often than on Consul;
 *   an index ahead of the resource answers at once (Consul would hold it);
 * - a connection past the per-client limit gets its 429 as the answer to its first request
 *   (Consul writes it as soon as it accepts the connection);
 * - ACLs model key and prepared query rules only (acl.ts): a known token may use every other
 *   endpoint (and every query, when given no query rules), a request
 *   without a token is refused everywhere (Consul would answer per endpoint for the anonymous
 *   token); status endpoints need none;
 * - a session LockDelay over 60s is refused (Consul's state store caps it at 60s instead);
 * - prepared queries: no templates (refused with a 500 that names the double); one
 *   node, so `Near` sorts nothing (results are shuffled, as Consul does without coordinates); no
 *   other datacenter or peer, so Failover never finds anything and Failovers is 0; no
 *   Connect-capable services, so a Connect query finds nothing; list and read do not block; the
 *   execute ACL filter (node:read, service:read) is not modelled.
 */
export { ConsulTestServer, type ConsulTestServerOptions, type RecordedRequest } from './server.js';
export type { AclOptions, AclTokenPolicy, KeyPolicy } from './acl.js';
